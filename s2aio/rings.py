"""Rings with one device per node, written with Swift's own RingBuilder.

One replica: one device ``d1``. N replicas: node n's device ``d<n>`` on its own
port, in zone n, so that Swift places each replica of a partition on another node.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

PART_POWER = 10
MIN_PART_HOURS = 1


def device_name(node: int) -> str:
    return f"d{node}"


def ring_devices(ports: Sequence[int]) -> list[dict]:
    """One device per node: ``ports[i]`` is node i+1's server port for this ring."""
    return [{"id": i, "region": 1, "zone": i + 1, "ip": "127.0.0.1", "port": port,
             "device": device_name(i + 1), "weight": 100.0, "meta": ""}
            for i, port in enumerate(ports)]


def builder_args(replicas: int) -> tuple[int, float, int]:
    """RingBuilder(part_power, replicas, min_part_hours)."""
    return PART_POWER, float(replicas), MIN_PART_HOURS


def build_ring(etc: Path, kind: str, ports: int | Sequence[int]) -> Path:
    """Build ``<kind>.ring.gz`` with as many replicas as there are ports (nodes)."""
    # Imported here: swift is heavy and only needed when a data dir is created.
    from swift.common.ring import RingBuilder

    ports = [ports] if isinstance(ports, int) else list(ports)
    builder = RingBuilder(*builder_args(len(ports)))
    for dev in ring_devices(ports):
        builder.add_dev(dev)
    builder.rebalance()
    ring_path = etc / f"{kind}.ring.gz"
    builder.get_ring().save(str(ring_path))
    builder.save(str(etc / f"{kind}.builder"))
    return ring_path
