"""What the first call after a long idle costs on this machine, for three paths.

The engine's target (the first storlet call after 10 idle minutes within 2x a warm
call) depends on how the machine treats processes that slept. This bench measures,
each after its own ``--idle`` seconds without any call (one sample each, then the
median of the warm calls right after it):

- ``py``: a request/answer between two Python processes over a pipe, with a
  little JSON work (no Swift at all): the machine's own cost of waking idle
  processes;
- ``plain``: a plain GET of a 100 KB object through Swift (proxy, object server,
  memcached);
- ``identity``: the same GET through the identity storlet (the engine too).

It also prints the kernel's counters over each first call (page faults, file
pages read back after eviction). A whole run takes ``len(order) * idle`` seconds:

    python bench/idle_wakeup.py [--idle 600] [--order identity,plain,py]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, put_identity  # noqa: E402
from swiftproto import run_headers  # noqa: E402

VMSTAT_KEYS = ("pgfault", "pgmajfault", "workingset_refault_file")


def vmstat() -> dict[str, int]:
    with open("/proc/vmstat") as f:
        pairs = (line.split() for line in f)
        return {k: int(v) for k, v in pairs if k in VMSTAT_KEYS}


def echo_worker(conn) -> None:
    """The other end of the ``py`` path: parse a small JSON text per request."""
    text = json.dumps({"cells": [{"source": "x" * 40, "n": i} for i in range(500)]})
    while conn.recv_bytes() != b"quit":
        json.loads(text)
        conn.send_bytes(b"ok")


def timed_ms(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def after_idle(fn: Callable[[], object], idle: float, warm_calls: int = 15) -> dict:
    time.sleep(idle)
    before = vmstat()
    cold = timed_ms(fn)
    after = vmstat()
    warm = statistics.median(timed_ms(fn) for _ in range(warm_calls))
    return {"cold": cold, "warm": warm,
            "vmstat": {k: after[k] - before[k] for k in VMSTAT_KEYS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=600.0)
    parser.add_argument("--order", default="identity,plain,py")
    args = parser.parse_args(argv)
    order = [k.strip() for k in args.order.split(",") if k.strip()]
    from s2aio import S2AIO

    ours, theirs = multiprocessing.Pipe()
    worker = multiprocessing.Process(target=echo_worker, args=(theirs,), daemon=True)
    worker.start()
    aio = S2AIO(tempfile.mkdtemp(prefix="s2aio-idle-"), free_port())
    try:
        aio.start()
        conn = aio.connection("test")
        put_identity(conn)
        conn.put_container("bench")
        conn.put_object("bench", "o100k", os.urandom(100 * 1024))

        def py() -> None:
            ours.send_bytes(b"go")
            ours.recv_bytes()

        paths = {"py": py,
                 "plain": lambda: conn.get_object("bench", "o100k"),
                 "identity": lambda: conn.get_object("bench", "o100k",
                                                     headers=run_headers("identity.py"))}
        unknown = set(order) - set(paths)
        if unknown:
            parser.error(f"unknown path(s): {', '.join(sorted(unknown))}")
        for _ in range(20):
            for fn in paths.values():
                fn()
        print(f"idle_wakeup: the first call after {args.idle:.0f} s idle vs the warm calls "
              "right after it", flush=True)
        for name in order:
            got = after_idle(paths[name], args.idle)
            print(f"  {time.strftime('%H:%M:%S')} {name:8} first {got['cold']:7.2f} ms, warm "
                  f"{got['warm']:6.2f} ms ({got['cold'] / got['warm']:.2f}x)  "
                  + " ".join(f"{k} {v}" for k, v in got["vmstat"].items()), flush=True)
        conn.close()
    finally:
        ours.send_bytes(b"quit")
        worker.join(5)
        aio.reset()
    return 0


if __name__ == "__main__":
    sys.exit(main())
