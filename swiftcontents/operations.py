"""Multi-step Swift operations for swiftcontents, built on ``store.Store``'s single requests.

Like swiftclient's ``service.py`` over ``client.py``: replacing an object that may
be a large one, chunked uploads (segments + a static large object manifest), and
whole-tree work (copy, delete) and renames of files and directories with their
checkpoints, under a journal. Blocking;
the manager runs each operation in its thread pool.

Objects this module keeps in the auxiliary container::

    segments/<upload id>/<00000001>             chunks of a large upload (00000000: the
                                                file appended to, 99999999: the last chunk)
    uploads/<sha256 of the path>                the upload of a path: its id, each
                                                segment's ETag and size, done or not
    renames/<sha256 of the old path>            journal of a directory rename
    retired/<uuid>                              a replaced manifest, until its segments go
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from .errors import SwiftContentsError
from .store import EPOCH, Entry, Store, parse_http_date, parse_listing_time, parse_x_timestamp

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

SLO_MAX_SEGMENTS = 1000  # Swift's default max_manifest_segments
BULK_WORKERS = 8
SUBDIR_TIMES_MAX = 100  # subdirectories of one listing whose markers are read for their time


def rekey(name: str, old: str, new: str) -> str:
    """'old/x/y' -> 'new/x/y' (also the marker 'old/' -> 'new/')."""
    return new + name[len(old):]


def map_parallel(fn: Callable[[Any], Any], items: list[Any]) -> None:
    """Run ``fn`` over ``items`` on a few threads (each has its own connection)."""
    if len(items) <= 1:
        for item in items:
            fn(item)
        return
    with ThreadPoolExecutor(min(BULK_WORKERS, len(items))) as pool:
        for _ in pool.map(fn, items):
            pass


# -- replacing an object ------------------------------------------------------------
def retire(store: Store, path: str, keep_upload: str | None = None) -> str | None:
    """Before replacing ``path``: park an old large-object manifest in the aux
    container so its segments can be deleted once the new version is in place
    (not one put by the upload ``keep_upload``: a retried finish keeps its own)."""
    old = store.head(path)
    if old is None or not old.is_manifest:
        return None
    if keep_upload is not None and old.meta.get(UPLOAD_META) == keep_upload:
        return None
    parked = f"retired/{uuid.uuid4().hex}"
    store.copy(store.key(path), parked, dst_aux=True, manifest_only=True)
    return parked


def drop_retired(store: Store, parked: str | None) -> None:
    if parked:
        store.delete_object(parked, aux=True, manifest=True)


def replace_file(store: Store, path: str, data: bytes, content_type: str) -> dict[str, str]:
    """PUT ``path``; a large object it replaces takes its segments with it."""
    parked = retire(store, path)
    response = store.write(path, data, content_type)
    drop_retired(store, parked)
    return response


def written_entry(store: Store, path: str, data: bytes, response: dict[str, str]) -> Entry:
    """The object just PUT from ``data``, its time exact to the microsecond.

    From the PUT's response when the proxy echoes its ``X-Timestamp``
    (s2aio.filters.put_echo); else one HEAD (a PUT response gives Last-Modified
    rounded *up* to the next second). If another writer replaced it before that
    HEAD, the PUT's second floored: earlier than that writer's time, so the client
    still sees the object changed after its save.
    """
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    echoed = store.echoed_entry(path, digest, len(data), response)
    if echoed is not None:
        return echoed
    entry = store.head(path)
    if entry is not None and entry.etag == digest:
        return entry
    when = EPOCH
    if "last-modified" in response:
        when = parse_http_date(response["last-modified"]) - dt.timedelta(seconds=1)
    return Entry(name=path, is_dir=False, size=len(data), last_modified=when)


def dir_times(store: Store, dirs: list[str], default: dt.datetime) -> dict[str, dt.datetime]:
    """Times of directories (their markers'), a HEAD each on a few threads, for at most
    ``SUBDIR_TIMES_MAX`` of them; the others, and those without a marker, get ``default``."""
    times = dict.fromkeys(dirs, default)

    def one(path: str) -> None:
        head = store.head(path + "/")
        if head is not None:
            times[path] = head.last_modified

    map_parallel(one, dirs[:SUBDIR_TIMES_MAX])
    return times


def restore_copy(store: Store, src_aux_name: str, path: str) -> None:
    """Replace ``path`` by a server-side copy of an aux object (one atomic replace)."""
    parked = retire(store, path)
    store.copy(src_aux_name, store.key(path), src_aux=True)
    drop_retired(store, parked)


# -- large uploads (segments + a static large object manifest) -----------------------
# The manifest is built from what each chunk's PUT recorded (its ETag and size), and
# from HEADs of segments by name: never from a container listing, which may lag and
# would then silently drop a segment (or, on a retried finish past 1,000 segments,
# list the nested manifests of the first attempt as data).
LAST_CHUNK_SEGMENT = 99999999  # the final chunk (-1): sorts after every numbered one
APPEND_SEGMENT = 0  # an upload without a chunk 1 appends to the file (LargeFileManager)
UPLOAD_EXPIRY = 24 * 3600.0  # seconds without a chunk before an upload is abandoned
UPLOAD_META = "sc-upload"  # metadata on a finished manifest: the upload it came from


def upload_record(store: Store, path: str) -> str:
    return "uploads/" + hashlib.sha256(store.key(path).encode()).hexdigest()


def segment_name(upload_id: str, number: int) -> str:
    return f"segments/{upload_id}/{number:08d}"


def read_newest_json(store: Store, name: str) -> tuple[dict[str, str], Any] | None:
    """An aux object's headers and parsed JSON, from the newest replica (a stale one
    could name an older upload or rename); None if absent; its value None if not JSON."""
    try:
        headers, body = store.read_aux(name, headers={"X-Newest": "true"})
    except SwiftContentsError as exc:
        if exc.status != 404:
            raise
        return None
    try:
        return headers, json.loads(body)
    except ValueError:
        return headers, None


def _read_record(store: Store, name: str) -> dict[str, Any] | None:
    """An upload record (None if absent or unreadable)."""
    found = read_newest_json(store, name)
    if found is None:
        return None
    record = found[1]
    if isinstance(record, dict) and isinstance(record.get("id"), str):
        return record
    log.warning("Ignoring an unreadable upload record %s", name)
    return None


def _write_record(store: Store, name: str, record: dict[str, Any]) -> None:
    store.write_aux(name, json.dumps(record, sort_keys=True).encode())


def _new_record(store: Store, path: str, first: int) -> dict[str, Any]:
    """``first``: the first chunk number (chunk 1, or the one an append starts with)."""
    return {"path": store.key(path), "id": uuid.uuid4().hex, "parts": {}, "done": False,
            "first": first}


def abandon_upload(store: Store, record: dict[str, Any], why: str) -> int:
    """Delete an unfinished upload's segments (recorded ones, the final chunk's, and
    whatever a listing shows, nested manifests included); how many went."""
    upload_id = record["id"]
    names = {segment_name(upload_id, int(n)) for n in record.get("parts", {})}
    names.add(segment_name(upload_id, LAST_CHUNK_SEGMENT))
    names.update(r["name"] for r in store.list_aux(f"segments/{upload_id}/") if "name" in r)
    map_parallel(lambda n: store.delete_object(n, aux=True), sorted(names))
    log.info("Deleted the segments of upload %s of %s (%s)", upload_id, record.get("path"), why)
    return len(names)


def put_chunk(store: Store, path: str, chunk: int, data: bytes) -> dict[str, Any] | None:
    """Store one chunk as a segment and record its ETag and size; the upload's
    record, or None when ``chunk`` is a retried final chunk of a finished upload.

    Chunk 1 starts an upload (an unfinished one for the same path is abandoned);
    a later chunk without an upload appends to the file, as LargeFileManager does.
    """
    name = upload_record(store, path)
    record = _read_record(store, name)
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if chunk == -1 and record is not None and record.get("done") and record.get("final") == digest:
        return None  # a retry of a finish that already completed: nothing to do
    if chunk == 1 or record is None or record.get("done"):
        if record is not None and not record.get("done"):
            abandon_upload(store, record, "replaced by a new upload of the same file")
        record = _new_record(store, path, max(chunk, 1))
        if chunk != 1:
            _append_to_existing(store, path, record)
    number = LAST_CHUNK_SEGMENT if chunk == -1 else chunk
    store.write_aux(segment_name(record["id"], number), data, headers={"ETag": digest})
    record["parts"][str(number)] = [digest, len(data)]
    if chunk == -1:
        record["final"] = digest
    else:  # (the final chunk's record is written once, by finish_upload)
        _write_record(store, name, record)
    return record


def _append_to_existing(store: Store, path: str, record: dict[str, Any]) -> None:
    entry = store.head(path)
    if entry is None:
        return
    seg = segment_name(record["id"], APPEND_SEGMENT)
    store.copy(store.key(path), seg, dst_aux=True)
    head = store.head_aux(seg) or {}
    record["parts"][str(APPEND_SEGMENT)] = [head.get("etag", "").strip('"'),
                                            int(head.get("content-length", 0))]


def complete_parts(store: Store, record: dict[str, Any]) -> list[tuple[int, str, int]]:
    """(number, etag, size) of every segment, in order: those the record lacks (a
    lost update of a concurrent or retried chunk) from a HEAD of the segment by name,
    past the highest one too. A chunk that never arrived is an error, never a
    silently shorter file."""
    upload_id = record["id"]
    parts = {int(n): (e, int(s)) for n, (e, s) in record.get("parts", {}).items()}
    if LAST_CHUNK_SEGMENT not in parts:
        raise SwiftContentsError(409, "the upload has no final chunk (-1)")
    numbered = [n for n in parts if n not in (APPEND_SEGMENT, LAST_CHUNK_SEGMENT)]
    top = max(numbered, default=0)
    missing = [n for n in range(int(record.get("first", 1)), top + 1) if n not in parts]
    heads = {}
    if missing:
        def one(n: int) -> None:
            heads[n] = store.head_aux(segment_name(upload_id, n))

        map_parallel(one, missing)
    lost = [n for n in missing if heads.get(n) is None]
    if lost:
        raise SwiftContentsError(409, (
            f"chunk {lost[0]} of {record.get('path')} never arrived ({len(lost)} missing): "
            "nothing was replaced; upload the file again"))
    for n in missing:
        parts[n] = (heads[n].get("etag", "").strip('"'), int(heads[n].get("content-length", 0)))
    while True:  # chunks past the highest recorded one (a stale or lost record update)
        head = store.head_aux(segment_name(upload_id, top + 1))
        if head is None:
            break
        top += 1
        parts[top] = (head.get("etag", "").strip('"'), int(head.get("content-length", 0)))
    return [(n, *parts[n]) for n in sorted(parts)]


def finish_upload(store: Store, path: str, record: dict[str, Any],
                  content_type: str | None) -> None:
    """Put the manifest at ``path`` (atomic replace), nested past 1,000 segments.

    Idempotent: every name is derived from the upload id and segment numbers, and a
    version of ``path`` that this very upload already put is never retired."""
    upload_id = record["id"]
    parts = complete_parts(store, record)
    segs = [{"path": f"/{store.aux_container}/{segment_name(upload_id, n)}", "etag": etag,
             "size_bytes": size} for n, etag, size in parts if size > 0]
    parked = retire(store, path, keep_upload=upload_id)
    if not segs:  # Swift refuses an empty manifest: an empty file is an empty object
        store.write(path, b"", content_type)
    else:
        try:  # Swift checks each segment's ETag and size against the manifest
            level = 0
            while len(segs) > SLO_MAX_SEGMENTS:  # manifests of manifests
                level += 1
                segs = _nest(store, upload_id, level, segs)
            store.put_manifest(store.key(path), segs, content_type=content_type,
                               headers={"X-Object-Meta-" + UPLOAD_META: upload_id})
        except SwiftContentsError as exc:
            if exc.status != 400:
                raise
            raise SwiftContentsError(409, (
                f"a chunk of {path} is missing or changed in Swift ({exc.message}): "
                "nothing was replaced; upload the file again")) from None
    record.update(done=True, parts={str(n): [e, s] for n, e, s in parts})
    _write_record(store, upload_record(store, path), record)
    drop_retired(store, parked)


def _nest(store: Store, upload_id: str, level: int,
          segs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One manifest per 1,000 segments; the segments of the next level up."""
    out = []
    for i in range(0, len(segs), SLO_MAX_SEGMENTS):
        name = f"segments/{upload_id}/m{level}-{i // SLO_MAX_SEGMENTS:05d}"
        store.put_manifest(name, segs[i:i + SLO_MAX_SEGMENTS], aux=True)
        out.append({"path": f"/{store.aux_container}/{name}", "etag": None, "size_bytes": None})
    return out


