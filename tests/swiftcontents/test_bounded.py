"""Bounded memory: a fallback streams an object and refuses it past its cap (413)."""
from __future__ import annotations

import asyncio

import pytest
from tornado import web

from swiftcontents.errors import SwiftContentsError
from swiftcontents.manager import SwiftContentsManager
from swiftcontents.store import READ_CHUNK, Store


class StreamingConnection:
    """swiftclient's get_object with resp_chunk_size: headers, then a body iterator
    (here endless, counting what was pulled)."""

    url = token = None

    def __init__(self, declared: int | None, total: int | None) -> None:
        self.declared, self.total, self.pulled, self.closed = declared, total, 0, False

    def get_object(self, container, name, resp_chunk_size=None, headers=None):
        assert resp_chunk_size == READ_CHUNK  # streamed, never read whole
        conn = self

        class Body:
            def __iter__(self):
                sent = 0
                while conn.total is None or sent < conn.total:
                    n = READ_CHUNK if conn.total is None else min(READ_CHUNK, conn.total - sent)
                    conn.pulled += 1
                    sent += n
                    yield b"x" * n

            def close(self):
                conn.closed = True

        hdrs = {} if self.declared is None else {"content-length": str(self.declared)}
        return hdrs, Body()


def store_on(conn: StreamingConnection) -> Store:
    return Store(None, "c", connect_fn=lambda *a, **k: conn)


def test_an_object_past_the_cap_is_refused_after_at_most_the_cap_is_read():
    conn = StreamingConnection(declared=None, total=None)  # no length, endless body
    with pytest.raises(SwiftContentsError) as err:
        store_on(conn).read_capped("big.ipynb", 3 * READ_CHUNK)
    assert err.value.status == 413 and "3145728-byte limit" in err.value.message
    assert conn.pulled == 4 and conn.closed


def test_a_declared_length_past_the_cap_reads_nothing():
    conn = StreamingConnection(declared=10 * READ_CHUNK, total=10 * READ_CHUNK)
    with pytest.raises(SwiftContentsError) as err:
        store_on(conn).read_capped("big.ipynb", READ_CHUNK)
    assert err.value.status == 413 and conn.pulled == 0 and conn.closed


def test_an_object_within_the_cap_is_read_whole():
    conn = StreamingConnection(declared=READ_CHUNK + 5, total=READ_CHUNK + 5)
    assert store_on(conn).read_capped("ok.ipynb", 2 * READ_CHUNK) == b"x" * (READ_CHUNK + 5)


@pytest.mark.parametrize("marker", ["a/b", "x\x00", "\ud800", "n" * 1025])
def test_hostile_listing_markers_are_400(marker):
    cm = SwiftContentsManager()
    with pytest.raises(web.HTTPError) as err:  # refused before any Swift request
        asyncio.run(cm.notebook_listing("", None, marker))
    assert err.value.status_code == 400


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", "1e3"])
def test_bad_listing_limits_are_400(limit):
    with pytest.raises(web.HTTPError) as err:
        SwiftContentsManager()._listing_limit(limit)
    assert err.value.status_code == 400
    assert SwiftContentsManager()._listing_limit(None) == 100
