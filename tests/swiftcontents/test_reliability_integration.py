"""The reliability campaign's bounded parts (``bench/reliability.py`` runs it in full).

- a small load (4 clients x 10 mixed operations) through a real jupyter_server on the
  session's s2aio: zero errors, zero lost or torn writes, zero storlet fallbacks;
- Swift answering 507 and 413 (a fault proxy between jupyter_server and Swift): clear
  errors naming them, the stored notebook untouched;
- the proxy killed and memcached stopped during saves, on an s2aio of this module's own
  (the faults disturb the whole cluster): clear 503s, nothing half-written, and saves
  work again after ``aio.start()``.
"""
from __future__ import annotations

import signal
import uuid

import pytest

from bench._jupyter import start_jupyter
from bench.reliability_faults import (fault_process, fault_swift_status, kill_group, kill_pid)
from bench.reliability_load import run_load, summarize, wipe_container
from tests import datadirs
from tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def jupyter(s2aio, deployed):
    container = f"rel-{uuid.uuid4().hex[:8]}"
    server = start_jupyter(s2aio.env("test"), container, storlets="auto")
    conn = s2aio.connection("test")
    yield server, conn
    server.stop()
    wipe_container(conn, container)
    conn.close()


def test_small_load_loses_nothing(jupyter):
    server, conn = jupyter
    result = summarize(run_load(server, conn, clients=4, ops=10), 4, 10)
    figures = result["figures"]
    assert figures["acked"] >= 8  # the clients really wrote
    assert result["failures"] == [], "\n".join(result["lines"] + result["failures"])
    assert figures["errors"] == figures["lost"] == figures["torn"] == figures["fallbacks"] == 0


def test_swift_507_and_413_are_clear_and_change_nothing(s2aio, deployed):
    conn = s2aio.connection("test")
    try:
        out = fault_swift_status(s2aio, conn, quick=True)
    finally:
        conn.close()
    assert out.injected
    assert out.failures == [], "\n".join(out.lines + out.failures)
    assert any("507" in line for line in out.lines) and any("413" in line for line in out.lines)


@pytest.fixture(scope="module")
def own_aio():
    """An s2aio of this module's own: its proxy and memcached get killed."""
    from deploy.api import deploy
    from s2aio import S2AIO

    aio = S2AIO(datadirs.new_data_dir("s2aio-f"), free_port())
    try:
        aio.start()
        conn = aio.connection("test")
        deploy(conn, warm=True)
        conn.close()
    except Exception as exc:  # fail (not skip) with the reason
        aio.reset()
        pytest.fail(f"s2aio could not start: {exc}", pytrace=False)
    yield aio
    aio.reset()


@pytest.fixture
def own_jupyter(own_aio):
    container = f"rel-{uuid.uuid4().hex[:8]}"
    server = start_jupyter(own_aio.env("test"), container, storlets="auto",
                           extra=("--SwiftContentsManager.retries=0",))
    conn = own_aio.connection("test")
    boot = server.client()
    boot.request("PUT", "/api/contents/faults", {"type": "directory"})
    boot.close()
    yield own_aio, server, conn
    server.stop()
    own_aio.start()  # healthy again whatever happened
    wipe_container(conn, container)
    conn.close()


@pytest.mark.parametrize("name, kill, sig", [("proxy", kill_group, signal.SIGKILL),
                                             ("memcached", kill_pid, signal.SIGTERM)])
def test_killed_service_gives_clear_503_and_recovers(own_jupyter, name, kill, sig):
    aio, server, conn = own_jupyter
    out = fault_process(aio, server, conn, name, kill(aio, name, sig), f"{name} down",
                        quick=True)
    assert out.injected
    assert out.failures == [], "\n".join(out.lines + out.failures)
    assert any(" x 503" in line for line in out.lines)  # the outage was seen, as 503s
