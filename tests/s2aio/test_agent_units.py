"""s2aio.agent (the engine's entry in the sandbox) and the gateway's fast-path
helpers, without a sandbox (unit)."""
from __future__ import annotations

import os
import threading
import time
import types

import pytest

from s2aio import agent


def test_the_socket_clock_ends_a_sleep_when_the_socket_appears(tmp_path):
    clock = agent.SocketClock()
    clock.socket_path = str(tmp_path / "daemon.sock")
    threading.Timer(0.05, lambda: open(clock.socket_path, "w").close()).start()
    began = time.monotonic()
    clock.sleep(1)  # upstream's fixed second after a spawn
    waited = time.monotonic() - began
    assert 0.04 <= waited < 0.5


def test_the_socket_clock_keeps_the_bound_when_no_socket_comes(tmp_path):
    clock = agent.SocketClock()
    clock.socket_path = str(tmp_path / "never.sock")
    began = time.monotonic()
    clock.sleep(0.1)
    assert time.monotonic() - began >= 0.1


def test_the_socket_clock_pauses_between_pings_to_an_existing_socket(tmp_path):
    clock = agent.SocketClock()
    clock.socket_path = str(tmp_path / "daemon.sock")
    open(clock.socket_path, "w").close()
    began = time.monotonic()
    clock.sleep(1)
    assert agent.PING_PAUSE_S <= time.monotonic() - began < 0.5
    assert clock.time() == pytest.approx(time.time(), abs=5)  # the rest is time's


@pytest.mark.parametrize("value, expected", [("120", 120.0), ("", agent.DEFAULT_IDLE_S),
                                             ("x", agent.DEFAULT_IDLE_S),
                                             ("-5", agent.DEFAULT_IDLE_S)])
def test_idle_timeout_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(agent.IDLE_ENV, value)
    if value == "":
        monkeypatch.delenv(agent.IDLE_ENV)
    assert agent.idle_timeout() == expected


def test_a_task_process_ends_with_os_exit_after_the_storlet(monkeypatch):
    from storlets.agent.daemon import server

    calls = []
    monkeypatch.setattr(server.StorletDaemon, "_execute",
                        lambda self, dtg: calls.append("storlet ran"))

    def fake_exit(code):
        calls.append(("os._exit", code))
        raise SystemExit  # stop here, as the real one would

    monkeypatch.setattr(os, "_exit", fake_exit)
    daemon = agent.fast_daemon_class().__new__(agent.fast_daemon_class())
    with pytest.raises(SystemExit):
        daemon._execute(types.SimpleNamespace())
    assert calls == ["storlet ran", ("os._exit", 0)]


def test_a_task_process_does_not_keep_its_daemons_sbus_socket(monkeypatch, tmp_path):
    """Else a storlet could read the daemon's next requests (and their fds)."""
    from storlets.agent.daemon import server

    seen = []
    monkeypatch.setattr(server.StorletDaemon, "_execute",
                        lambda self, dtg: seen.append(self.sbus_sock.fileno()))
    monkeypatch.setattr(os, "_exit", lambda code: None)
    daemon = agent.fast_daemon_class().__new__(agent.fast_daemon_class())
    daemon.sbus_sock = agent.sbus_socket(str(tmp_path / "daemon"))
    daemon._execute(types.SimpleNamespace())
    assert seen == [-1]  # closed before the storlet ran


def test_the_next_spare_is_forked_a_moment_after_an_answer_or_at_once_after_a_miss(
        monkeypatch):
    """Right after its answer the daemon would take the CPU from the task that just
    got the request; when calls come faster than the delay, no waiting."""
    from storlets.agent.common.server import SBusServer

    cls = agent.fast_daemon_class()
    daemon = cls.__new__(cls)
    daemon.spare_due = None

    def answered(self, dtg):  # upstream's dispatch: execute took the spare
        self.spare = None
        return True

    monkeypatch.setattr(SBusServer, "dispatch_command", answered)
    execute = types.SimpleNamespace(command="SBUS_CMD_EXECUTE")
    daemon.spare = (123, None)
    began = time.monotonic()
    assert daemon.dispatch_command(execute)
    assert daemon.spare_due - began == pytest.approx(agent.SPARE_DELAY_S, abs=0.05)
    daemon.spare_due = None
    assert daemon.dispatch_command(execute)  # this call found no spare
    assert daemon.spare_due <= time.monotonic()


