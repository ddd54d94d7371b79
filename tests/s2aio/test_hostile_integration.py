"""A hostile storlet against the sandbox, through the real proxy of its own s2aio.

The storlet (``tests/files/storlets/hostile.py``) is uploaded with upstream's
storlet headers, like any storlet user would. Every attempt must fail, and
after each one the engine must serve the next request. This module runs its
own s2aio with tight limits and a short ``storlet_timeout`` so that nothing
it does reaches the session's shared s2aio.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from swiftclient import ClientException

from s2aio import S2AIO
from s2aio.configs import GatewaySettings
from tests import datadirs
from tests.conftest import FILES, free_port
from tests.s2aio.conftest import put_storlet

pytestmark = pytest.mark.integration

TIMEOUT_S = 4
MEMORY_MB = 256
PROCESSES = 64
STORLET = "hostile.py"


@pytest.fixture(scope="module")
def aio():
    data_dir = datadirs.new_data_dir("s2aio-h")
    gateway = GatewaySettings(storlet_timeout=TIMEOUT_S, memory_mb=MEMORY_MB,
                              processes=PROCESSES)
    aio = S2AIO(data_dir=data_dir, port=free_port(), gateway=gateway)
    try:
        aio.start()
    except Exception as exc:
        aio.stop()
        pytest.fail(f"s2aio could not start: {exc}", pytrace=False)
    yield aio
    aio.reset()


@pytest.fixture(scope="module")
def hconn(aio):
    conn = aio.connection("test")
    put_storlet(conn, FILES / "storlets" / STORLET, "hostile.Hostile")
    conn.put_container("h")
    conn.put_object("h", "in", b"x")
    attack(conn, "status")  # the sandbox runs before any test looks at it
    yield conn
    conn.close()


def attack(conn, name: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in dict(params, attack=name).items())
    _, body = conn.get_object("h", "in", headers={"X-Run-Storlet": STORLET},
                              query_string=query)
    return json.loads(body)["results"]


def assert_all_failed(results: dict) -> None:
    assert results, "the storlet reported nothing"
    for step, outcome in results.items():
        assert outcome.startswith("failed"), (step, outcome)


def assert_serves(conn) -> None:
    """The engine serves the next request after an attempt."""
    results = attack(conn, "status")
    assert results["status"]["NoNewPrivs"] == "1"


def sandbox_tree(aio) -> list[int]:
    """Pids of the object server's sandbox for AUTH_test (bwrap and below)."""
    top = int((aio.layout.run / "sandbox-object-test.pid").read_text().split()[0])
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [top]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def proc_status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_identity_inside_the_sandbox(hconn):
    report = attack(hconn, "status")
    status = report["status"]
    uids = status["Uid"].split()
    assert "0" not in uids, status
    assert "0" not in status["Gid"].split(), status
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0, status
    assert int(status["CapBnd"], 16) == 0, status
    assert status["NoNewPrivs"] == "1", status
    assert status["Seccomp"] == "2", status  # filter mode
    assert report["channels"] and all(not c.startswith("..") for c in report["channels"])


def test_no_sandbox_process_is_root_on_the_host(aio, hconn):
    attack(hconn, "status")
    tree = sandbox_tree(aio)
    assert len(tree) >= 3, tree  # bwrap, its init, the factory, a daemon
    for pid in tree:
        status = proc_status(pid)
        assert "0" not in status["Uid"].split(), (pid, status["Name"], status["Uid"])
        assert status["NoNewPrivs"] == "1", (pid, status["Name"])
        if status["Name"].startswith("python"):
            assert int(status["CapEff"], 16) == 0, (pid, status["CapEff"])
            assert status["Seccomp"] == "2", (pid, status["Seccomp"])


def test_cannot_read_host_secrets(hconn):
    assert_all_failed(attack(hconn, "read_shadow"))
    assert_serves(hconn)


def test_cannot_make_device_nodes(hconn):
    assert_all_failed(attack(hconn, "mknod"))
    assert_serves(hconn)


def test_cannot_remount_or_write_host_etc(hconn):
    victim = f"s2aio-owned-{uuid.uuid4().hex[:8]}"
    assert_all_failed(attack(hconn, "remount", victim=victim))
    assert not os.path.exists(f"/etc/{victim}")
    assert_serves(hconn)


