"""A 3-replica s2aio: quorum writes with a node down, and convergence when it returns.

The module runs its own s2aio (``--replicas 3``) and walks one story in order:
all nodes up; node 2 stopped, writes acknowledged and readable; node 2 started,
Swift's own replicators and updaters bring it up to date (checked on its disk);
nodes 1 and 3 stopped, node 2 alone serves the listing, the object and a storlet.
"""
from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from s2aio import S2AIO, S2AIOError, procs
from tests import datadirs, leakscan
from tests.conftest import REPO, check_no_leaks, free_port
from tests.s2aio.conftest import put_storlet

pytestmark = pytest.mark.integration

CONVERGENCE_TIMEOUT = 90.0  # replicators and updaters pass every 10 s
PAYLOAD = os.urandom(200_000)
CONTAINER = f"r-{uuid.uuid4().hex[:8]}"  # created while node 2 is down
OBJECT = "while-node2-down"


@pytest.fixture(scope="module")
def aio3(tmp_path_factory):
    data_dir = datadirs.new_data_dir("s2aio-r")  # short: SBus socket paths < 108 bytes
    aio = S2AIO(data_dir=data_dir, port=free_port(), replicas=3)
    began = time.monotonic()
    try:
        aio.start()
    except Exception as exc:  # fail (not skip) with the reason
        aio.stop()
        pytest.fail(f"a 3-replica s2aio could not start: {exc}", pytrace=False)
    print(f"\n3-replica s2aio started in {time.monotonic() - began:.1f} s")
    yield aio
    try:
        logs = leakscan.stored_logs(aio)
    finally:
        aio.stop()
    check_no_leaks(aio, tmp_path_factory.getbasetemp(), logs)
    rsync_key = re.compile(re.escape(aio.state["rsync_key"].encode()))
    found = leakscan.scan(aio.data_dir, {"the rsync password": rsync_key}, blobs=logs)
    if found:
        pytest.fail("the rsync password leaked:\n  " + "\n  ".join(found), pytrace=False)
    aio.reset()


@pytest.fixture
def conn3(aio3):
    c = aio3.connection("test")
    yield c
    c.close()


def pids(aio: S2AIO, names) -> dict[str, int | None]:
    return {name: procs.read_pid_file(aio.layout.pid_file(name)) for name in names}


def data_files(devices: Path, name: str) -> list[Path]:
    """The .data files under ``devices`` whose Swift metadata names ``name``."""
    from swift.obj.diskfile import read_metadata

    found = []
    for path in devices.rglob("*.data"):
        try:
            if read_metadata(str(path)).get("name") == name:
                found.append(path)
        except Exception:  # mid-rename by the replicator: look again next poll
            continue
    return found


def listed_on_disk(devices: Path, account: str, container: str) -> list[str] | None:
    """The object names node-local container DBs hold for ``container`` (None: no DB).

    Read-only SQLite: the test never writes into a node's databases."""
    for db in devices.rglob("containers/*/*/*/*.db"):
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as sql:
                row = sql.execute("SELECT account, container FROM container_stat").fetchone()
                if tuple(row) != (account, container):
                    continue
                return [name for (name,) in sql.execute(
                    "SELECT name FROM object WHERE deleted = 0 ORDER BY name")]
        except sqlite3.Error:  # being replaced by the replicator: look again next poll
            continue
    return None


def async_pendings(aio: S2AIO) -> list[Path]:
    return [p for p in aio.layout.devices.rglob("*") if p.is_file()
            and any(part.startswith("async_pending") for part in p.parts)]


def test_every_node_runs_its_own_processes(aio3):
    assert aio3.replicas == 3 and aio3.nodes == (1, 2, 3)
    running = aio3.running_processes()
    assert running and all(running.values()), running
    for number in aio3.nodes:
        names = aio3.node_processes(number)
        assert names == tuple(f"n{number}-{k}" for k in
                              ("account", "container", "object", "daemons"))
        for kind in ("account", "container", "object"):
            port = aio3.node(number).port(kind)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthcheck",
                                        timeout=5) as resp:
                assert resp.read() == b"OK"
    ports = [aio3.node(n).port(k) for n in aio3.nodes for k in ("account", "container", "object")]
    assert len(set(ports)) == 9
    assert len(set(pids(aio3, aio3.processes).values())) == len(aio3.processes)