def sweep_uploads(store: Store, max_age: float = UPLOAD_EXPIRY,
                  now: dt.datetime | None = None) -> int:
    """Abandoned uploads (no chunk for ``max_age`` seconds) lose their segments; the
    records of finished ones that old go too (their segments belong to the file).
    How many uploads were abandoned. (A listing: a lagging one only delays this.)"""
    now = now or dt.datetime.now(dt.timezone.utc)
    abandoned = 0
    for row in store.list_aux("uploads/"):
        if "name" not in row or (now - parse_listing_time(row["last_modified"])).total_seconds() < max_age:
            continue
        record = _read_record(store, row["name"])
        if record is not None and not record.get("done"):
            abandon_upload(store, record, f"no chunk for {max_age / 3600:g} h")
            abandoned += 1
        store.delete_object(row["name"], aux=True)
    return abandoned


# -- trees (files, then directories; copy first, delete after) -----------------------
def delete_tree(store: Store, tree: list[Entry]) -> None:
    """Files first, then markers deepest first: a retry after a failure still
    sees the directory and finishes the job."""
    files = [e for e in tree if not e.is_dir]
    markers = sorted((store.prefix + e.name for e in tree if e.is_dir), key=len, reverse=True)
    map_parallel(lambda e: store.delete_object(store.prefix + e.name, manifest=e.is_manifest),
                 files)
    for name in markers:
        store.delete_object(name)