def test_writes_only_its_own_dirs(aio, hconn):
    outside = [str(aio.data_dir / "owned.txt"), "/etc/owned.txt", "/usr/owned.txt",
               "/owned.txt", "/usr/local/lib/storlets/owned.txt",
               "/var/lib/storlets/owned.txt", str(aio.layout.native / "owned.txt")]
    assert_all_failed(attack(hconn, "write_outside", paths=",".join(outside)))
    for path in outside:
        assert not os.path.exists(path), path
    assert_serves(hconn)


def test_only_sockets_can_be_made_in_the_host_pipe_dir(aio, hconn):
    """The pipe dir is on the host's disk: no files, dirs, links or FIFOs there."""
    assert_all_failed(attack(hconn, "pipe_dir"))
    pipe_dir = aio.layout.sandbox_root("object") / "pipes" / "test"
    assert {p.name for p in pipe_dir.iterdir()} & {"junk", "junkdir", "link", "fifo"} == set()
    assert (pipe_dir / "factory_pipe").exists()
    # its private /tmp stays usable
    assert attack(hconn, "tmp_works")["tmp"].startswith("ok")
    assert_serves(hconn)


def test_cannot_see_swift_data_or_other_scopes(aio, hconn):
    other_scope = aio.layout.sandbox_root("object") / "pipes" / "test2"
    paths = [str(aio.layout.devices), str(aio.data_dir), str(aio.layout.etc),
             str(other_scope), "/mnt/channels/../test2", "/root", "/proc/1/root/etc/shadow"]
    assert_all_failed(attack(hconn, "read_paths", paths=",".join(paths)))
    assert_serves(hconn)


def test_cannot_trace_or_signal_the_engine(hconn):
    assert_all_failed(attack(hconn, "ptrace"))
    assert_all_failed(attack(hconn, "kill_factory"))
    assert_serves(hconn)


def test_fork_bomb_is_bounded(hconn):
    results = attack(hconn, "fork_bomb", limit=PROCESSES * 4)
    assert results["bomb"].startswith("failed"), results
    assert "Resource temporarily unavailable" in results["bomb"], results
    assert_serves(hconn)


def test_memory_beyond_the_limit_is_refused(hconn):
    assert_all_failed(attack(hconn, "memory", bytes=2 * MEMORY_MB << 20))
    assert_serves(hconn)


def test_memory_is_bounded_per_sandbox_not_only_per_process(aio, hconn):
    # Each child stays under the per-process limit; together they hold 1.6x the
    # sandbox's memory: the sandbox's cgroup stops them.
    results = attack(hconn, "memory_together", children=4, each=int(0.4 * MEMORY_MB) << 20)
    assert results["together"].startswith("failed"), results
    assert_serves(hconn)


def test_every_sandbox_process_is_in_the_sandboxs_cgroup(aio, hconn):
    from s2aio import cgroups

    attack(hconn, "status")
    name = cgroups.group_prefix(str(aio.data_dir)) + "object-test"
    group = cgroups.plan(name, MEMORY_MB, PROCESSES)
    for path in group.dirs:
        before = set(sandbox_tree(aio))
        members = {int(p) for p in (path / "cgroup.procs").read_text().split()}
        # Tasks come and go meanwhile; an exited task the daemon has not reaped
        # yet (a zombie, which upstream reaps lazily) has left every cgroup.
        stable = {pid for pid in before & set(sandbox_tree(aio)) if not _zombie(pid)}
        assert len(stable) >= 3 and stable <= members, (path, stable - members)
    limits = {path.name: path.read_text().strip() for path, _ in group.limits}
    assert limits in ({"memory.limit_in_bytes": str(MEMORY_MB << 20), "pids.max": str(PROCESSES)},
                      {"memory.max": str(MEMORY_MB << 20), "pids.max": str(PROCESSES)})


def test_no_network(aio, hconn):
    assert_all_failed(attack(hconn, "network", port=aio.ports.proxy))
    assert_serves(hconn)


def test_no_privileges_or_namespaces(hconn):
    assert_all_failed(attack(hconn, "privileges"))
    assert_serves(hconn)


def _busy_sandbox_cpu(aio) -> list[tuple[int, str]]:
    """(pid, name) of sandbox processes that are running on a CPU right now."""
    busy = []
    for pid in sandbox_tree(aio):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "R":
            busy.append((pid, proc_status(pid)["Name"]))
    return busy