def test_rings_have_three_replicas_on_three_nodes(aio3):
    from swift.common.ring import RingData

    for kind in ("account", "container", "object"):
        ring = RingData.load(str(aio3.layout.etc / f"{kind}.ring.gz"))
        assert ring.replica_count == 3
        devs = sorted((d["zone"], d["port"], d["device"]) for d in ring.devs)
        assert devs == [(n, aio3.node(n).port(kind), f"d{n}") for n in aio3.nodes]
        # every partition has one replica on each node
        for part in range(0, len(ring._replica2part2dev_id[0]), 97):
            assert {row[part] for row in ring._replica2part2dev_id} == {0, 1, 2}


def test_status_and_probe_are_healthy(aio3):
    status = aio3.status()
    assert status.probe == "ok" and status.healthy, status


def test_another_replica_count_is_refused(aio3):
    with pytest.raises(S2AIOError, match="made with 3 replica"):
        S2AIO(aio3.data_dir, replicas=1).start()
    assert all(aio3.running_processes().values())


def test_start_restarts_only_what_is_down(aio3):
    before = pids(aio3, aio3.processes)
    for name in ("proxy", "memcached"):
        assert procs.stop_pid_file(aio3.layout.pid_file(name))
    assert aio3.start() is True
    after = pids(aio3, aio3.processes)
    assert all(after.values()), after
    for name in aio3.processes:
        if name in ("proxy", "memcached"):
            assert after[name] != before[name]
        else:
            assert after[name] == before[name], name
    assert aio3.start() is False  # all up: nothing to do


@pytest.fixture(scope="module")
def node2_down(aio3):
    """Node 2 stopped; a storlet, a container and an object written meanwhile."""
    # The proxy picks a random replica to GET from: probe until node 2 has run a
    # storlet, so that stopping it has a sandbox to end.
    for _ in range(40):
        if list(aio3.layout.run.glob("sandbox-object-n2-*.pid")):
            break
        assert aio3.probe() == "ok"
    sandboxes = sorted(p.stem for p in aio3.layout.run.glob("sandbox-object-n2-*.pid"))
    assert sandboxes, "node 2 never served a probe GET"
    others = pids(aio3, aio3.node_processes(1) + aio3.node_processes(3) + ("proxy",))
    stopped = aio3.node_stop(2)
    assert set(aio3.node_processes(2)) | set(sandboxes) <= set(stopped), stopped
    assert not any(pids(aio3, aio3.node_processes(2)).values())
    assert not list(aio3.layout.run.glob("sandbox-object-n2-*.pid"))
    assert not procs.processes_mentioning(str(aio3.layout.sandbox_root("object-n2")) + "/")
    assert pids(aio3, others) == others  # nothing else was touched
    conn = aio3.connection("test", retries=0)
    try:
        storlet = put_storlet(conn, REPO / "storlets_apps" / "identity.py",
                              "identity.IdentityStorlet")
        conn.put_container(CONTAINER)
        etag = conn.put_object(CONTAINER, OBJECT, PAYLOAD,
                               headers={"X-Object-Meta-Color": "blue"})
    finally:
        conn.close()
    return {"storlet": storlet, "etag": etag}


def test_with_node2_down_a_write_is_acknowledged_and_readable(aio3, node2_down, conn3):
    import hashlib

    assert node2_down["etag"] == hashlib.md5(PAYLOAD).hexdigest()
    headers, body = conn3.get_object(CONTAINER, OBJECT)
    assert body == PAYLOAD and headers["x-object-meta-color"] == "blue"
    devices = aio3.layout.devices
    assert len(data_files(devices / "n1", f"/AUTH_test/{CONTAINER}/{OBJECT}")) == 1
    assert len(data_files(devices / "n3", f"/AUTH_test/{CONTAINER}/{OBJECT}")) == 1
    assert data_files(devices / "n2", f"/AUTH_test/{CONTAINER}/{OBJECT}") == []


def test_with_node2_down_the_listing_shows_the_object(aio3, node2_down, conn3):
    """Eventually, on every container replica left. The PUT's update for the container
    replica that node 2's object server would have sent is not sent at all (no
    handoff node in a 3-device ring): that replica lags until the container
    replicators of nodes 1 and 3 merge their rows. The proxy reads listings from
    a random replica, so several reads in a row must all show the object."""
    wanted = [(OBJECT, len(PAYLOAD))]
    began, agreeing, seen = time.monotonic(), 0, []
    while time.monotonic() - began < CONVERGENCE_TIMEOUT and agreeing < 6:
        _, listing = conn3.get_container(CONTAINER)
        seen = [(o["name"], o["bytes"]) for o in listing]
        agreeing = agreeing + 1 if seen == wanted else 0
        time.sleep(0.5 if agreeing else 1)
    assert agreeing >= 6, f"listing still {seen} after {CONVERGENCE_TIMEOUT:.0f} s"
    print(f"\nlisting complete on nodes 1 and 3 after {time.monotonic() - began:.1f} s")


