"""Single Swift requests for swiftcontents: object naming, markers, paged listings.

Like swiftclient's ``client.py``: one method per request (a listing pages through
Swift's 10,000-row limit). Multi-step work (directory rename, copy of a tree,
chunked upload, replacing a large object) lives in ``operations.py``; checkpoint
naming in ``checkpoints.py``.

The only module that talks to python-swiftclient (connections come from
``swiftproto.connection``). Everything here is blocking;
the manager runs it in a bounded thread pool. Every swiftclient call goes through
``Store._call``, which counts requests and turns client failures into
``SwiftContentsError`` (the one translation point of this layer).

Object layout in the user's container (``prefix`` is optional)::

    <prefix>a/b.ipynb          a file
    <prefix>a/                 a directory marker (zero bytes, application/directory)

and in the auxiliary container (``<container>_swiftcontents`` by default) the
checkpoints (``checkpoints.py``), upload segments and rename journals
(``operations.py``).
"""
from __future__ import annotations

import dataclasses
import email.utils
import datetime as dt
import hashlib
import io
import json
import logging
import threading
from typing import Any, Callable, Iterator

import requests
import swiftclient
from swiftclient.exceptions import ClientException

from swiftproto import SwiftSettings, connect, describe_client_error, redact, resource_path

from .errors import SwiftContentsError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

DIR_CONTENT_TYPE = "application/directory"
META = "x-object-meta-"
SENT = "x-sent-"  # Store.write: a header this client sent, beside Swift's answer
KEPT_TIME = "sc-kept-time"  # metadata: a renamed object's time before the rename
PAGE_SIZE = 10000  # Swift's container_listing_limit
READ_CHUNK = 1 << 20  # bytes per read of a streamed GET
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


# Times are exact (microseconds, as Swift records them): a HEAD's X-Timestamp and a
# listing row's last_modified give the same instant, never rounded into the future.
def parse_listing_time(value: str) -> dt.datetime:
    """Container listings give '2024-05-01T12:00:00.123450' (UTC)."""
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.timezone.utc)


def parse_x_timestamp(value: str) -> dt.datetime:
    """X-Timestamp '1714564800.12345' (an offset suffix '_...' ignored) -> that instant."""
    secs, _, frac = value.partition("_")[0].partition(".")
    return dt.datetime.fromtimestamp(int(secs), dt.timezone.utc) + dt.timedelta(
        microseconds=int((frac or "0").ljust(6, "0")[:6]))