def assert_task_gone(aio, before: set[int]) -> None:
    """No sandbox process newer than ``before`` is left (the task was killed)."""
    deadline = time.monotonic() + 3
    while set(sandbox_tree(aio)) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (set(sandbox_tree(aio)) - before), _busy_sandbox_cpu(aio)


def streamed(conn, query: str) -> tuple[bytes, float]:
    """The body (or the error that cut it short) and how long the call took."""
    start = time.monotonic()
    try:
        _, body = conn.get_object("h", "in", headers={"X-Run-Storlet": STORLET},
                                  query_string=query)
    except Exception as exc:  # an early end of the body is also a clear end
        body = repr(exc).encode()
    return body, time.monotonic() - start


def test_timeout_cancels_and_kills_the_task(aio, hconn):
    before = set(sandbox_tree(aio))
    start = time.monotonic()
    with pytest.raises(ClientException) as err:
        attack(hconn, "spin", seconds=TIMEOUT_S * 10)
    elapsed = time.monotonic() - start
    assert err.value.http_status == 422, err.value
    assert b"storlet_timeout" in (err.value.http_response_content or b"")
    assert elapsed < TIMEOUT_S * 3, elapsed
    assert_task_gone(aio, before)
    assert_serves(hconn)


def test_timeout_after_the_first_bytes_kills_the_task(aio, hconn):
    before = set(sandbox_tree(aio))
    body, elapsed = streamed(hconn, f"attack=spin_after_metadata&seconds={TIMEOUT_S * 10}")
    assert elapsed < TIMEOUT_S * 3, elapsed
    assert b'"attack"' not in body  # the storlet never finished
    assert_task_gone(aio, before)
    assert_serves(hconn)


def test_the_call_right_after_a_cancel_is_served(aio, hconn):
    """A cancel ends upstream's daemon; until its process is gone, the factory still
    says it runs while its socket refuses. The next call, sent at once, must wait
    for that end rather than fail (it did: 422, "the storlet failed")."""
    for _ in range(3):
        body, elapsed = streamed(hconn, f"attack=spin_after_metadata&seconds={TIMEOUT_S * 10}")
        assert elapsed < TIMEOUT_S * 3, elapsed
        assert_serves(hconn)


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_text("precious")
    yield path
    assert path.read_text() == "precious", "a host file was touched"


def _storlet_headers(**extra) -> dict[str, str]:
    headers = {"X-Object-Meta-Storlet-Language": "python",
               "X-Object-Meta-Storlet-Interface-Version": "1.0",
               "X-Object-Meta-Storlet-Object-Metadata": "no",
               "X-Object-Meta-Storlet-Main": "hostile.Hostile"}
    headers.update(extra)
    return headers


@pytest.mark.parametrize("dependency", ["{victim}", "../../../../../..{victim}", ".hidden",
                                        "a/b", "x" * 256])
def test_unsafe_dependency_names_are_refused_at_upload(hconn, victim, dependency):
    dep = dependency.format(victim=victim)
    with pytest.raises(ClientException) as err:
        hconn.put_object("storlet", "hostile.py", (FILES / "storlets" / STORLET).read_bytes(),
                         headers=_storlet_headers(**{"X-Object-Meta-Storlet-Dependency": dep}))
    assert err.value.http_status == 400
    assert b"dependency name" in err.value.http_response_content
    assert_serves(hconn)


@pytest.mark.parametrize("name", ["../../x.py", ".x.py", "a..b.py"])
def test_unsafe_storlet_names_are_refused_at_upload(hconn, name):
    with pytest.raises(ClientException) as err:
        hconn.put_object("storlet", name, b"class X: pass\n",
                         headers=_storlet_headers(**{"X-Object-Meta-Storlet-Main": "x.X"}))
    # 403: a path that climbs out of the account never reaches the storlet container
    assert err.value.http_status in (400, 403), err.value


