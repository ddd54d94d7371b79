"""From a fresh data dir to healthy, to the first storlet result, and back to stopped.

Targets: healthy in under 10 s, first storlet result in under 3 s (issue 2); stop in
at most 3 s, with one replica and with three (issue 11). Runs several fresh data dirs
one after another (one replica, then three) and prints medians.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from _common import free_port, put_identity
from swiftproto import run_headers  # noqa: E402  (_common puts the repository on sys.path)


def one_run(replicas: int) -> tuple[float, float, float, int]:
    """(healthy, first storlet result, stop) in seconds, and how many processes stopped."""
    from s2aio import S2AIO

    aio = S2AIO(tempfile.mkdtemp(prefix="s2aio-b"), free_port(), replicas=replicas)
    try:
        began = time.perf_counter()
        aio.start()
        healthy = time.perf_counter() - began
        first = time.perf_counter()
        conn = aio.connection("test")
        conn.put_container("bench")
        conn.put_object("bench", "o", b"hello")
        storlet = put_identity(conn)
        _, body = conn.get_object("bench", "o", headers=run_headers(storlet))
        assert body == b"hello"
        first_result = time.perf_counter() - first
        conn.close()
        count = aio.running_count()  # servers, helpers and the storlet's sandbox
        stop = time.perf_counter()
        aio.stop()
        stopped = time.perf_counter() - stop
        return healthy, first_result, stopped, count
    finally:
        aio.reset()


def _line(label: str, values: list[float], target: str) -> str:
    return (f"  {label:32} median {statistics.median(values):6.2f} s  ({target})"
            f"  runs: {', '.join(f'{v:.2f}' for v in values)}")


def report(replicas: int, runs: list[tuple[float, float, float, int]]) -> None:
    healthy, first, stop = ([r[k] for r in runs] for k in range(3))
    print(f"s2aio_start: {len(runs)} fresh data dirs, {replicas} replica(s) "
          f"(libsbus.so cached)")
    print(_line("fresh data dir -> healthy", healthy, "target < 10 s"))
    print(_line("healthy -> first storlet result", first, "target < 3 s"))
    print(f"  {'fresh data dir -> first result':32} median "
          f"{statistics.median(healthy) + statistics.median(first):6.2f} s")
    print(_line(f"stop ({runs[0][3]} processes)", stop, "target <= 3 s"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="fresh data dirs per replica count")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3],
                        help="replica counts to measure (default: 1 3)")
    args = parser.parse_args()
    for replicas in args.replicas:
        report(replicas, [one_run(replicas) for _ in range(args.runs)])


if __name__ == "__main__":
    main()
