"""What the storlets engine costs: plain GET vs the identity storlet.

Same objects, same keep-alive connection, the three ways interleaved in one
run (the machine is shared and noisy; only side-by-side ratios mean much).
"""
from __future__ import annotations

import argparse
import os

from _common import fresh_s2aio, median_ms, put_identity, timed
from swiftproto import run_headers  # noqa: E402  (_common puts the repository on sys.path)

SIZES = {"100 KB": 100 * 1024, "10 MB": 10 * 1024 * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with fresh_s2aio() as aio:
        conn = aio.connection("test")
        storlet = put_identity(conn)
        conn.put_container("bench")
        ways = {
            "plain GET": {},
            "identity, object server": run_headers(storlet),
            "identity, proxy": run_headers(storlet, on_proxy=True),
        }
        print(f"engine_overhead: {args.rounds} rounds, medians")
        print(f"{'object':8} {'way':26} {'median':>10} {'vs plain':>9}")
        for label, size in SIZES.items():
            payload = os.urandom(size)
            conn.put_object("bench", label, payload)
            for headers in ways.values():  # warm: daemons started, caches filled
                conn.get_object("bench", label, headers=headers)
            samples: dict[str, list[float]] = {way: [] for way in ways}
            for _ in range(args.rounds):
                for way, headers in ways.items():
                    samples[way].append(timed(
                        lambda: conn.get_object("bench", label, headers=headers)))
            plain = median_ms(samples["plain GET"])
            for way in ways:
                ms = median_ms(samples[way])
                print(f"{label:8} {way:26} {ms:8.1f} ms {ms / plain:8.1f}x")
        conn.close()


if __name__ == "__main__":
    main()