def test_unsafe_names_set_later_are_refused_before_any_path(aio, hconn, victim):
    """Metadata that skipped the upload checks (copied from another object with
    X-Copy-From, which storlets' handler does not inspect) is checked at every
    call: the gateway never joins the name into a host path."""
    source = (FILES / "storlets" / STORLET).read_bytes()
    reached_the_engine = 0
    for i, dep in enumerate((str(victim), f"../../../../../../..{victim}")):
        hconn.put_object("h", f"src{i}", source, headers=_storlet_headers(**{
            "X-Object-Meta-Storlet-Main": f"sneaky{i}.Hostile",
            "X-Object-Meta-Storlet-Dependency": dep}))
        try:
            hconn.put_object("storlet", f"sneaky{i}.py", None, headers=_storlet_headers(**{
                "X-Object-Meta-Storlet-Main": f"sneaky{i}.Hostile",
                "X-Copy-From": f"/h/src{i}"}))
        except ClientException as exc:  # refused at upload too: fine
            assert exc.http_status == 400
            continue
        headers = hconn.head_object("storlet", f"sneaky{i}.py")
        assert headers.get("x-object-meta-storlet-dependency") == dep
        with pytest.raises(ClientException) as err:
            hconn.get_object("h", "in", headers={"X-Run-Storlet": f"sneaky{i}.py"})
        assert err.value.http_status == 400, err.value
        assert b"dependency name" in err.value.http_response_content
        reached_the_engine += 1
    assert_serves(hconn)
    assert reached_the_engine == 2  # the copy did carry the unsafe names past upload


def test_a_trickling_storlet_is_stopped_at_the_deadline(aio, hconn):
    """Bytes every second never trip the per-read wait; the whole call is bounded."""
    before = set(sandbox_tree(aio))
    body, elapsed = streamed(hconn, f"attack=trickle&chunks={TIMEOUT_S * 20}&every=0.5")
    assert elapsed < TIMEOUT_S * 3, elapsed
    # it streamed (past the engine's wait for the first bytes), then was cut off
    assert 0 < body.count(b".") < TIMEOUT_S * 20 << 16, body[:100]
    assert_task_gone(aio, before)
    assert_serves(hconn)


def orphans(aio) -> list[int]:
    """Processes the sandbox's init adopted (anything but the daemon factory)."""
    from s2aio.procs import child_pids, inner_pid

    bwrap = int((aio.layout.run / "sandbox-object-test.pid").read_text().split()[0])
    (init,) = child_pids(bwrap)
    return [pid for pid in child_pids(init) if inner_pid(pid) != 2 and not _zombie(pid)]


def test_a_daemonized_leftover_does_not_outlive_the_next_call(aio, hconn):
    assert attack(hconn, "daemonize", seconds=60)["daemon"].startswith("ok")
    assert orphans(aio), "the storlet's leftover should exist until the next call"
    assert_serves(hconn)
    deadline = time.monotonic() + 3
    while orphans(aio) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not orphans(aio)


def test_a_timed_out_storlets_leftovers_are_killed_with_it(aio, hconn):
    before = set(sandbox_tree(aio))
    body, elapsed = streamed(hconn, f"attack=spin_with_orphan&seconds={TIMEOUT_S * 10}")
    assert elapsed < TIMEOUT_S * 3, elapsed
    assert_task_gone(aio, before)
    assert not orphans(aio)
    assert_serves(hconn)


def test_a_failing_storlet_gets_a_4xx_and_never_error_limits_the_node(aio, hconn, conn2_h):
    # A 5xx from the object server makes the proxy error-limit the node for every
    # account; a storlet's own failure must not.
    for _ in range(15):
        with pytest.raises(ClientException) as err:
            attack(hconn, "exit_early")
        assert err.value.http_status == 422, err.value
        assert b"failed before it produced its output" in err.value.http_response_content
    conn2_h.put_object("c2", "plain", b"still served")
    assert conn2_h.get_object("c2", "plain")[1] == b"still served"
    assert_serves(hconn)


def test_the_host_pipe_dir_holds_a_bounded_number_of_entries(aio, hconn):
    from s2aio.mounts import PIPE_DIR_INODES

    results = attack(hconn, "socket_inodes", count=PIPE_DIR_INODES * 4)
    assert results["sockets"].startswith("failed"), results
    assert "No space left on device" in results["sockets"], results
    pipe_dir = aio.layout.sandbox_root("object") / "pipes" / "test"
    assert len(os.listdir(pipe_dir)) <= PIPE_DIR_INODES
    for name in os.listdir(pipe_dir):  # make room again for the daemons
        if name.startswith("s0"):
            os.unlink(pipe_dir / name)
    assert_serves(hconn)


@pytest.fixture(scope="module")
def conn2_h(aio):
    conn = aio.connection("test2")
    conn.put_container("c2")
    yield conn
    conn.close()
