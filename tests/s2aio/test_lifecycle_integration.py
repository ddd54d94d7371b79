"""start / status / stop / env / reset of a second, independent s2aio."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import pytest

from s2aio import S2AIO, S2AIOError
from tests import datadirs
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "s2aio", *args], capture_output=True,
                          text=True, timeout=120)


def _our_processes(data_dir: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if data_dir in cmd:
            found.append(cmd)
    return found


def test_second_instance_lifecycle(s2aio):
    data_dir = str(datadirs.new_data_dir("s2aio-l"))
    port = free_port()
    try:
        started = _cli("start", "--data-dir", data_dir, "--port", str(port))
        assert started.returncode == 0, started.stderr
        again = _cli("start", "--data-dir", data_dir)
        assert again.returncode == 0 and "already running" in again.stdout
        status = _cli("status", "--data-dir", data_dir)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "probe      ok" in status.stdout
        env = _cli("env", "--data-dir", data_dir)
        assert f"export ST_AUTH=http://127.0.0.1:{port}/auth/v1.0" in env.stdout
        assert "export ST_USER=test:tester" in env.stdout
        # the session's own s2aio is untouched by this one
        assert s2aio.status().processes["proxy"]
    finally:
        stopped = _cli("stop", "--data-dir", data_dir)
    assert stopped.returncode == 0
    assert re.search(r"^s2aio: stopping \d+ processes \.\.\. done in \d+\.\d s$",
                     stopped.stdout, re.M), stopped.stdout
    assert _our_processes(data_dir) == []
    down = _cli("status", "--data-dir", data_dir)
    assert down.returncode == 1 and "DOWN" in down.stdout
    assert _cli("reset", "--data-dir", data_dir).returncode == 0
    assert not os.path.exists(data_dir)


def test_taken_port_is_named_and_nothing_is_left_running():
    data_dir = str(datadirs.new_data_dir("s2aio-p"))
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = _cli("start", "--data-dir", data_dir, "--port", str(port))
    assert result.returncode == 1
    assert f"port {port} (proxy) is already in use" in result.stderr
    assert _our_processes(data_dir) == []
    S2AIO(data_dir).reset()


def test_incompatible_data_dir_suggests_reset(tmp_path):
    (tmp_path / "s2aio.json").write_text('{"layout_version": 0, "ports": {}}')
    with pytest.raises(S2AIOError, match="s2aio reset"):
        S2AIO(tmp_path).start()


def test_stop_ends_everything_at_once(s2aio):
    """A running s2aio with a storlet sandbox: stop ends it all, quickly (one server
    after another, and each waiting for pid 1 to reap it, took 10-16 s)."""
    data_dir = str(datadirs.new_data_dir("s2aio-s"))
    aio = S2AIO(data_dir, free_port())
    try:
        aio.start()
        assert aio.probe() == "ok"  # a storlet ran: its sandbox is up
        assert any(p.name.startswith("sandbox-") for p in aio.layout.run.glob("*.pid"))
        count = aio.running_count()
        began = time.monotonic()
        stopped = aio.stop()
        took = time.monotonic() - began
        assert len(stopped) == count and stopped[0] == "proxy", stopped
        assert _our_processes(data_dir) == []
        assert list(aio.layout.run.glob("*.pid")) == []
        assert took < 5.0, f"stop took {took:.1f} s"
        assert aio.running_count() == 0 and aio.stop() == []
    finally:
        aio.reset()
