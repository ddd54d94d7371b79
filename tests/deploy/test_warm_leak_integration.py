"""No spinning server thread after a warm-up or after a storlet left a large input unread.

storlets' input writer (in the proxy or the object server, under eventlet) retries
EPIPE forever once a storlet closes an input it did not read: the server then burns
CPU for the rest of its life. Each test measures the proxy's and the object server's
CPU (utime + stime from /proc, the server and its workers) over a few seconds of
quiet after its calls: an idle server uses about 1% of a core, a spinning one
30-100%. (The object server hands a storlet its object's file itself, with no
writer; the proxy writes every input, PUT bodies and extra resources included.)

Beyond the storlets' draining (at most 64 MiB, their ceiling), s2aio's gateway writes
inputs with a writer that stops at a closed pipe (``s2aio.gateway.PipeWriter``):
tests/storlets_apps' 200 MB refused input leaves the servers idle too.
"""
from __future__ import annotations

import json

import pytest

from deploy.api import deploy, warm_storlets
from swiftproto import run_headers
from tests.conftest import FILES
from tests.idle import IDLE, assert_idle, busy
from tests.s2aio.conftest import put_storlet

pytestmark = pytest.mark.integration

BIG = 2 << 20  # 32 pipe buffers

@pytest.fixture(scope="module", autouse=True)
def idle_before(s2aio):
    """The session's servers are idle before these tests: a spin left by an earlier test
    (a storlet refusing an input larger than it drains) is named as such."""
    load = busy(s2aio)
    assert all(v < IDLE for v in load.values()), (
        f"before these tests, a server already used CPU (an earlier test left an engine "
        f"input writer spinning?): {load}")


def notebook(size: int) -> bytes:
    return json.dumps({"cells": [{"cell_type": "raw", "id": "pad", "metadata": {},
                                  "source": "x" * size}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def test_deploy_warm_leaves_the_servers_idle(s2aio, conn):
    report = deploy(conn, warm=True)
    assert sorted(report.warmed) == ["identity.py", "nbdiff.py", "nblisting.py",
                                     "nbvalidate.py"]
    assert_idle(s2aio, "deploy(warm=True)")


def test_warm_cannot_leak_even_with_a_storlet_that_never_reads(s2aio, conn):
    name = put_storlet(conn, FILES / "storlets" / "ignore_input.py", "ignore_input.IgnoreInput")
    # Four warm-ups of it at once (deploy warms several storlets at once): a busy proxy
    # is when the writer loses the race to the storlet closing its end.
    assert warm_storlets(conn, [name] * 4) == [name]
    assert_idle(s2aio, "warming a storlet that never reads its input")


def test_storlets_that_refuse_large_inputs_leave_the_servers_idle(s2aio, deployed, conn,
                                                                 container):
    """nbdiff answers bad_request (no checkpoint) or bad_parameter without needing its
    inputs: as a PUT on the proxy, a GET on the object server, and a GET on the proxy
    with an extra resource; nbvalidate refuses an input over the caller's max_bytes.
    Each input is 2 MiB."""
    conn.put_object(container, "a.ipynb", notebook(BIG))
    conn.put_object(container, "b.ipynb", notebook(BIG))

    headers = {}
    conn.put_object(container, "put.ipynb", notebook(BIG), headers=run_headers("nbdiff.py"),
                    response_dict=headers)
    assert headers["status"] == 201
    _, body = conn.get_object(container, "put.ipynb")
    assert json.loads(body)["error"] == "bad_request"

    on_object = run_headers("nbdiff.py")
    _, body = conn.get_object(container, "a.ipynb", headers=on_object)
    assert json.loads(body)["error"] == "bad_request"

    on_proxy = run_headers("nbdiff.py", {"format": "pdf"}, extra=[(container, "b.ipynb")],
                           on_proxy=True)
    _, body = conn.get_object(container, "a.ipynb", headers=on_proxy)
    assert json.loads(body)["error"] == "bad_parameter"

    # A caller's lower max_bytes makes the storlet stop reading early, not leave the rest.
    small_budget = run_headers("nbvalidate.py", {"max_bytes": 1000}, on_proxy=True)
    _, body = conn.get_object(container, "b.ipynb", headers=small_budget)
    assert json.loads(body)["error"] == "too_large"
    assert_idle(s2aio, "storlets refused 2 MiB inputs (PUT, GET, GET on the proxy + extra, "
                "max_bytes=1000)")
