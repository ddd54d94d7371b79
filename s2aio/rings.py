"""One-replica rings with one device each, written with Swift's own RingBuilder."""
from __future__ import annotations

from pathlib import Path

DEVICE = "d1"
PART_POWER = 10


def build_ring(etc: Path, kind: str, port: int) -> Path:
    # Imported here: swift is heavy and only needed when a data dir is created.
    from swift.common.ring import RingBuilder

    builder = RingBuilder(PART_POWER, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
                     "device": DEVICE, "weight": 100.0, "meta": ""})
    builder.rebalance()
    ring_path = etc / f"{kind}.ring.gz"
    builder.get_ring().save(str(ring_path))
    builder.save(str(etc / f"{kind}.builder"))
    return ring_path