def copy_tree(store: Store, src: str, dst: str, limit_bytes: int) -> None:
    tree = store.list_tree(src)
    size = sum(e.size or 0 for e in tree)
    if size > limit_bytes:
        raise SwiftContentsError(400, (
            f"Can't copy folders larger than {limit_bytes // (1024 * 1024)}MB, "
            f"{src!r} is {size / (1024 * 1024):.1f}MB"))
    map_parallel(lambda e: store.copy(store.prefix + e.name,
                                      store.prefix + rekey(e.name, src, dst)), tree)
    store.make_dir(dst)


# -- renames (one journaled operation: objects, then checkpoints, then sources) --------
RENAME_STALE = 300.0  # seconds after which another target's journal is resumed or expired
CheckpointMover = Callable[[str, str, bool], None]  # (old, new, is_file)


def rename_journal(store: Store, old: str) -> str:
    return "renames/" + hashlib.sha256(store.key(old).encode()).hexdigest()


def rename(store: Store, old: str, new: str, move_checkpoints: CheckpointMover | None = None,
           stale_after: float = RENAME_STALE, now: dt.datetime | None = None) -> None:
    """Rename a file or a directory, and its checkpoints, as one journaled operation.

    The journal is written first and deleted last; each step is idempotent (copy
    what is still at ``old``, move the checkpoints still under ``old``, delete
    the sources), so the same rename retried after a crash at any step completes.
    A journal for another target blocks only while it may still be running
    (``stale_after`` seconds); then it is resumed, or expired if it copied nothing.
    """
    journal = rename_journal(store, old)
    pending = _pending_rename(store, journal, now)
    if pending is not None and pending["new"] != new:
        _settle(store, journal, pending, stale_after, move_checkpoints)
        pending = None
    if pending is None:
        pending = {"old": old, "new": new, "kind": _check_rename(store, old, new)}
        store.write_aux(journal, json.dumps(pending).encode())
    else:
        log.info("Resuming the rename of %s to %s", old, new)
    _run_rename(store, pending, move_checkpoints)
    store.delete_object(journal, aux=True)