def test_the_factory_starts_daemons_through_the_agent(monkeypatch):
    from storlets.agent.daemon_factory import server

    monkeypatch.setattr(server, "time", server.time)  # restored after the test
    monkeypatch.setenv(agent.IDLE_ENV, "900")
    cls = agent.fast_factory_class(server)
    factory = cls.__new__(cls)
    factory.container_id = "scope"
    pargs, env = factory.get_python_args("python", "/p", "m.C", 5, "/mnt/channels/m.C",
                                         "WARNING", "3")
    assert pargs[1:4] == ["-m", "s2aio_agent", "daemon"]
    assert pargs[4:] == ["m.C", "/mnt/channels/m.C", "WARNING", "5", "scope"]
    assert env[agent.IDLE_ENV] == "900.0"


def test_the_gateway_reads_daemon_idle_timeout():
    from s2aio import sandbox  # pure: the gateway itself would patch this process

    assert sandbox.daemon_idle_timeout({}) == sandbox.DEFAULT_IDLE_S
    assert sandbox.daemon_idle_timeout({"daemon_idle_timeout": " 600 "}) == 600
    for bad in ("10", "ten", "100000"):
        with pytest.raises(sandbox.SandboxConfigError, match="daemon_idle_timeout"):
            sandbox.daemon_idle_timeout({"daemon_idle_timeout": bad})


def test_a_request_reaches_a_spare_task_process_with_its_fds(tmp_path):
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    (tmp_path / "in").write_bytes(b"input")
    fd = os.open(tmp_path / "in", os.O_RDONLY)
    md = '[{"type": "SBUS_FD_INPUT_OBJECT"}]'
    params = '{"command": "x", "params": {"p": "' + "v\u00e9" * 100_000 + '"}}'
    texts = ["task-1", md, params, ""]
    sender = threading.Thread(target=agent.send_request, args=(ours, [fd], texts))
    sender.start()
    fds, got = agent.receive_request(theirs)
    sender.join()
    os.close(fd)
    assert got == texts  # larger than one socket buffer, empty and non-ASCII texts kept
    assert len(fds) == 1 and os.read(fds[0], 10) == b"input"  # a copy of the fd
    os.close(fds[0])
    ours.close()
    assert agent.receive_request(theirs) is None  # the daemon closed: the spare ends
    theirs.close()


@pytest.mark.parametrize("params, expected", [
    ('{"command": "SBUS_CMD_EXECUTE", "params": {}}', True),
    ('{"command": "SBUS_CMD_PING"}', False), ('{"command": ["SBUS_CMD_EXECUTE"]}', False),
    ('["SBUS_CMD_EXECUTE"]', False), ('{"command": "SBUS_CMD_EXECUTE"', False), ("", False),
    ("[" * 5000, False)])  # nesting past the recursion limit: dropped, not fatal
def test_only_an_execute_goes_to_the_spare(params, expected):
    assert agent.is_execute(params) is expected


def test_the_spares_answer_is_upstreams_execute_answer():
    import json

    from storlets.agent.common.server import CommandSuccess

    assert json.loads(agent.execute_answer("ab12cd34")) == json.loads(
        CommandSuccess("OK", task_id="ab12cd34").report_message)
    stamped = json.loads(agent.execute_answer("t", {"received": 1.5}))
    assert stamped[agent.STAMPS_KEY] == {"received": 1.5}