def test_with_node2_down_a_storlet_runs(aio3, node2_down, conn3):
    headers, body = conn3.get_object(CONTAINER, OBJECT,
                                     headers={"X-Run-Storlet": node2_down["storlet"]})
    assert body == PAYLOAD and headers["x-object-meta-color"] == "blue"


@pytest.fixture(scope="module")
def node2_back(aio3, node2_down):
    """Node 2 started again and converged (or the time it failed to)."""
    began = time.monotonic()
    started = aio3.node_start(2)
    assert started == list(aio3.node_processes(2))
    devices, name = aio3.layout.devices / "n2", f"/AUTH_test/{CONTAINER}/{OBJECT}"
    deadline = began + CONVERGENCE_TIMEOUT
    state = {}
    while time.monotonic() < deadline:
        state = {"data": data_files(devices, name),
                 "listing": listed_on_disk(devices, "AUTH_test", CONTAINER),
                 "async_pendings": async_pendings(aio3)}
        if state["data"] and state["listing"] == [OBJECT] and not state["async_pendings"]:
            state["seconds"] = time.monotonic() - began
            print(f"\nnode 2 converged {state['seconds']:.1f} s after node_start")
            break
        time.sleep(1)
    return state


def test_after_node_start_node2_holds_the_object(node2_back):
    assert node2_back.get("seconds") is not None, \
        f"node 2 did not converge in {CONVERGENCE_TIMEOUT:.0f} s: {node2_back}"
    (path,) = node2_back["data"]
    assert path.read_bytes() == PAYLOAD


def test_after_node_start_node2_lists_the_container(node2_back):
    assert node2_back.get("listing") == [OBJECT]
    assert node2_back.get("async_pendings") == []  # every deferred update was delivered


def test_node2_alone_serves_listing_object_and_storlet(aio3, node2_down, node2_back):
    """With nodes 1 and 3 stopped, every answer can only come from node 2.

    The proxy that saw node 2 refuse connections while it was down has error-limited
    it (more than ``error_suppression_limit`` = 10 errors: skipped for
    ``error_suppression_interval`` = 60 s after the last one), so it would answer 503
    with node 2 healthy. That memory is per proxy process: a new proxy has none, as
    after a proxy restart in a real cluster."""
    assert node2_back.get("seconds") is not None
    proxy_pid = procs.read_pid_file(aio3.layout.pid_file("proxy"))
    assert procs.stop_pid_file(aio3.layout.pid_file("proxy"))
    assert aio3.start() is True  # only the proxy was down
    assert procs.read_pid_file(aio3.layout.pid_file("proxy")) not in (None, proxy_pid)
    for number in (1, 3):
        aio3.node_stop(number)
    try:
        conn = aio3.connection("test", retries=0)
        try:
            _, listing = conn.get_container(CONTAINER)
            assert [o["name"] for o in listing] == [OBJECT]
            headers, body = conn.get_object(CONTAINER, OBJECT)
            assert body == PAYLOAD and headers["x-object-meta-color"] == "blue"
            _, body = conn.get_object(CONTAINER, OBJECT,
                                      headers={"X-Run-Storlet": node2_down["storlet"]})
            assert body == PAYLOAD
        finally:
            conn.close()
    finally:
        aio3.start()  # brings nodes 1 and 3 back (only what is down)
    assert aio3.status().healthy


def test_node_commands_of_the_cli(aio3, capsys):
    from s2aio.cli import main

    d = str(aio3.data_dir)
    assert main(["node", "stop", "3", "--data-dir", d]) == 0
    assert "n3-object" in capsys.readouterr().out
    assert main(["status", "--data-dir", d]) == 1
    out = capsys.readouterr().out
    assert "node 3" in out and "DOWN" in out and "NOT healthy" in out
    assert main(["node", "start", "3", "--data-dir", d]) == 0
    assert main(["node", "start", "4", "--data-dir", d]) == 1
    assert "no node 4" in capsys.readouterr().err
    assert main(["start", "--replicas", "1", "--data-dir", d]) == 1
    assert "made with 3 replica" in capsys.readouterr().err
    assert main(["status", "--data-dir", d]) == 0
