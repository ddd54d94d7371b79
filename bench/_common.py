"""Helpers shared by the benchmarks: a throwaway s2aio and timing."""
from __future__ import annotations

import contextlib
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from swiftproto import storlet_object_headers  # noqa: E402  (after the path insert)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def fresh_s2aio(**settings) -> Iterator["object"]:
    """``settings``: more of ``S2AIO``'s arguments (e.g. ``gateway``)."""
    from s2aio import S2AIO

    aio = S2AIO(tempfile.mkdtemp(prefix="s2aio-b"), free_port(), **settings)
    try:
        aio.start()
        yield aio
    finally:
        aio.reset()


def put_identity(conn) -> str:
    source = (REPO / "storlets_apps" / "identity.py").read_bytes()
    conn.put_object("storlet", "identity.py", source,
                    headers=storlet_object_headers("identity.IdentityStorlet"))
    return "identity.py"


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def interleaved(calls: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median ms per call, the calls taken round-robin so that noise hits all alike."""
    for fn in calls.values():
        fn()  # warm: daemons up, caches filled
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            samples[name].append(timed(fn))
    return {name: median_ms(values) for name, values in samples.items()}


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000