def test_an_execute_is_forwarded_to_the_spare_which_the_daemon_then_tracks(monkeypatch):
    """The daemon hands the request as it came, closes its copies of the fds (the
    answer's too: the spare answers), tracks the task for cancels and the pool, and
    forks the next spare a moment later."""
    import socket

    cls = agent.fast_daemon_class()
    daemon = cls.__new__(cls)
    daemon.task_id_to_pid, daemon.pool_size, daemon.timed = {}, 5, False
    daemon.spare_due = None
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    daemon.spare = (4242, ours)
    r, w = os.pipe()
    params = '{"command": "SBUS_CMD_EXECUTE"}'
    assert daemon._forward([w], "[]", params)
    fds, texts = agent.receive_request(theirs)
    assert texts[1:] == ["[]", params] and list(daemon.task_id_to_pid.items()) == [
        (texts[0], 4242)]
    assert daemon.spare is None and daemon.spare_due > time.monotonic()
    with pytest.raises(OSError):
        os.fstat(w)  # the daemon's copy is closed
    os.write(fds[0], b"x")  # the spare's copy works
    assert os.read(r, 1) == b"x"
    for fd in (fds[0], r):
        os.close(fd)
    theirs.close()


def test_a_cancel_kills_and_reaps_the_task_ends_the_spare_and_keeps_the_daemon():
    """Upstream's daemon ends after a cancel; until its process is gone the factory
    counts it running while its socket refuses the next call."""
    import logging
    import socket
    import subprocess

    cls = agent.fast_daemon_class()
    daemon = cls.__new__(cls)
    daemon.logger = logging.getLogger("test")
    task = subprocess.Popen(["sleep", "60"])
    spare = subprocess.Popen(["sleep", "60"])
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    daemon.task_id_to_pid, daemon.spare, daemon.spare_due = {"t1": task.pid}, (spare.pid, ours), 1.0
    resp = daemon.cancel(types.SimpleNamespace(task_id="t1"))
    assert resp.status and resp.iterable  # the loop goes on
    assert daemon.task_id_to_pid == {} and daemon.spare is None and daemon.spare_due is None
    for proc in (task, spare):  # both killed and reaped: no zombie left
        with pytest.raises(ChildProcessError):
            os.waitpid(proc.pid, os.WNOHANG)
    assert theirs.recv(1) == b""  # the spare's socket closed
    theirs.close()
    unknown = daemon.cancel(types.SimpleNamespace(task_id="nope"))
    assert not unknown.status and unknown.iterable


def test_no_spare_is_forked_after_a_cancel(monkeypatch):
    from storlets.agent.common.server import SBusServer

    cls = agent.fast_daemon_class()
    daemon = cls.__new__(cls)
    daemon.spare, daemon.spare_due = None, None
    monkeypatch.setattr(SBusServer, "dispatch_command", lambda self, dtg: True)
    assert daemon.dispatch_command(types.SimpleNamespace(command="SBUS_CMD_CANCEL"))
    assert daemon.spare_due is None
    assert daemon.dispatch_command(types.SimpleNamespace(command="SBUS_CMD_PING"))
    assert daemon.spare_due is not None


def test_a_spare_that_cannot_take_the_request_leaves_it_to_upstreams_fork(monkeypatch):
    import socket

    cls = agent.fast_daemon_class()
    daemon = cls.__new__(cls)
    daemon.task_id_to_pid, daemon.pool_size, daemon.timed = {}, 5, False
    ended = []
    monkeypatch.setattr(cls, "_end_spare", lambda self, pid: ended.append(pid))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    theirs.close()  # the spare is gone
    daemon.spare = (4243, ours)
    r, w = os.pipe()
    assert daemon._forward([w], "[]", '{"command": "SBUS_CMD_EXECUTE"}') is False
    assert ended == [4243] and daemon.task_id_to_pid == {}
    os.fstat(w)  # still the daemon's, for upstream's path
    os.close(r)
    os.close(w)


def test_engine_roles_from_argv():
    assert agent.engine_role(["/usr/bin/python3", "-m", "s2aio_agent", "factory", "/p",
                              "INFO", "c"]) == ("factory", "")
    assert agent.engine_role(["/usr/bin/python3", "-m", "s2aio_agent", "daemon", "m.C", "/p",
                              "INFO", "5", "c"]) == ("daemon", "m.C")
    assert agent.engine_role(["bwrap", "--", "s2aio_agent", "daemon"]) is None
    assert agent.engine_role(["python3", "-m", "storlets.agent.daemon", "m.C"]) is None