def _run_rename(store: Store, job: dict[str, Any], move_checkpoints: CheckpointMover | None) -> None:
    old, new, is_file = job["old"], job["new"], job["kind"] == "file"
    if is_file:
        entry = store.head(old)
        if entry is not None:  # (its time: the one an earlier rename kept, if any)
            store.copy(store.key(old), store.key(new), manifest_only=entry.is_manifest,
                       keep_time=entry.last_modified)
        tree = [entry] if entry is not None else []
    else:
        tree = store.list_tree(old)

        def move(e: Entry) -> None:  # a HEAD: the time an earlier rename kept, if any
            when = (store.head(e.name) or e).last_modified
            store.copy(store.prefix + e.name, store.prefix + rekey(e.name, old, new),
                       manifest_only=e.is_manifest, keep_time=when)

        map_parallel(move, tree)
        if not any(e.name == old + "/" for e in tree):  # (a copied marker keeps its time)
            store.make_dir(new)
    if move_checkpoints is not None:
        move_checkpoints(old, new, is_file)
    # Manifests are deleted without their segments: those belong to the copies now.
    delete_tree(store, [dataclasses.replace(e, is_manifest=False) for e in tree])


def _settle(store: Store, journal: str, pending: dict[str, Any], stale_after: float,
            move_checkpoints: CheckpointMover | None) -> None:
    """Another target's journal: 409 while it may still run, then resumed or expired."""
    old, other, age = pending["old"], pending["new"], pending["age"]
    if age < stale_after:
        raise SwiftContentsError(409, (
            f"A rename of {old} to {other} started {age:.0f} s ago and is not finished: "
            f"retry that rename to complete it, or this one after {stale_after:.0f} s"))
    if store.head(other) is None and not store.dir_exists(other):
        log.warning("Expired the unfinished rename of %s to %s (%.0f s old; nothing "
                    "had been copied)", old, other, age)
        store.delete_object(journal, aux=True)
        return
    log.warning("Resuming the unfinished rename of %s to %s (%.0f s old) before "
                "renaming it to another name", old, other, age)
    _run_rename(store, pending, move_checkpoints)
    store.delete_object(journal, aux=True)


