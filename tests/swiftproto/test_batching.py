"""Listing batches: within Swift's header lines and the engine's SBus message, names intact."""
from __future__ import annotations

import json

from swiftproto import batches, listing_calls
from swiftproto.batching import DEFAULT_BATCH, STAMPED_METADATA_BYTES, max_inputs
from swiftproto.protocol import MAX_HEADER_BYTES, MAX_HEADER_LINE

from .test_protocol import NAMES, middleware_parameters


def test_batches_respect_the_header_and_sbus_limits():
    paths = [f"/notebooks/dir/notebook-{i:04d}-{'x' * 150}.ipynb" for i in range(500)]
    groups = batches(paths, metadata_bytes=0)
    assert sum(groups, []) == paths
    assert all(len(",".join(g)) <= MAX_HEADER_BYTES < 8192 for g in groups)
    assert len(groups[0]) == MAX_HEADER_BYTES // (len(paths[0]) + 1) < max_inputs(0)
    short = [f"/c/{i}.ipynb" for i in range(100)]
    assert max(len(g) for g in batches(short)) == max_inputs(100) == DEFAULT_BATCH
    with_names = batches(short, names=[p[3:] for p in short], metadata_bytes=0)
    assert len(with_names[0]) < max_inputs(0) and 30 <= len(with_names[0]) <= 50
    assert all(len(g) <= 10 for g in batches(paths, max_count=10))


def test_calls_cover_every_object_once_in_order_within_every_header_line():
    names = [f"{i:03d}-{'é' * 60}.ipynb" for i in range(250)]  # escapes grow when quoted
    calls = listing_calls("c", names, names, metadata_bytes=STAMPED_METADATA_BYTES,
                          max_count=100)
    assert [i for call in calls for i in call.indexes] == list(range(250))
    for call in calls:
        assert call.obj == names[call.indexes[0]] and len(call.indexes) <= 100
        assert all(len(f"{k}: {v}") < MAX_HEADER_LINE for k, v in call.headers.items())
        assert max(len(v) for v in call.headers.values()) <= MAX_HEADER_BYTES


def test_calls_send_names_the_storlet_reads_back_exactly():
    objects = [f"dir/{n}" for n in NAMES]
    calls = listing_calls("c", objects, NAMES, max_count=3)
    assert [len(c.indexes) for c in calls] == [3, 3, 2]
    for call in calls:
        params = middleware_parameters(call.headers)
        assert json.loads(params["names"]) == [NAMES[i] for i in call.indexes]
        assert params["format"] == "json"
        assert call.headers["X-Run-Storlet"] == "nblisting.py"
        assert "X-Storlet-Run-On-Proxy" in call.headers
    assert calls[0].headers["X-Storlet-Extra-Resources"].split(",") == [
        "/c/dir/b%20c%26d%3De.ipynb", "/c/dir/%C3%BCn%C3%AF%20%E2%9C%93.ipynb"]


def test_one_notebook_is_one_call_without_extra_resources():
    [call] = listing_calls("c", ["a.ipynb"], ["a.ipynb"])
    assert call.indexes == [0] and "X-Storlet-Extra-Resources" not in call.headers
