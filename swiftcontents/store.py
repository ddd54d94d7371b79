"""Swift I/O for swiftcontents: object naming, directory markers, paged listings.

The only module that talks to python-swiftclient (connections come from
``swiftproto.connection``). Everything here is blocking; the manager runs it in a
bounded thread pool. Every swiftclient call goes through ``Store._call``, which
counts requests and turns client failures into ``SwiftContentsError`` (the one
translation point of this layer).

Object layout in the user's container (``prefix`` is optional)::

    <prefix>a/b.ipynb          a file
    <prefix>a/                 a directory marker (zero bytes, application/directory)

and in the auxiliary container (``<container>_swiftcontents`` by default)::

    checkpoints/<prefix>a/b.ipynb/.~ckpt/<id>   checkpoints of a file
    segments/<upload id>/<00000001>             chunks of a large upload
    uploads/<sha256 of the path>                the upload in progress for a path
    renames/<sha256 of the old path>            journal of a directory rename
"""
from __future__ import annotations

import dataclasses
import email.utils
import datetime as dt
import hashlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
import uuid
from typing import Any, Callable, Iterator

import requests
import swiftclient
from swiftclient.exceptions import ClientException

from swiftproto import SwiftSettings, connect, describe_client_error, redact, resource_path

from .errors import SwiftContentsError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

DIR_CONTENT_TYPE = "application/directory"
PAGE_SIZE = 10000  # Swift's container_listing_limit
SLO_MAX_SEGMENTS = 1000  # Swift's default max_manifest_segments
CKPT_SEP = "/.~ckpt/"
BULK_WORKERS = 8
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One object (or subdirectory) as seen in a listing or a HEAD."""

    name: str  # object name relative to the store's prefix
    is_dir: bool
    size: int | None = None
    last_modified: dt.datetime = EPOCH
    etag: str | None = None
    content_type: str | None = None
    is_manifest: bool = False
    meta: dict[str, str] = dataclasses.field(default_factory=dict)


# Times are whole seconds, rounded up as Swift's own Last-Modified header is, so a
# PUT response, a HEAD and a listing row all give the same model time.
def _ceil_second(when: dt.datetime) -> dt.datetime:
    return when.replace(microsecond=0) + dt.timedelta(seconds=1 if when.microsecond else 0)


def parse_listing_time(value: str) -> dt.datetime:
    """Container listings give '2024-05-01T12:00:00.123450' (UTC)."""
    return _ceil_second(dt.datetime.fromisoformat(value).replace(tzinfo=dt.timezone.utc))


def parse_x_timestamp(value: str) -> dt.datetime:
    """X-Timestamp '1714564800.12345' -> the instant a listing shows for it."""
    secs, _, frac = value.partition(".")
    exact = dt.datetime.fromtimestamp(int(secs), dt.timezone.utc) + dt.timedelta(
        microseconds=int((frac or "0").ljust(6, "0")[:6]))
    return _ceil_second(exact)


def parse_http_date(value: str) -> dt.datetime:
    """A PUT response's Last-Modified (already whole seconds, rounded up by Swift)."""
    return email.utils.parsedate_to_datetime(value).astimezone(dt.timezone.utc)


def status_for(exc: BaseException) -> int:
    """The HTTP status a failed Swift call should give the Jupyter client."""
    if isinstance(exc, ClientException):
        code = exc.http_status
        if code in (404, 409, 412, 413, 416):
            return code
        if code in (401, 403):
            return 403
        if code == 400:
            return 400
        return 503  # 5xx, no status (connection refused), timeouts
    return 503


