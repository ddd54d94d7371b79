"""Chunked uploads on a real s2aio: the manifest comes from what the chunks recorded,
never from a container listing; retries are idempotent; abandoned segments go."""
from __future__ import annotations

import base64
import logging

import pytest
from tornado import web

from swiftcontents import operations

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
PATH = "big.bin"


def chunk_model(n: int, data: bytes) -> dict:
    return {"type": "file", "format": "base64", "chunk": n,
            "content": base64.b64encode(data).decode()}


async def upload(cm, parts: list[bytes], path: str = PATH) -> dict:
    numbers = list(range(1, len(parts))) + [-1]
    model = {}
    for n, part in zip(numbers, parts):
        model = await cm.save(chunk_model(n, part), path)
    return model


async def read(cm, path: str = PATH) -> bytes:
    return base64.b64decode((await cm.get(path, format="base64"))["content"])


def segments(cm) -> list[str]:
    return [r["name"] for r in cm.store.list_aux("segments/")]


PARTS = [bytes([65 + i]) * (100 + i) for i in range(7)]


async def test_a_lagging_listing_never_truncates_the_file(cm, monkeypatch):
    """Listings that show no segment at all (the worst lag) change nothing."""
    monkeypatch.setattr(operations, "SLO_MAX_SEGMENTS", 3)  # nested manifests too
    original = cm.store.list_aux
    monkeypatch.setattr(cm.store, "list_aux", lambda prefix, delimiter=None: [] if prefix.startswith("segments/") else original(prefix, delimiter))
    model = await upload(cm, PARTS)
    assert model["size"] == sum(map(len, PARTS))
    assert await read(cm) == b"".join(PARTS)


async def test_retried_chunks_and_a_retried_finish_are_idempotent(cm, monkeypatch):
    monkeypatch.setattr(operations, "SLO_MAX_SEGMENTS", 3)  # > 'max segments': nested
    await cm.save(chunk_model(1, PARTS[0]), PATH)
    await cm.save(chunk_model(2, PARTS[1]), PATH)
    await cm.save(chunk_model(2, PARTS[1]), PATH)  # a retried middle chunk
    for n, part in zip(range(3, 7), PARTS[2:6]):
        await cm.save(chunk_model(n, part), PATH)
    await cm.save(chunk_model(-1, PARTS[6]), PATH)
    first = segments(cm)
    model = await cm.save(chunk_model(-1, PARTS[6]), PATH)  # retried after success
    assert model["size"] == sum(map(len, PARTS))
    assert await read(cm) == b"".join(PARTS)
    assert segments(cm) == first  # nothing appended, nothing nested twice
    # A finish retried before its first attempt was recorded (a crash after the
    # manifest PUT): the same manifest again, never the upload's own segments deleted.
    record = operations._read_record(cm.store, operations.upload_record(cm.store, PATH))
    record["done"] = False
    await cm.run(operations.finish_upload, cm.store, PATH, record, None)
    assert await read(cm) == b"".join(PARTS)
    assert segments(cm) == first


async def test_a_lost_record_update_is_repaired_from_the_segments(cm):
    """A concurrent chunk may overwrite another's record update: the segments, read
    by name, fill the gaps (and what lies past the highest recorded chunk)."""
    for n, part in zip(range(1, 6), PARTS[:5]):
        await cm.save(chunk_model(n, part), PATH)
    name = operations.upload_record(cm.store, PATH)
    record = operations._read_record(cm.store, name)
    for lost in ("2", "5"):
        del record["parts"][lost]
    operations._write_record(cm.store, name, record)
    await cm.save(chunk_model(-1, PARTS[5]), PATH)
    assert await read(cm) == b"".join(PARTS[:6])


async def test_a_missing_segment_is_a_clear_error_and_the_old_file_stays(cm):
    await cm.save({"type": "file", "format": "text", "content": "old version"}, PATH)
    for n, part in zip(range(1, 5), PARTS[:4]):
        await cm.save(chunk_model(n, part), PATH)
    record = operations._read_record(cm.store, operations.upload_record(cm.store, PATH))
    cm.store.delete_object(operations.segment_name(record["id"], 3), aux=True)
    with pytest.raises(web.HTTPError) as err:
        await cm.save(chunk_model(-1, PARTS[4]), PATH)
    assert err.value.status_code == 409 and "upload the file again" in err.value.log_message
    assert (await cm.get(PATH))["content"] == "old version"


async def test_a_chunk_without_an_upload_appends_to_the_file(cm):
    await cm.save({"type": "file", "format": "text", "content": "head-"}, PATH)
    await cm.save(chunk_model(2, b"middle-"), PATH)
    await cm.save(chunk_model(-1, b"tail"), PATH)
    assert await read(cm) == b"head-middle-tail"


async def test_abandoned_uploads_lose_their_segments_with_a_log_line(cm, caplog):
    caplog.set_level(logging.INFO, logger="swiftcontents.operations")
    await cm.save(chunk_model(1, PARTS[0]), PATH)
    await cm.save(chunk_model(2, PARTS[1]), PATH)
    old = operations._read_record(cm.store, operations.upload_record(cm.store, PATH))["id"]
    await upload(cm, PARTS[:3])  # a new chunk 1 for the same path replaces it
    assert not [s for s in segments(cm) if old in s]
    assert any("replaced by a new upload" in r.getMessage() for r in caplog.records)
    assert await read(cm) == b"".join(PARTS[:3])
    # an upload left without its final chunk for longer than the expiry
    await cm.save(chunk_model(1, PARTS[0]), "other.bin")
    await cm.save(chunk_model(2, PARTS[1]), "other.bin")
    stale = operations._read_record(cm.store, operations.upload_record(cm.store, "other.bin"))["id"]
    assert await cm.run(operations.sweep_uploads, cm.store, 0.0) == 1
    left = segments(cm)
    assert not [s for s in left if stale in s]
    assert left and await read(cm) == b"".join(PARTS[:3])  # the finished file keeps its own
    assert any("no chunk for" in r.getMessage() for r in caplog.records)
    # the sweep runs from a first chunk, at most once per interval
    cm.upload_expiry_hours, cm._next_sweep = 0.0, 0.0
    await cm.save(chunk_model(1, PARTS[0]), "third.bin")  # sweeps (big.bin's record goes)
    await cm.save(chunk_model(1, PARTS[0]), "fourth.bin")  # no second sweep yet
    names = {r["name"] for r in cm.store.list_aux("uploads/")}
    assert operations.upload_record(cm.store, PATH) not in names
    assert operations.upload_record(cm.store, "third.bin") in names
