"""How busy s2aio's servers are over a few quiet seconds (a spinning thread shows)."""
from __future__ import annotations

import os
import time

from s2aio import procs

SERVERS = ("proxy", "object")
IDLE = 0.10  # of one core
SETTLE = 1.0  # seconds for the calls' own tail work (logging, connection close) to end
WINDOW = 5.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a server and its workers (its direct children)."""
    total = 0.0
    for p in [pid] + procs.child_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def busy(aio) -> dict[str, float]:
    """Each server's CPU over ``WINDOW`` seconds, in cores."""
    time.sleep(SETTLE)
    pids = {}
    for name in SERVERS:
        pid = procs.read_pid_file(aio.layout.pid_file(name))
        assert pid is not None, f"{name} is not running"
        pids[name] = pid
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    began = time.monotonic()
    time.sleep(WINDOW)
    elapsed = time.monotonic() - began
    return {name: round((cpu_seconds(pid) - before[name]) / elapsed, 3)
            for name, pid in pids.items()}


def assert_idle(aio, after: str) -> None:
    load = busy(aio)
    assert all(v < IDLE for v in load.values()), (
        f"after {after}, a server kept using CPU (cores over {WINDOW:.0f} s): {load}")
