"""procs.stop_pid_files: parallel, zombie-aware, SIGKILL after the grace (real processes)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from s2aio import procs

# A process that records when SIGTERM reached it, takes ``delay`` seconds to exit, then
# records its exit: the files show whether several stops overlapped.
SLOW_EXIT = """
import os, signal, sys, time
out, delay = sys.argv[1], float(sys.argv[2])
def on_term(*_):
    with open(out, "a") as f:
        f.write("term %r\\n" % time.time())
    time.sleep(delay)
    with open(out, "a") as f:
        f.write("exit %r\\n" % time.time())
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
open(out + ".ready", "w").close()
while True:
    time.sleep(1)
"""

# A parent that starts a group leader (and its worker) in a new session and never reaps
# it: the stopped leader stays a zombie, as a server whose parent is a slow pid 1.
NO_REAP_PARENT = """
import os, subprocess, sys, time
leader = subprocess.Popen([sys.executable, "-c",
    "import os, time\\nif os.fork() == 0:\\n    time.sleep(60)\\nelse:\\n    time.sleep(60)"],
    start_new_session=True)
open(sys.argv[1], "w").write(str(leader.pid))
time.sleep(60)
"""


def _record(pid_file: Path, pid: int) -> None:
    pid_file.write_text(f"{pid} {procs.process_start_time(pid)}")


def _wait_for(path: Path, timeout: float = 20.0, text: bool = False) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or (text and not path.read_text()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _events(path: Path) -> dict[str, float]:
    return {kind: float(at) for kind, at in
            (line.split() for line in path.read_text().splitlines())}


def test_stop_signals_every_group_before_waiting_for_any(tmp_path):
    started = []
    try:
        for n in range(3):
            out = tmp_path / f"p{n}"
            proc = subprocess.Popen([sys.executable, "-c", SLOW_EXIT, str(out), "0.5"],
                                    start_new_session=True)
            started.append((proc, out, tmp_path / f"p{n}.pid"))
        for proc, out, pid_file in started:
            _wait_for(Path(str(out) + ".ready"))
            _record(pid_file, proc.pid)
        ended = procs.stop_pid_files([pid_file for _, _, pid_file in started])
        assert ended == [pid_file for _, _, pid_file in started]
        events = [_events(out) for _, out, _ in started]
        # Every process got SIGTERM before the first one was done exiting.
        assert max(e["term"] for e in events) < min(e["exit"] for e in events)
        for proc, _, pid_file in started:
            assert proc.wait(timeout=5) == 0
            assert not pid_file.exists()
    finally:
        for proc, _, _ in started:
            if proc.poll() is None:
                proc.kill()


def test_a_zombie_leader_does_not_hold_up_the_stop(tmp_path):
    """The leader exits at SIGTERM but nobody reaps it (as pid 1 here, every 2 s): the
    group is over, and stop must not wait for the reaper (it did, for 2 s per server)."""
    leader_file = tmp_path / "leader"
    parent = subprocess.Popen([sys.executable, "-c", NO_REAP_PARENT, str(leader_file)])
    try:
        _wait_for(leader_file, text=True)
        leader = int(leader_file.read_text())
        pid_file = tmp_path / "x.pid"
        _record(pid_file, leader)
        began = time.monotonic()
        assert procs.stop_pid_file(pid_file, grace=30.0)
        took = time.monotonic() - began
        assert leader not in procs.live_groups()
        with open(f"/proc/{leader}/stat") as f:  # still there, unreaped
            assert f.read().rsplit(")", 1)[1].split()[0] == "Z"
        assert took < 10.0, f"stop waited {took:.1f} s for a zombie (grace was 30 s)"
    finally:
        parent.kill()
        parent.wait(timeout=5)


def test_sigkill_after_the_grace(tmp_path):
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" \
           "open(%r, 'w').close()\ntime.sleep(60)\n" % str(tmp_path / "ready")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        _wait_for(tmp_path / "ready")
        _record(tmp_path / "x.pid", proc.pid)
        assert procs.stop_pid_file(tmp_path / "x.pid", grace=0.2)
        assert proc.wait(timeout=5) == -9
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_process_of_another_start_time_is_left_alone(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            start_new_session=True)
    try:
        (tmp_path / "x.pid").write_text(f"{proc.pid} 1")
        assert procs.stop_pid_files([tmp_path / "x.pid"]) == []
        assert proc.poll() is None
        assert not (tmp_path / "x.pid").exists()
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_live_groups_excludes_zombies_and_includes_ourselves():
    assert os.getpgid(0) in procs.live_groups()
    child = subprocess.Popen(["true"], start_new_session=True)
    while True:
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.01)
    try:
        assert child.pid not in procs.live_groups()
    finally:
        child.wait()