class Store:
    """Blocking Swift operations on one container (+ its auxiliary container)."""

    def __init__(self, settings: SwiftSettings | None, container: str, *, prefix: str = "",
                 aux_container: str | None = None, create_container: bool = True,
                 timeout: float | None = 30.0, retries: int = 3,
                 connect_fn: Callable[..., swiftclient.Connection] = connect) -> None:
        self.settings = settings
        self.container = container
        self.aux_container = aux_container or f"{container}_swiftcontents"
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.create_container = create_container
        self.timeout = timeout
        self.retries = retries
        self._connect_fn = connect_fn
        self._local = threading.local()
        self._lock = threading.Lock()
        self._auth: tuple[str, str] | None = None
        self._ready = False
        self.requests = 0  # Swift requests issued (for tests and benchmarks)

    # -- connections and the translation point ------------------------------------
    def _conn(self) -> swiftclient.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect_fn(self.settings, retries=self.retries, timeout=self.timeout)
            if self._auth is not None:  # share one token between the pool's threads
                conn.url, conn.token = self._auth
            self._local.conn = conn
        return conn

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        conn = self._conn()
        with self._lock:
            self.requests += 1
        try:
            result = getattr(conn, method)(*args, **kwargs)
        except ClientException as exc:
            status = status_for(exc)
            if status == 404:
                raise SwiftContentsError(404, f"{what}: not found") from None
            msg = f"{what}: Swift answered {describe_client_error(exc, self.settings)}"
            if status == 503:
                msg += " (Swift unavailable; nothing was changed, try again)"
            raise SwiftContentsError(status, redact(msg, self.settings)) from None
        except (requests.exceptions.RequestException, OSError) as exc:
            raise SwiftContentsError(503, redact(
                f"{what}: Swift unreachable or timed out ({type(exc).__name__}); "
                "nothing was changed, try again", self.settings)) from None
        if self._auth is None and conn.url and conn.token:
            self._auth = (conn.url, conn.token)
        return result

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- naming -------------------------------------------------------------------
    def key(self, path: str) -> str:
        return self.prefix + path

    def dir_key(self, path: str) -> str:
        return self.prefix + path + "/" if path else self.prefix

    def ckpt_prefix(self, path: str) -> str:
        return "checkpoints/" + self.key(path) + CKPT_SEP

    def ckpt_tree_prefix(self, path: str) -> str:
        return "checkpoints/" + self.key(path) + "/"

    # -- containers ---------------------------------------------------------------
    def ensure_containers(self) -> None:
        if self._ready:
            return
        for name in (self.container, self.aux_container):
            try:
                self._call(f"container {name}", "head_container", name)
            except SwiftContentsError as exc:
                if exc.status != 404:
                    raise
                if not self.create_container:
                    raise SwiftContentsError(
                        404, f"Swift container {name!r} does not exist (set "
                        "SwiftContentsManager.create_container=True or create it)") from None
                self._call(f"container {name}", "put_container", name)
        self._ready = True

    # -- reads --------------------------------------------------------------------
    def head(self, path: str) -> Entry | None:
        """The file object at ``path``, or None."""
        try:
            h = self._call(path, "head_object", self.container, self.key(path))
        except SwiftContentsError as exc:
            if exc.status == 404:
                return None
            raise
        return self._entry_from_headers(path, h)

    def head_aux(self, name: str) -> dict[str, str] | None:
        try:
            return self._call(name, "head_object", self.aux_container, name)
        except SwiftContentsError as exc:
            if exc.status == 404:
                return None
            raise

    @staticmethod
    def _entry_from_headers(path: str, h: dict[str, str]) -> Entry:
        is_slo = h.get("x-static-large-object", "").lower() == "true"
        return Entry(
            name=path, is_dir=False,
            size=int(h.get("content-length", 0)),
            last_modified=parse_x_timestamp(h["x-timestamp"]) if "x-timestamp" in h else EPOCH,
            etag=None if is_slo else h.get("etag", "").strip('"'),
            content_type=h.get("content-type"), is_manifest=is_slo,
            meta={k[len("x-object-meta-"):]: v for k, v in h.items()
                  if k.startswith("x-object-meta-")})

    def dir_exists(self, path: str) -> bool:
        """A marker, or any object below (directories made by other tools)."""
        if not path:
            return True
        try:
            self._call(path, "head_object", self.container, self.dir_key(path))
            return True
        except SwiftContentsError as exc:
            if exc.status != 404:
                raise
        _, objs = self._call(path, "get_container", self.container,
                             prefix=self.dir_key(path), limit=1)
        return bool(objs)

    def read(self, path: str, headers: dict[str, str] | None = None) -> tuple[dict[str, str], bytes]:
        return self._call(path, "get_object", self.container, self.key(path), headers=headers)

    def read_aux(self, name: str) -> tuple[dict[str, str], bytes]:
        return self._call(name, "get_object", self.aux_container, name)

    def _pages(self, container: str, prefix: str, delimiter: str | None) -> Iterator[dict]:
        """All listing rows, one request per 10,000 rows (never one per entry)."""
        marker = ""
        while True:
            _, rows = self._call(prefix or "/", "get_container", container, prefix=prefix,
                                 delimiter=delimiter, marker=marker, limit=PAGE_SIZE)
            yield from rows
            if len(rows) < PAGE_SIZE:
                return
            marker = rows[-1].get("name") or rows[-1].get("subdir")

    def list_dir(self, path: str) -> list[Entry]:
        """Direct children of a directory (files and subdirectories)."""
        base = self.dir_key(path)
        out: list[Entry] = []
        for row in self._pages(self.container, base, "/"):
            if "subdir" in row:
                out.append(Entry(name=row["subdir"][len(self.prefix):].rstrip("/"), is_dir=True))
            elif row["name"] != base and not row["name"].endswith("/"):
                out.append(self._entry_from_row(row["name"][len(self.prefix):], row))
        return out

    @staticmethod
    def _entry_from_row(name: str, row: dict) -> Entry:
        ctype = row.get("content_type", "")
        is_slo = "swift_bytes=" in ctype or row.get("slo_etag") is not None
        return Entry(name=name, is_dir=False, size=row.get("bytes"),
                     last_modified=parse_listing_time(row["last_modified"]),
                     etag=None if is_slo else row.get("hash"),
                     content_type=ctype.split(";")[0], is_manifest=is_slo)

    def list_tree(self, path: str) -> list[Entry]:
        """Every object under a directory, its marker included (names relative to prefix)."""
        base = self.dir_key(path)
        return [
            Entry(name=row["name"][len(self.prefix):], is_dir=row["name"].endswith("/"),
                  size=row.get("bytes"), etag=row.get("hash"),
                  is_manifest=row.get("slo_etag") is not None)
            for row in self._pages(self.container, base, None)]

    def list_aux(self, prefix: str, delimiter: str | None = None) -> list[dict]:
        return list(self._pages(self.aux_container, prefix, delimiter))

    # -- writes -------------------------------------------------------------------
    def write(self, path: str, data: bytes, content_type: str | None,
              headers: dict[str, str] | None = None,
              query_string: str | None = None) -> dict[str, str]:
        """One PUT: Swift replaces the object only once the whole body arrived."""
        response: dict[str, Any] = {}
        self._call(path, "put_object", self.container, self.key(path), data,
                   content_type=content_type, headers=headers or {},
                   query_string=query_string, response_dict=response)
        return {k.lower(): v for k, v in response.get("headers", {}).items()}

    def make_dir(self, path: str) -> None:
        self._call(path, "put_object", self.container, self.dir_key(path), b"",
                   content_type=DIR_CONTENT_TYPE)

    def write_aux(self, name: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        self._call(name, "put_object", self.aux_container, name, data, headers=headers or {})

    def delete_object(self, name: str, *, aux: bool = False, missing_ok: bool = True,
                      manifest: bool = False) -> None:
        """Delete one object by full name; a manifest takes its segments with it.

        (``multipart-manifest=delete`` on a plain object answers 200 and deletes
        nothing, so it is only sent for known manifests.)"""
        container = self.aux_container if aux else self.container
        try:
            self._call(name, "delete_object", container, name,
                       query_string="multipart-manifest=delete" if manifest else None)
        except SwiftContentsError as exc:
            if not (missing_ok and exc.status == 404):
                raise

    def copy(self, src_name: str, dst_name: str, *, src_aux: bool = False,
             dst_aux: bool = False, manifest_only: bool = False) -> None:
        """Server-side copy (PUT + X-Copy-From): no bytes pass through this process.

        ``manifest_only`` copies a large object's manifest, not its bytes: the
        segments then belong to the copy (used by rename, which deletes the source
        manifest without its segments afterwards).
        """
        src_c = self.aux_container if src_aux else self.container
        dst_c = self.aux_container if dst_aux else self.container
        self._call(src_name, "put_object", dst_c, dst_name, b"", content_length=0,
                   headers={"X-Copy-From": resource_path(src_c, src_name)},
                   query_string="multipart-manifest=get" if manifest_only else None)

    def retire(self, path: str) -> str | None:
        """Before replacing ``path``: park an old large-object manifest in the aux
        container so its segments can be deleted once the new version is in place."""
        old = self.head(path)
        if old is None or not old.is_manifest:
            return None
        parked = f"retired/{uuid.uuid4().hex}"
        self.copy(self.key(path), parked, dst_aux=True, manifest_only=True)
        return parked

    def drop_retired(self, parked: str | None) -> None:
        if parked:
            self.delete_object(parked, aux=True, manifest=True)

    # -- large uploads (segments + a static large object manifest) -----------------
    def upload_pointer(self, path: str) -> str:
        return "uploads/" + hashlib.sha256(self.key(path).encode()).hexdigest()

    def start_upload(self, path: str) -> str:
        upload_id = uuid.uuid4().hex
        self.write_aux(self.upload_pointer(path), upload_id.encode())
        return upload_id

    def current_upload(self, path: str) -> str:
        """The upload a chunk > 1 belongs to. Without one, LargeFileManager appends
        to the file: a new upload starts with a server-side copy of the file."""
        try:
            _, body = self.read_aux(self.upload_pointer(path))
            return body.decode()
        except SwiftContentsError as exc:
            if exc.status != 404:
                raise
        upload_id = self.start_upload(path)
        if self.head(path) is not None:
            self.copy(self.key(path), f"segments/{upload_id}/{0:08d}", dst_aux=True)
        return upload_id

    def put_segment(self, upload_id: str, number: int, data: bytes) -> None:
        self.write_aux(f"segments/{upload_id}/{number:08d}", data)

    def finish_upload(self, path: str, upload_id: str, content_type: str | None) -> None:
        """Put the manifest at ``path`` (atomic replace), nested past 1,000 segments."""
        rows = self.list_aux(f"segments/{upload_id}/")
        segs = [{"path": f"/{self.aux_container}/{r['name']}", "etag": r["hash"],
                 "size_bytes": r["bytes"]} for r in rows if "name" in r]
        level = 0
        while len(segs) > SLO_MAX_SEGMENTS:  # manifests of manifests
            level += 1
            groups = [segs[i:i + SLO_MAX_SEGMENTS] for i in range(0, len(segs), SLO_MAX_SEGMENTS)]
            segs = []
            for i, group in enumerate(groups):
                name = f"segments/{upload_id}/m{level}-{i:05d}"
                self._call(name, "put_object", self.aux_container, name, json.dumps(group),
                           query_string="multipart-manifest=put")
                segs.append({"path": f"/{self.aux_container}/{name}", "etag": None,
                             "size_bytes": None})
        parked = self.retire(path)
        self._call(path, "put_object", self.container, self.key(path), json.dumps(segs),
                   content_type=content_type, query_string="multipart-manifest=put")
        self.delete_object(self.upload_pointer(path), aux=True)
        self.drop_retired(parked)

    # -- bulk operations (files, then directories; copy first, delete after) -------
    def map_parallel(self, fn: Callable[[Any], Any], items: list[Any]) -> None:
        """Run ``fn`` over ``items`` on a few threads (each has its own connection)."""
        if len(items) <= 1:
            for item in items:
                fn(item)
            return
        with ThreadPoolExecutor(min(BULK_WORKERS, len(items))) as pool:
            for _ in pool.map(fn, items):
                pass

    def move_object(self, old: str, new: str, is_manifest: bool) -> None:
        self.copy(self.key(old), self.key(new), manifest_only=is_manifest)
        self.delete_object(self.key(old))  # a manifest's segments now belong to the copy

    def delete_tree(self, tree: list[Entry]) -> None:
        """Files first, then markers deepest first: a retry after a failure still
        sees the directory and finishes the job."""
        files = [e for e in tree if not e.is_dir]
        markers = sorted((self.prefix + e.name for e in tree if e.is_dir), key=len, reverse=True)
        self.map_parallel(
            lambda e: self.delete_object(self.prefix + e.name, manifest=e.is_manifest), files)
        for name in markers:
            self.delete_object(name)

    def copy_tree(self, src: str, dst: str, limit_bytes: int) -> None:
        tree = self.list_tree(src)
        size = sum(e.size or 0 for e in tree)
        if size > limit_bytes:
            raise SwiftContentsError(400, (
                f"Can't copy folders larger than {limit_bytes // (1024 * 1024)}MB, "
                f"{src!r} is {size / (1024 * 1024):.1f}MB"))
        self.map_parallel(lambda e: self.copy(self.prefix + e.name,
                                              self.prefix + rekey(e.name, src, dst)), tree)
        self.make_dir(dst)

    def rename_journal(self, old: str) -> str:
        return "renames/" + hashlib.sha256(self.key(old).encode()).hexdigest()

    def rename_dir(self, old: str, new: str) -> None:
        """Copy everything, then delete the sources. A journal object records the
        rename first, so a retry after a failure half-way completes it."""
        journal = self.rename_journal(old)
        try:
            _, body = self.read_aux(journal)
            pending = json.loads(body)
        except SwiftContentsError as exc:
            if exc.status != 404:
                raise
            pending = None
        if pending is not None and pending.get("new") != new:
            raise SwiftContentsError(409, (
                f"An unfinished rename of {old} to {pending.get('new')} exists: "
                "retry that rename to complete it first"))
        if pending is None:
            if not self.dir_exists(old):
                raise SwiftContentsError(404, f"File or directory does not exist: {old}")
            if self.head(new) is not None or self.dir_exists(new):
                raise SwiftContentsError(409, f"File already exists: {new}")
            if new.startswith(old + "/"):
                raise SwiftContentsError(400, f"Can't move {old} into itself")
            parent = new.rpartition("/")[0]
            if parent and not self.dir_exists(parent):
                raise SwiftContentsError(404, f"No such directory: {parent}")
            self.write_aux(journal, json.dumps({"old": old, "new": new}).encode())
        tree = self.list_tree(old)
        self.map_parallel(lambda e: self.copy(
            self.prefix + e.name, self.prefix + rekey(e.name, old, new),
            manifest_only=e.is_manifest), tree)
        self.make_dir(new)
        # Manifests are deleted without their segments: those belong to the copies now.
        self.delete_tree([dataclasses.replace(e, is_manifest=False) for e in tree])
        self.delete_object(journal, aux=True)


def rekey(name: str, old: str, new: str) -> str:
    """'old/x/y' -> 'new/x/y' (also the marker 'old/' -> 'new/')."""
    return new + name[len(old):]
