"""s2aio's bubblewrap gateway and storlets' own podman gateway, side by side.

Two fresh s2aio data dirs, one per gateway, started one after the other: start
time (the podman one also reports an image build, 0 when the image is cached),
a storlet's first call (its sandbox or container started from nothing), then
warm identity GETs of 100 KB on the object server, interleaved so that the
machine's noise hits both alike. Needs root and `make podman-deps`.

Usage: ``python bench/podman_gateway.py [REPEAT]``.
"""
from __future__ import annotations

import sys
import tempfile
import time

from _common import free_port, interleaved, put_identity, timed

from s2aio import S2AIO

SIZE = 100 * 1024


def start(mode: str) -> tuple[S2AIO, float]:
    aio = S2AIO(tempfile.mkdtemp(prefix=f"s2aio-b{mode[0]}"), free_port(), gateway_mode=mode)
    began = time.perf_counter()
    aio.start()
    return aio, time.perf_counter() - began


def main() -> int:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    rows, calls, aios = {}, {}, []
    try:
        for mode in ("bwrap", "podman"):
            aio, started = start(mode)
            aios.append(aio)
            conn = aio.connection("test")
            storlet = put_identity(conn)
            conn.put_container("b")
            conn.put_object("b", "o", b"x" * SIZE)

            def call(conn=conn, storlet=storlet) -> None:
                conn.get_object("b", "o", headers={"X-Run-Storlet": storlet})

            first = timed(call)
            rows[mode] = {"start_s": started, "image_build_s": aio.image_build_s,
                          "first_call_s": first}
            calls[mode] = call
        warm = interleaved(calls, repeat)
    finally:
        for aio in aios:
            aio.reset()
    print(f"{'gateway':8} {'start':>8} {'image build':>12} {'first call':>11} "
          f"{'warm identity 100 KB (median)':>30}")
    for mode, row in rows.items():
        print(f"{mode:8} {row['start_s']:7.1f}s {row['image_build_s']:11.1f}s "
              f"{row['first_call_s']:10.2f}s {warm[mode]:28.1f}ms")
    print(f"podman / bwrap, warm call: {warm['podman'] / warm['bwrap']:.2f}x "
          f"({repeat} interleaved calls each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