def _name_tag(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def kept_time_value(key: str, when: dt.datetime) -> str:
    """Metadata a rename puts on the copy at ``key``: the source's time, and whose."""
    return f"{when.timestamp():.6f} {_name_tag(key)}"


def kept_time(value: str | None, key: str, swift_time: dt.datetime) -> dt.datetime:
    """The time a model shows for the object ``key``: the one a rename kept, if it was
    kept for this very name (a copy made by another tool, or any write since, drops
    it: Swift's PUT and POST replace user metadata) and not after Swift's own."""
    try:
        stamp, tag = (value or "").split()
        when = dt.datetime.fromtimestamp(float(stamp), dt.timezone.utc)
    except ValueError:
        return swift_time
    return when if tag == _name_tag(key) and when <= swift_time else swift_time


def parse_http_date(value: str) -> dt.datetime:
    """A PUT response's Last-Modified (whole seconds, rounded *up* by Swift)."""
    return email.utils.parsedate_to_datetime(value).astimezone(dt.timezone.utc)


def too_large(what: str, size: int, limit: int) -> SwiftContentsError:
    return SwiftContentsError(413, (
        f"{what} is larger than the {limit}-byte limit for computing it in the server "
        f"(at least {size} bytes): nothing was read whole; use the storlets, or a "
        "smaller file"))


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
        if code == 507:  # a full disk: Swift's answer about storage, not an outage
            return 507
        return 503  # 5xx, no status (connection refused), timeouts
    return 503


class Store:
    """Single blocking Swift requests on one container (+ its auxiliary container)."""

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
            elif status == 507:
                msg += " (Swift is out of space; nothing was changed: free space or ask its operator)"
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
        return self._entry_from_headers(path, h, self.key(path))

    def head_aux(self, name: str) -> dict[str, str] | None:
        try:
            return self._call(name, "head_object", self.aux_container, name)
        except SwiftContentsError as exc:
            if exc.status == 404:
                return None
            raise

    @staticmethod
    def _entry_from_headers(path: str, h: dict[str, str], key: str) -> Entry:
        """``key``: the object's full name (a kept time counts only where it was kept)."""
        is_slo = h.get("x-static-large-object", "").lower() == "true"
        swift_time = parse_x_timestamp(h["x-timestamp"]) if "x-timestamp" in h else EPOCH
        return Entry(
            name=path, is_dir=False,
            size=int(h.get("content-length", 0)),
            last_modified=kept_time(h.get(META + KEPT_TIME), key, swift_time),
            etag=None if is_slo else h.get("etag", "").strip('"'),
            content_type=h.get("content-type"), is_manifest=is_slo,
            meta={k[len("x-object-meta-"):]: v for k, v in h.items()
                  if k.startswith("x-object-meta-")})

    def dir_exists(self, path: str) -> bool:
        """A marker, or any object below (directories made by other tools)."""
        return not path or self.dir_marker_exists(path) or self.dir_has_objects(path)

    def dir_marker_exists(self, path: str) -> bool:
        """The directory's marker object (seen at once, before any listing shows it)."""
        try:
            self._call(path, "head_object", self.container, self.dir_key(path))
            return True
        except SwiftContentsError as exc:
            if exc.status != 404:
                raise
        return False

    def dir_has_objects(self, path: str) -> bool:
        """Anything listed below the directory (markers and files of other tools)."""
        _, objs = self._call(path, "get_container", self.container,
                             prefix=self.dir_key(path), limit=1)
        return bool(objs)

    def dir_entry(self, path: str) -> Entry | None:
        """The directory at ``path`` with its time: its marker's, or without a marker
        (made by other tools, or the root) its newest object's among the first page
        below it; None if nothing is there."""
        if path:
            try:
                h = self._call(path, "head_object", self.container, self.dir_key(path))
                return dataclasses.replace(self._entry_from_headers(
                    path, h, self.dir_key(path)), is_dir=True,
                                           size=None, etag=None)
            except SwiftContentsError as exc:
                if exc.status != 404:
                    raise
        _, rows = self._call(path or "/", "get_container", self.container,
                             prefix=self.dir_key(path), limit=PAGE_SIZE)
        if not rows and path:
            return None
        times = [parse_listing_time(r["last_modified"]) for r in rows if "last_modified" in r]
        return Entry(name=path, is_dir=True, last_modified=max(times, default=EPOCH))

    def read(self, path: str, headers: dict[str, str] | None = None) -> tuple[dict[str, str], bytes]:
        return self._call(path, "get_object", self.container, self.key(path), headers=headers)

    def open(self, path: str) -> tuple[Entry, bytes] | None:
        """The file object at ``path`` and its bytes in one GET, or None."""
        try:
            h, data = self.read(path)
        except SwiftContentsError as exc:
            if exc.status == 404:
                return None
            raise
        return self._entry_from_headers(path, h, self.key(path)), data

    def read_aux(self, name: str, headers: dict[str, str] | None = None) -> tuple[dict[str, str], bytes]:
        return self._call(name, "get_object", self.aux_container, name, headers=headers)

    def read_capped(self, name: str, limit: int, *, aux: bool = False) -> bytes:
        """The bytes of the file ``name`` (or of the aux object ``name``), streamed and
        refused past ``limit`` bytes (413) before they are all in memory: at most
        ``limit`` + one chunk is ever held."""
        container, key = (self.aux_container, name) if aux else (self.container, self.key(name))
        what = name
        headers, body = self._call(what, "get_object", container, key,
                                   resp_chunk_size=READ_CHUNK)
        declared = int(headers.get("content-length") or 0)
        chunks: list[bytes] = []
        size = 0
        try:
            if declared > limit:
                raise too_large(what, declared, limit)
            for chunk in body:
                size += len(chunk)
                if size > limit:
                    raise too_large(what, size, limit)
                chunks.append(chunk)
        except (requests.exceptions.RequestException, OSError) as exc:
            raise SwiftContentsError(503, f"{what}: reading from Swift failed "
                                          f"({type(exc).__name__}); try again") from None
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return b"".join(chunks)

    def _pages(self, container: str, prefix: str, delimiter: str | None,
               marker: str = "") -> Iterator[dict]:
        """All listing rows (after ``marker``), one request per 10,000 rows (never one
        per entry); lazily: a caller that stops early stops the requests."""
        while True:
            _, rows = self._call(prefix or "/", "get_container", container, prefix=prefix,
                                 delimiter=delimiter, marker=marker, limit=PAGE_SIZE)
            yield from rows
            if len(rows) < PAGE_SIZE:
                return
            marker = rows[-1].get("name") or rows[-1].get("subdir")

    def list_dir(self, path: str) -> list[Entry]:
        """Direct children of a directory (files and subdirectories)."""
        return list(self.iter_dir(path))

    def iter_dir(self, path: str, after: str = "") -> Iterator[Entry]:
        """Direct children of a directory whose names sort after the child ``after``,
        in Swift's order (UTF-8 bytes), a listing page at a time."""
        base = self.dir_key(path)
        for row in self._pages(self.container, base, "/", base + after if after else ""):
            if "subdir" in row:
                yield Entry(name=row["subdir"][len(self.prefix):].rstrip("/"), is_dir=True)
            elif row["name"] != base and not row["name"].endswith("/"):
                yield self._entry_from_row(row["name"][len(self.prefix):], row)

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
                  last_modified=parse_listing_time(row["last_modified"]),
                  is_manifest=row.get("slo_etag") is not None)
            for row in self._pages(self.container, base, None)]

    def list_aux(self, prefix: str, delimiter: str | None = None) -> list[dict]:
        return list(self._pages(self.aux_container, prefix, delimiter))

    # -- writes -------------------------------------------------------------------
    # Bodies go as BytesIO: swiftclient rewinds a seekable body to retry a PUT; for bytes it
    # gives up at the first retry with a status-less "no ability to reset contents", which
    # hid Swift's answer (507, 503, ...) from the user.
    def write(self, path: str, data: bytes, content_type: str | None,
              headers: dict[str, str] | None = None,
              query_string: str | None = None) -> dict[str, str]:
        """One PUT: Swift replaces the object only once the whole body arrived.

        Returns Swift's response headers (lower case); see ``echoed_entry``."""
        response: dict[str, Any] = {}
        self._call(path, "put_object", self.container, self.key(path), io.BytesIO(data),
                   content_length=len(data), content_type=content_type, headers=headers or {},
                   query_string=query_string, response_dict=response)
        got = {k.lower(): v for k, v in response.get("headers", {}).items()}
        # What this PUT set, for an entry built from the response (put_echo).
        sent = {k.lower(): v for k, v in (headers or {}).items() if k.lower().startswith(META)}
        if content_type:
            sent["content-type"] = content_type
        return {**got, **{SENT + k: v for k, v in sent.items()}}

    def echoed_entry(self, path: str, data_md5: str, size: int,
                      response: dict[str, str]) -> Entry | None:
        """The object a PUT of ``size`` bytes (md5 ``data_md5``) wrote, from the PUT's
        own response, when the proxy echoes it (s2aio.filters.put_echo: the exact
        ``X-Timestamp``, and a storlet's metadata), else None."""
        if "x-timestamp" not in response or response.get("etag", "").strip('"') != data_md5:
            return None
        headers = {k[len(SENT):]: v for k, v in response.items() if k.startswith(SENT)}
        headers.update((k, v) for k, v in response.items() if k.startswith(META))
        headers.update({"x-timestamp": response["x-timestamp"], "etag": data_md5,
                        "content-length": str(size)})
        return self._entry_from_headers(path, headers, self.key(path))

    def make_dir(self, path: str) -> None:
        self._call(path, "put_object", self.container, self.dir_key(path), b"",
                   content_type=DIR_CONTENT_TYPE)

    def write_aux(self, name: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        """One PUT in the aux container (an ``ETag`` header makes Swift verify the bytes)."""
        self._call(name, "put_object", self.aux_container, name, io.BytesIO(data),
                   content_length=len(data), headers=headers or {})

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
             dst_aux: bool = False, manifest_only: bool = False,
             keep_time: dt.datetime | None = None) -> None:
        """Server-side copy (PUT + X-Copy-From): no bytes pass through this process.

        ``manifest_only`` copies a large object's manifest, not its bytes: the
        segments then belong to the copy (used by rename, which deletes the source
        manifest without its segments afterwards).
        """
        src_c = self.aux_container if src_aux else self.container
        dst_c = self.aux_container if dst_aux else self.container
        headers = {"X-Copy-From": resource_path(src_c, src_name)}
        # A rename's copy shows the source's time; any other copy (a restored
        # checkpoint, a duplicate) is a new version with its own.
        headers["X-Object-Meta-" + KEPT_TIME] = (
            "" if keep_time is None else kept_time_value(dst_name, keep_time))
        self._call(src_name, "put_object", dst_c, dst_name, b"", content_length=0,
                   headers=headers,
                   query_string="multipart-manifest=get" if manifest_only else None)

    def put_manifest(self, name: str, segments: list[dict[str, Any]], *, aux: bool = False,
                     content_type: str | None = None,
                     headers: dict[str, str] | None = None) -> None:
        """One PUT of a static large object manifest (atomic replace of ``name``)."""
        container = self.aux_container if aux else self.container
        self._call(name, "put_object", container, name, json.dumps(segments),
                   content_type=content_type, headers=headers or {},
                   query_string="multipart-manifest=put")
