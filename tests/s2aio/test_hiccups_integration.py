"""A storlet PUT in flight survives a daemon factory that answers the gateway late.

The hiccup: on a loaded machine the factory (single-threaded) can take longer
than the gateway's SBus deadline to answer ``daemon_status``, while it starts
daemons. The gateway gives up; when the factory answers at last, storlets 18
let the closed reply pipe's ``BrokenPipeError`` end the factory, its sandbox,
and every task running there: a PUT in flight got no response. Here the
factory is stopped (SIGSTOP) until the gateway has given up, as a busy one
would be, with one nbvalidate PUT in flight and one arriving.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from s2aio import procs
from s2aio.agent import engine_role
from swiftproto import run_headers, storlet_object_headers
from tests.conftest import sandbox_pid_file

pytestmark = pytest.mark.integration

GAVE_UP = "Failed to get status about storlet daemon"  # upstream logs it when SBus fails


def notebook(cells: int) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                       "cells": [{"cell_type": "markdown", "id": f"c{i}", "metadata": {},
                                  "source": "x" * 200} for i in range(cells)]}).encode()


def factory_pid(aio) -> int | None:
    """The host pid of the proxy sandbox's daemon factory (test account)."""
    def descendants(pid: int) -> list[int]:
        found = []
        for child in procs.child_pids(pid):
            found += [child] + descendants(child)
        return found

    bwrap = procs.read_pid_file(sandbox_pid_file(aio, "test", where="proxy"))
    for pid in descendants(bwrap) if bwrap else []:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if engine_role([a.decode(errors="replace") for a in argv]) == ("factory", ""):
            return pid
    return None


def fresh_storlet(conn) -> str:
    """A copy of the identity storlet under a name no call used yet: the gateway
    asks the factory for its daemon's status (a known daemon's it skips)."""
    module = f"identity_{uuid.uuid4().hex[:8]}"
    source = (Path(__file__).resolve().parents[2] / "storlets_apps" / "identity.py").read_bytes()
    conn.put_object("storlet", f"{module}.py", source,
                    headers=storlet_object_headers(f"{module}.IdentityStorlet"))
    return f"{module}.py"


def put(url: str, token: str, path: str, body, timeout: float,
        storlet: str = "nbvalidate.py") -> str:
    """One storlet PUT (chunked when ``body`` is an iterator): its status, or why none."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {"X-Auth-Token": token, "Content-Type": "application/x-ipynb+json",
               **run_headers(storlet, {"mode": "stamp"})}
    try:
        conn.request("PUT", parts.path + path, body=body, headers=headers,
                     encode_chunked=not isinstance(body, bytes))
        resp = conn.getresponse()
        resp.read()
        return str(resp.status)
    except OSError as exc:  # reset, broken pipe, timeout: no response
        return f"no response ({type(exc).__name__}: {exc})"
    finally:
        conn.close()


def wait_for_log(log: Path, text: str, after: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace")[after:]:
            return True
        time.sleep(0.2)
    return False


def test_a_put_in_flight_survives_a_factory_that_answers_after_the_deadline(
        s2aio, deployed, conn, container):
    body = notebook(200)
    conn.put_object(container, "warm.ipynb", body, headers=run_headers(
        "nbvalidate.py", {"mode": "stamp"}))  # the daemon runs: the factory is idle
    url, token = conn.get_auth()
    factory = factory_pid(s2aio)
    assert factory is not None, "no daemon factory in the proxy's sandbox"
    log = Path(s2aio.logs_dir) / "swift.log"
    results: dict[str, str] = {}
    resume = threading.Event()

    def trickled():
        yield body[:len(body) // 2]
        resume.wait(120)
        yield body[len(body) // 2:]

    in_flight = threading.Thread(target=lambda: results.__setitem__(
        "in flight", put(url, token, f"/{quote(container)}/in-flight.ipynb", trickled(), 120)))
    storlet = fresh_storlet(conn)
    arriving = threading.Thread(target=lambda: results.__setitem__(
        "arriving", put(url, token, f"/{quote(container)}/arriving.ipynb", body, 120, storlet)))
    in_flight.start()
    time.sleep(1)  # its task is running in the sandbox, reading its input
    mark = len(log.read_text(errors="replace"))
    os.kill(factory, signal.SIGSTOP)
    try:
        arriving.start()
        gave_up = wait_for_log(log, GAVE_UP, mark, timeout=90)
    finally:
        os.kill(factory, signal.SIGCONT)
    time.sleep(1)  # the factory answers the request the gateway gave up on
    resume.set()
    in_flight.join(150)
    arriving.join(150)
    assert gave_up, "the gateway never gave up on the stopped factory"
    assert results == {"in flight": "201", "arriving": "201"}
    assert factory_pid(s2aio) == factory, "the factory died: its sandbox was restarted"
