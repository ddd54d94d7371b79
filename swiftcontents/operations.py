"""Multi-step Swift operations for swiftcontents, built on ``store.Store``'s single requests.

Like swiftclient's ``service.py`` over ``client.py``: replacing an object that may
be a large one, chunked uploads (segments + a static large object manifest), and
whole-tree work (move, copy, delete, directory rename with a journal). Blocking;
the manager runs each operation in its thread pool.

Objects this module keeps in the auxiliary container::

    segments/<upload id>/<00000001>             chunks of a large upload
    uploads/<sha256 of the path>                the upload in progress for a path
    renames/<sha256 of the old path>            journal of a directory rename
    retired/<uuid>                              a replaced manifest, until its segments go
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from .errors import SwiftContentsError
from .store import EPOCH, Entry, Store, parse_http_date

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
def retire(store: Store, path: str) -> str | None:
    """Before replacing ``path``: park an old large-object manifest in the aux
    container so its segments can be deleted once the new version is in place."""
    old = store.head(path)
    if old is None or not old.is_manifest:
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
    """The object just PUT from ``data``, its time exact to the microsecond (one HEAD:
    a PUT response gives Last-Modified rounded *up* to the next second).

    If another writer replaced it in between, the PUT's second floored: earlier than
    that writer's time, so the client still sees the object changed after its save.
    """
    entry = store.head(path)
    if entry is not None and entry.etag == hashlib.md5(data, usedforsecurity=False).hexdigest():
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
def upload_pointer(store: Store, path: str) -> str:
    return "uploads/" + hashlib.sha256(store.key(path).encode()).hexdigest()


def start_upload(store: Store, path: str) -> str:
    upload_id = uuid.uuid4().hex
    store.write_aux(upload_pointer(store, path), upload_id.encode())
    return upload_id


def current_upload(store: Store, path: str) -> str:
    """The upload a chunk > 1 belongs to. Without one, LargeFileManager appends
    to the file: a new upload starts with a server-side copy of the file."""
    try:
        _, body = store.read_aux(upload_pointer(store, path))
        return body.decode()
    except SwiftContentsError as exc:
        if exc.status != 404:
            raise
    upload_id = start_upload(store, path)
    if store.head(path) is not None:
        store.copy(store.key(path), f"segments/{upload_id}/{0:08d}", dst_aux=True)
    return upload_id


def put_segment(store: Store, upload_id: str, number: int, data: bytes) -> None:
    store.write_aux(f"segments/{upload_id}/{number:08d}", data)


def finish_upload(store: Store, path: str, upload_id: str, content_type: str | None) -> None:
    """Put the manifest at ``path`` (atomic replace), nested past 1,000 segments."""
    rows = store.list_aux(f"segments/{upload_id}/")
    segs = [{"path": f"/{store.aux_container}/{r['name']}", "etag": r["hash"],
             "size_bytes": r["bytes"]} for r in rows if "name" in r]
    level = 0
    while len(segs) > SLO_MAX_SEGMENTS:  # manifests of manifests
        level += 1
        segs = _nest(store, upload_id, level, segs)
    parked = retire(store, path)
    store.put_manifest(store.key(path), segs, content_type=content_type)
    store.delete_object(upload_pointer(store, path), aux=True)
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


# -- trees (files, then directories; copy first, delete after) -----------------------
def move_object(store: Store, old: str, new: str, is_manifest: bool,
                when: dt.datetime | None = None) -> None:
    """Copy, then delete; the copy keeps the time ``when`` (the source's)."""
    store.copy(store.key(old), store.key(new), manifest_only=is_manifest, keep_time=when)
    store.delete_object(store.key(old))  # a manifest's segments now belong to the copy


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


def rename_journal(store: Store, old: str) -> str:
    return "renames/" + hashlib.sha256(store.key(old).encode()).hexdigest()


def rename_dir(store: Store, old: str, new: str) -> None:
    """Copy everything, then delete the sources. A journal object records the
    rename first, so a retry after a failure half-way completes it."""
    journal = rename_journal(store, old)
    pending = _pending_rename(store, journal)
    if pending is not None and pending.get("new") != new:
        raise SwiftContentsError(409, (
            f"An unfinished rename of {old} to {pending.get('new')} exists: "
            "retry that rename to complete it first"))
    if pending is None:
        _check_rename(store, old, new)
        store.write_aux(journal, json.dumps({"old": old, "new": new}).encode())
    tree = store.list_tree(old)

    def move(e: Entry) -> None:  # a HEAD: the time an earlier rename kept, if any
        when = (store.head(e.name) or e).last_modified
        store.copy(store.prefix + e.name, store.prefix + rekey(e.name, old, new),
                   manifest_only=e.is_manifest, keep_time=when)

    map_parallel(move, tree)
    if not any(e.name == old + "/" for e in tree):  # (a copied marker keeps its time)
        store.make_dir(new)
    # Manifests are deleted without their segments: those belong to the copies now.
    delete_tree(store, [dataclasses.replace(e, is_manifest=False) for e in tree])
    store.delete_object(journal, aux=True)


def _pending_rename(store: Store, journal: str) -> dict[str, Any] | None:
    try:
        _, body = store.read_aux(journal)
    except SwiftContentsError as exc:
        if exc.status != 404:
            raise
        return None
    return json.loads(body)


def _check_rename(store: Store, old: str, new: str) -> None:
    if not store.dir_exists(old):
        raise SwiftContentsError(404, f"File or directory does not exist: {old}")
    if store.head(new) is not None or store.dir_exists(new):
        raise SwiftContentsError(409, f"File already exists: {new}")
    if new.startswith(old + "/"):
        raise SwiftContentsError(400, f"Can't move {old} into itself")
    parent = new.rpartition("/")[0]
    if parent and not store.dir_exists(parent):
        raise SwiftContentsError(404, f"No such directory: {parent}")
