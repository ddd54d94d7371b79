"""From a fresh data dir to healthy, and to the first storlet result.

Targets (issue 2): healthy in under 10 s, first storlet result in under 3 s.
Runs several fresh data dirs one after another and prints medians.
"""
from __future__ import annotations

import argparse
import statistics
import time

from _common import fresh_s2aio, put_identity
from swiftproto import run_headers  # noqa: E402  (_common puts the repository on sys.path)


def one_run() -> tuple[float, float]:
    began = time.perf_counter()
    with fresh_s2aio() as aio:
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
    return healthy, first_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    healthy = statistics.median(r[0] for r in runs)
    first = statistics.median(r[1] for r in runs)
    print(f"s2aio_start: {args.runs} fresh data dirs (libsbus.so cached)")
    print(f"  fresh data dir -> healthy        median {healthy:6.2f} s  (target < 10 s)"
          f"  runs: {', '.join(f'{r[0]:.2f}' for r in runs)}")
    print(f"  healthy -> first storlet result  median {first:6.2f} s  (target < 3 s)"
          f"  runs: {', '.join(f'{r[1]:.2f}' for r in runs)}")
    print(f"  fresh data dir -> first result   median {healthy + first:6.2f} s")


if __name__ == "__main__":
    main()