def _pending_rename(store: Store, journal: str, now: dt.datetime | None) -> dict[str, Any] | None:
    """The journal (with its ``age`` in seconds), or None. An unreadable one is
    dropped: it says nothing a retry could resume."""
    found = read_newest_json(store, journal)
    if found is None:
        return None
    headers, job = found
    if not (isinstance(job, dict) and all(isinstance(job.get(k), str) for k in ("old", "new"))):
        log.warning("Dropped an unreadable rename journal %s", journal)
        store.delete_object(journal, aux=True)
        return None
    job.setdefault("kind", "dir")  # (journals written before files had them)
    written = parse_x_timestamp(headers["x-timestamp"]) if "x-timestamp" in headers else EPOCH
    job["age"] = ((now or dt.datetime.now(dt.timezone.utc)) - written).total_seconds()
    return job


def _check_rename(store: Store, old: str, new: str) -> str:
    """What ``old`` is ('file' or 'dir'), once the rename is known to be possible."""
    kind = "file" if store.head(old) is not None else "dir" if store.dir_exists(old) else None
    if kind is None:
        raise SwiftContentsError(404, f"File or directory does not exist: {old}")
    if store.head(new) is not None or store.dir_exists(new):
        raise SwiftContentsError(409, f"File already exists: {new}")
    if kind == "dir" and new.startswith(old + "/"):
        raise SwiftContentsError(400, f"Can't move {old} into itself")
    parent = new.rpartition("/")[0]
    if parent and not store.dir_exists(parent):
        raise SwiftContentsError(404, f"No such directory: {parent}")
    return kind
