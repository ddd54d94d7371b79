"""SwiftContentsManager: jupyter_server's contents API on OpenStack Swift.

Models only: single Swift requests live in ``store.py`` and multi-step ones in
``operations.py`` (both run in a bounded thread pool, never on the event loop),
path rules in ``paths.py``, storlet calls in ``storlets.py``. Besides jupyter_server's
API, the public ``notebook_listing``, ``checkpoint_diff`` (and ``checkpoint_bytes``, its
base) and ``validation_report`` serve the REST handlers. Errors leave as ``web.HTTPError`` through ``swift_errors``.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import getpass
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, TypeVar

import nbformat
from jupyter_server.services.contents.manager import AsyncContentsManager, copy_pat
from tornado import web
from traitlets import Bool, Enum, Float, Instance, Int, Unicode, default, validate

from swiftproto import SettingsError, SwiftSettings, settings_from_env

from . import models, operations, paths
from .checkpoints import SwiftCheckpoints, move_checkpoints
from .errors import SwiftContentsError
from .moves import PathLocks
from .storlets import NotebookStorlets, local_stamp
from .store import Entry, Store

T = TypeVar("T")
# Files above this are copied server-side instead of through the save path.
IN_MEMORY_COPY_LIMIT = 16 * 1024 * 1024
DIFF_FORMATS = ("nbdime", "text", "html")
WARM_UP_NOTEBOOK = b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}'


def _plain_name(value: str) -> bool:
    """A name within one directory, as Swift can list after it (empty: from the start)."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return size <= paths.MAX_NAME_BYTES and "/" not in value and not any(
        ord(c) < 32 or ord(c) == 127 for c in value)


@contextlib.contextmanager
def swift_errors(log: Any, what: str = "") -> Iterator[None]:
    """The one translation point: errors become ``web.HTTPError`` (like ``perm_to_403``)."""
    try:
        yield
    except web.HTTPError:
        raise
    except SwiftContentsError as exc:
        raise web.HTTPError(exc.status, exc.message) from None
    except Exception as exc:
        log.error("Unexpected error %s", what, exc_info=True)
        raise web.HTTPError(500, f"Unexpected error {what}: {type(exc).__name__}") from exc


class SwiftContentsManager(AsyncContentsManager):
    """Files, notebooks, directories and checkpoints kept in an OpenStack Swift container."""

    # -- auth (none set: the environment, as every part of the project) -------------
    auth_version = Enum(["", "1", "3"], "", config=True, help=(
        "Swift auth: '1' (tempauth: auth_url, user, key), '3' (keystone: auth_url, "
        "user, key, project_name/project_id, domains). Empty: storage_url + auth_token "
        "if set, else the environment (ST_AUTH/ST_USER/ST_KEY, OS_*; see "
        "`eval \"$(s2aio env)\"`)."))
    auth_url = Unicode("", config=True, help="Auth URL (v1 or keystone v3).")
    user = Unicode("", config=True, help="Swift user (v1 'account:user', or keystone user).")
    key = Unicode("", config=True, help="Password/key for `user` (never logged).")
    project_name = Unicode("", config=True, help="Keystone v3 project name.")
    project_id = Unicode("", config=True, help="Keystone v3 project id.")
    user_domain_name = Unicode("", config=True, help="Keystone v3 user domain.")
    project_domain_name = Unicode("", config=True, help="Keystone v3 project domain.")
    region_name = Unicode("", config=True, help="Region of the object-store endpoint.")
    storage_url = Unicode("", config=True, help="Pre-authenticated storage URL (with auth_token).")
    auth_token = Unicode("", config=True, help="Pre-authenticated token (never logged).")

    # -- layout -------------------------------------------------------------------
    container = Unicode("notebooks", config=True, help=(
        "Swift container holding the files. A template: {username} is the "
        "JupyterHub user (JUPYTERHUB_USER) or the local user, e.g. 'nb-{username}'."))
    aux_container = Unicode("", config=True, help=(
        "Container for checkpoints, upload segments and rename journals "
        "(default: '<container>_swiftcontents'). Same template rules as `container`."))
    prefix = Unicode("", config=True, help="Object-name prefix inside the container (a 'root directory').")
    create_container = Bool(True, config=True, help="Create the containers if they are missing.")

    # -- behaviour ----------------------------------------------------------------
    storlets = Enum(["auto", "on", "off"], "auto", config=True, help=(
        "Use the notebook storlets (validation stamp on save, listings, diffs): "
        "'on' always (an engine failure falls back in-process, and says so), 'off' "
        "never (computed in this process), 'auto' when the account allows storlets."))
    request_timeout = Float(30.0, config=True, help="Seconds before a Swift request times out (answered as 503).")
    retries = Int(2, config=True, help="Retries of a failed Swift request (swiftclient backoff).")
    pool_size = Int(8, config=True, help="Threads running blocking Swift calls (bounded; never the event loop).")
    hash_algorithm = Enum(["md5", "sha1", "sha256", "sha512"], "md5", config=True, help=(
        "Hash reported with require_hash. md5 is Swift's ETag: no download needed."))
    always_delete_dir = Bool(False, config=True, help=(
        "Delete non-empty directories even when delete_to_trash is False."))
    delete_to_trash = Bool(True, config=True, help=(
        "As FileContentsManager: True lets non-empty directories be deleted (Swift has "
        "no trash; checkpoints of deleted files are removed with them)."))
    max_copy_folder_size_mb = Int(500, config=True, help="Largest directory (MB) a copy accepts.")

    upload_expiry_hours = Float(24.0, config=True, help=(
        "Hours without a chunk after which an unfinished chunked upload is abandoned "
        "and its segments deleted (by a later upload's first chunk)."))
    upload_sweep_interval = Float(3600.0, config=True, help=(
        "Seconds between two sweeps for abandoned uploads (one listing each)."))

    heavy_pool_size = Int(2, config=True, help=(
        "Threads for the storlet endpoints (listing, diff, validation report): their "
        "own pool, so they never take the contents calls' threads (pool_size)."))
    listing_limit = Int(100, config=True, help=(
        "Notebooks per page of the listing endpoint when the request gives no "
        "'limit' (at most listing_max_limit)."))
    listing_max_limit = Int(1000, config=True, help="Largest 'limit' the listing endpoint accepts.")

    _pool = Instance(ThreadPoolExecutor, allow_none=True)
    _heavy_pool = Instance(ThreadPoolExecutor, allow_none=True)
    _next_sweep = 0.0

    @default("checkpoints_class")
    def _default_checkpoints_class(self) -> type:
        return SwiftCheckpoints

    @validate("pool_size", "heavy_pool_size", "listing_limit", "listing_max_limit")
    def _check_positive(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise ValueError(f"{proposal['trait'].name} must be at least 1")
        return proposal["value"]

    # -- plumbing -----------------------------------------------------------------
    def _template(self, value: str) -> str:
        user = os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
        name = value.format(username=re.sub(r"[^A-Za-z0-9_.-]", "-", user))
        if not name or "/" in name or len(name.encode()) > 256:
            raise SwiftContentsError(400, f"Invalid Swift container name {name!r}")
        return name

    def swift_settings(self) -> SwiftSettings:
        if self.auth_version:
            return SwiftSettings(
                mode="v1" if self.auth_version == "1" else "v3", auth_url=self.auth_url,
                user=self.user, key=self.key, project_name=self.project_name or None,
                project_id=self.project_id or None,
                user_domain_name=self.user_domain_name or None,
                project_domain_name=self.project_domain_name or None,
                region_name=self.region_name or None)
        if self.storage_url and self.auth_token:
            return SwiftSettings(mode="token", storage_url=self.storage_url, token=self.auth_token)
        return settings_from_env()

    @functools.cached_property
    def store(self) -> Store:
        with swift_errors(self.log):
            try:
                settings = self.swift_settings()
            except SettingsError as exc:
                raise SwiftContentsError(503, f"Swift is not configured: {exc}") from None
            container = self._template(self.container)
            aux = self._template(self.aux_container) if self.aux_container else None
        store = Store(settings, container, prefix=self.prefix, aux_container=aux,
                      create_container=self.create_container, timeout=self.request_timeout,
                      retries=self.retries)
        self.log.info("SwiftContentsManager: container %s via %s", container, settings.describe())
        return store

    @functools.cached_property
    def nb_storlets(self) -> NotebookStorlets:
        return NotebookStorlets(self.storlets, log=self.log)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking Swift call in the bounded pool; errors become HTTPError."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.pool_size, thread_name_prefix="swiftcontents")
            # The validator compiles nbformat's schema on first use (~0.25 s): now, on a
            # pool thread, rather than inside the first open of an unstamped notebook.
            self._pool.submit(local_stamp, WARM_UP_NOTEBOOK)
        return await self._run_in(self._pool, fn, *args, **kwargs)

    async def run_heavy(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``run`` for the storlet endpoints' work (listings, diffs, reports): on its
        own pool, so however many of them wait, contents calls keep their threads."""
        if self._heavy_pool is None:
            self._heavy_pool = ThreadPoolExecutor(self.heavy_pool_size,
                                                  thread_name_prefix="swiftcontents-heavy")
        return await self._run_in(self._heavy_pool, fn, *args, **kwargs)

    async def _run_in(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any,
                      **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()

        def call() -> T:
            self.store.ensure_containers()
            return fn(*args, **kwargs)

        with swift_errors(self.log, getattr(fn, "__name__", "")):
            return await loop.run_in_executor(pool, call)

    def api_path(self, path: str) -> str:
        with swift_errors(self.log):
            return paths.normalize(path)

    def object_path(self, path: str) -> str:
        """A validated API path that also fits Swift's name limit."""
        path = self.api_path(path)
        with swift_errors(self.log):
            paths.check_length(self.store.key(path), path)
        return path

    def info_string(self) -> str:
        return f"Serving notebooks from Swift container {self.container!r}"

    def _refuse_hidden(self, *api_paths: str) -> None:
        if not self.allow_hidden and any(paths.is_hidden(p) for p in api_paths):
            raise web.HTTPError(400, f"Hidden files and directories are not allowed: {', '.join(api_paths)}")

    # -- existence ----------------------------------------------------------------
    async def dir_exists(self, path: str) -> bool:
        return await self.run(self.store.dir_exists, self.api_path(path))

    async def file_exists(self, path: str) -> bool:
        path = self.api_path(path)
        return bool(path) and await self.run(self.store.head, path) is not None

    async def is_hidden(self, path: str) -> bool:
        return paths.is_hidden(self.api_path(path))

    # -- get ----------------------------------------------------------------------
    async def get(self, path: str, content: bool = True, type: str | None = None,
                  format: str | None = None, require_hash: bool = False) -> dict[str, Any]:
        path = self.object_path(path)
        entry, data = await self._lookup(path, read=content and type != "directory")
        if entry is None:
            model = await self._existing_dir_model(path, content, type)
        elif type == "directory":
            raise web.HTTPError(400, f"{path} is not a directory", reason="bad type")
        elif type == "notebook" or (type is None and path.endswith(models.NOTEBOOK_EXT)):
            model = await self._notebook_model(path, entry, data, content, require_hash,
                                               verdict=content or type == "notebook")
        else:
            model = await self._file_model(path, entry, data, content, format, require_hash)
        self.emit(data={"action": "get", "path": path})
        return model

    async def _lookup(self, path: str, read: bool) -> tuple[Entry | None, bytes | None]:
        """The file at ``path`` (with its bytes when ``read``: one GET), or (None, None)."""
        if not path:
            return None, None
        if read:
            return await self.run(self.store.open, path) or (None, None)
        return await self.run(self.store.head, path), None

    async def _existing_dir_model(self, path: str, content: bool,
                                  type: str | None) -> dict[str, Any]:
        entry = await self.run(self.store.dir_entry, path)
        if entry is None or (path and not self.allow_hidden and paths.is_hidden(path)):
            raise web.HTTPError(404, f"No such file or directory: {path}")
        if type not in (None, "directory"):
            raise web.HTTPError(400, f"{path} is a directory, not a {type}", reason="bad type")
        return await self._dir_model(path, content, entry.last_modified)

    def _listable(self, entry: Entry) -> bool:
        name = entry.name.rpartition("/")[2]
        return self.should_list(name) and (self.allow_hidden or not name.startswith("."))

    async def _dir_model(self, path: str, content: bool, when: dt.datetime) -> dict[str, Any]:
        model = models.dir_model(path, when)
        if content:
            entries = [e for e in await self.run(self.store.list_dir, path) if self._listable(e)]
            # A listing gives no time for subdirectories: their markers' (a few HEADs).
            times = await self.run(operations.dir_times, self.store,
                                   [e.name for e in entries if e.is_dir], when)
            model["content"] = [
                models.entry_model(e.name, dataclasses.replace(
                    e, last_modified=times[e.name]) if e.is_dir else e)
                for e in entries]
            model["format"] = "json"
        return model

    async def _file_model(self, path: str, entry: Entry, data: bytes | None, content: bool,
                          fmt: str | None, require_hash: bool) -> dict[str, Any]:
        model = models.entry_model(path, entry, "file")
        data = await self._body_if_needed(path, entry, data, content, require_hash)
        if content:
            with swift_errors(self.log):
                model["content"], model["format"] = models.decode_file(path, data, fmt)
            model["mimetype"] = model["mimetype"] or models.default_mimetype(model["format"])
        if require_hash:
            model.update(self._etag_hash(entry) or models.content_hash(self.hash_algorithm, data))
        return model

    async def _body_if_needed(self, path: str, entry: Entry, data: bytes | None,
                              content: bool, require_hash: bool) -> bytes | None:
        """The object's bytes, read only for content or a hash the ETag cannot give."""
        if data is not None:
            return data
        if content or (require_hash and not self._etag_hash(entry)):
            return (await self.run(self.store.read, path))[1]
        return None

    def _etag_hash(self, entry: Entry) -> dict[str, str] | None:
        if self.hash_algorithm == "md5" and entry.etag:
            return {"hash": entry.etag, "hash_algorithm": "md5"}
        return None

    async def _notebook_model(self, path: str, entry: Entry, data: bytes | None,
                              content: bool, require_hash: bool,
                              verdict: bool = True) -> dict[str, Any]:
        """``verdict``: add ``swift_validation``. Without content only when the notebook
        type was asked for: an untyped model without content must equal the file's
        listing entry (jupyter_server's contract), and listings carry no metadata."""
        model = models.entry_model(path, entry, "notebook")
        data = await self._body_if_needed(path, entry, data, content, require_hash)
        if content:
            validation_error: dict[str, Any] = {}
            try:
                text = data.decode("utf-8")
                nb = nbformat.reads(text, as_version=4, capture_validation_error=validation_error)
                models.check_encodable(text, nb)
            except Exception as exc:
                raise web.HTTPError(400, f"Unreadable Notebook: {path} {exc!r}") from exc
            self.mark_trusted_cells(nb, path)
            model["content"] = nb
            model["format"] = "json"
            self.validate_notebook_model(model, validation_error)
        stamp = models.stamp_of(entry.meta) if verdict else None
        if stamp is None and verdict and data is not None:
            # Written without a stamp (by another client, a chunked upload): the bytes
            # are here, so checked here, as the save fallback would (validated_by server).
            stamp = models.stamp_of(await self.run(local_stamp, data))
        if stamp:  # read back with the object (GET or HEAD): what Swift checked at save time
            model["swift_validation"] = stamp
        if require_hash:
            model.update(self._etag_hash(entry) or models.content_hash(self.hash_algorithm, data))
        return model

    # -- save ---------------------------------------------------------------------
    async def _save_now(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        path = self.object_path(path)
        if model.get("chunk") is not None:
            return await self._save_chunk(model, path)
        self.run_pre_save_hooks(model=model, path=path)
        if "type" not in model:
            raise web.HTTPError(400, "No file type provided")
        if "content" not in model and model["type"] != "directory":
            raise web.HTTPError(400, "No file content provided")
        if not path:
            raise web.HTTPError(400, "Can't save to the root directory itself")
        self.log.debug("Saving %s", path)
        kind = model["type"]
        saved: dict[str, Any] | None = None
        if kind in ("notebook", "file"):
            data = await self._checked_write(model, path)
        else:
            await self._check_parent(path)
        if kind == "notebook":
            # Validated once: by the storlet as Swift stores it, or in the fallback.
            result = await self.run(self.nb_storlets.save_notebook, self.store, path, data)
            if not await self.checkpoints.has_checkpoint(path):
                await self.create_checkpoint(path)  # one checkpoint always exists for notebooks
            saved = await self._saved_notebook(path, data, result, model.get("message"))
        elif kind == "file":
            with swift_errors(self.log):
                data = models.encode_file(path, model["content"], model.get("format"))
            response = await self.run(operations.replace_file, self.store, path, data,
                                      model.get("mimetype") or models.guess_content_type(path))
            entry = await self.run(operations.written_entry, self.store, path, data, response)
            saved = models.entry_model(path, entry, "file")
        elif kind == "directory":
            self._refuse_hidden(path)
            await self._refuse_over_file(path)
            await self.run(self.store.make_dir, path)
            entry = await self.run(self.store.dir_entry, path)
            saved = models.dir_model(path, entry.last_modified if entry else dt.datetime.now(dt.timezone.utc))
        else:
            raise web.HTTPError(400, f"Unhandled contents type: {kind}")

        self.run_post_save_hooks(model=saved, os_path=self._location(path))
        self.emit(data={"action": "save", "path": path})
        return saved

    async def _checked_write(self, model: dict[str, Any], path: str) -> bytes | None:
        """The checks before a file or notebook PUT (``_write_checks``) while the
        notebook's bytes are made. Their errors in this order: no parent (404), a
        directory of that name (409), changed since read (409), a malformed notebook
        (400)."""
        checks = asyncio.ensure_future(self._write_checks(model, path))
        await asyncio.sleep(0)  # the checks are on their way to Swift
        data, problem = None, None
        if model["type"] == "notebook":
            try:  # on this thread: the notary's sqlite connection belongs to it
                data = self._notebook_bytes(path, model["content"])
            except web.HTTPError as exc:
                problem = exc
            except BaseException:
                checks.cancel()  # nobody will wait for them
                raise
        await checks
        if problem is not None:
            raise problem
        return data

    async def _write_checks(self, model: dict[str, Any], path: str) -> None:
        """One HEAD of the file. A file that is there already has its parent, and no
        directory can have been made under its name (``save`` and ``copy`` refuse a
        directory over a file): overwriting it needs no more. (A file and a directory
        of one name made by another tool no longer block saving that file.) A new
        file: its parent must exist and no directory may have its name (a marker HEAD
        and a listing each, side by side; a listing is the costliest request of a
        save)."""
        entry = await self.run(self.store.head, path)
        if entry is None:
            outcomes = await asyncio.gather(self._check_parent(path), self._refuse_over_dir(path),
                                            return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
        self._refuse_if_changed(model, path, entry)

    async def _dir_exists(self, path: str) -> bool:
        """``Store.dir_exists`` with its two requests side by side."""
        marker, listed = await asyncio.gather(self.run(self.store.dir_marker_exists, path),
                                              self.run(self.store.dir_has_objects, path))
        return marker or listed

    def _notebook_bytes(self, path: str, content: Any) -> bytes:
        """The signed notebook to store; a model that cannot be signed or written is
        a 400 naming the cell and the field (nothing is written). Not validated here:
        nbvalidate stamps it as it is stored (or the fallback does, in this process)."""
        problem = models.notebook_shape_problem(content)
        if problem is None:
            try:
                nb = nbformat.from_dict(content)
                self.check_and_sign(nb, path)
                return models.notebook_json(nb).encode("utf-8")
            except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
                self.log.debug("Unwritable notebook model for %s", path, exc_info=True)
                problem = f"{type(exc).__name__}: {exc}"
        raise web.HTTPError(400, (
            f"Malformed notebook model for {path}: {problem}. Nothing was saved; fix the "
            "model (nbformat v4: code cells need 'outputs', a list) and save again"))

    async def _saved_notebook(self, path: str, data: bytes, result: dict[str, Any],
                              message: str | None) -> dict[str, Any]:
        """The saved model; the validation stamp as Swift stored it, and the message."""
        # One HEAD: the exact time, and the stamp as Swift stored it (a storlet's exists
        # only there). If another writer got in between, the stamp this server computed.
        entry = await self.run(operations.written_entry, self.store, path, data,
                               result["response"])
        saved = models.entry_model(path, entry, "notebook")
        stamp = models.stamp_of(entry.meta) or (
            models.stamp_of(result["stamp"]) if "stamp" in result else None)
        if stamp:
            saved["swift_validation"] = stamp
            if not message and stamp["valid"] is False:
                # jupyter_server's own prefix: clients (JupyterLab) recognise it.
                message = (f"Notebook validation failed: {stamp.get('first_error', '')} "
                           f"(validated by the {stamp['validated_by']})")
        if message:
            saved["message"] = message
        return saved

    def _location(self, path: str) -> str:
        """What post-save hooks get as ``os_path``: where the object lives."""
        return f"swift://{self.store.container}/{self.store.key(path)}"

    async def _check_parent(self, path: str) -> None:
        parent = paths.split(path)[0]
        if parent and not await self._dir_exists(parent):
            raise web.HTTPError(404, f"No such directory: {parent}")

    async def _refuse_over_dir(self, path: str) -> None:
        """A file never hides a directory of the same name (nor the reverse)."""
        if await self._dir_exists(path):
            raise web.HTTPError(409, (
                f"A directory named {path} exists: a file cannot have its name "
                "(rename or delete the directory first, or choose another name)"))

    async def _refuse_over_file(self, path: str) -> None:
        """A directory never hides a file of the same name (the reverse of
        ``_refuse_over_dir``; saves over a file rely on it, see ``_write_checks``)."""
        if await self.run(self.store.head, path) is not None:
            raise web.HTTPError(409, (
                f"A file named {path} exists: a directory cannot have its name "
                "(rename or delete the file first, or choose another name)"))

    def _refuse_if_changed(self, model: dict[str, Any], path: str, entry: Entry | None) -> None:
        """A model read from this very file (its ``path`` is ``path``) that carries the
        ``hash`` (md5: Swift's ETag) or the ``last_modified`` it was read with is saved
        only if the file (``entry``, from a HEAD just before) is still that version:
        a 409 otherwise, nothing written.

        (Swift has no If-Match on PUT: the HEAD is the check. Models without these
        fields, as JupyterLab sends, are saved as before.)"""
        try:
            same_file = paths.normalize(model.get("path") or "") == path
        except SwiftContentsError:
            same_file = False
        want_hash = model.get("hash") if model.get("hash_algorithm") in (None, "md5") else None
        want_time = model.get("last_modified")
        if not same_file or not (want_hash or want_time):
            return
        if entry is None:
            raise web.HTTPError(409, (
                f"{path} was deleted since you read it: nothing was saved (save again "
                "without 'hash' and 'last_modified' to create it)"))
        if want_hash and entry.etag:
            changed = want_hash != entry.etag
        elif want_time:
            with swift_errors(self.log):
                changed = models.parse_model_time(path, want_time) != entry.last_modified
        else:
            return
        if changed:
            raise web.HTTPError(409, (
                f"{path} changed since you read it (now modified at "
                f"{entry.last_modified.isoformat()}): nothing was saved; reload it, or "
                "save under another name"))

    async def _save_chunk(self, model: dict[str, Any], path: str) -> dict[str, Any]:
        """LargeFileManager's protocol (chunk 1..n, -1 last), assembled in Swift:
        each chunk is a segment object; the last one puts a manifest at ``path``
        in one atomic PUT, so the previous version stays readable until then."""
        chunk = model["chunk"]
        if chunk == 1:
            self.run_pre_save_hooks(model=model, path=path)
        if "type" not in model:
            raise web.HTTPError(400, "No file type provided")
        if model["type"] != "file":
            raise web.HTTPError(400, f'File type "{model["type"]}" is not supported for large file transfer')
        if "content" not in model:
            raise web.HTTPError(400, "No file content provided")
        if not isinstance(chunk, int) or chunk == 0 or chunk < -1:
            raise web.HTTPError(400, f"Invalid chunk number {chunk!r}: use 1, 2, ... and -1 for the last")
        with swift_errors(self.log):
            data = models.encode_file(path, model["content"], model.get("format"))
        self.log.debug("Saving chunk %s of %s", chunk, path)
        if chunk in (1, -1):
            await self._check_parent(path)
            await self._refuse_over_dir(path)
        if chunk == 1:
            await self._sweep_uploads()
        record = await self.run(operations.put_chunk, self.store, path, chunk, data)
        if chunk != -1:
            saved = models.base_model(path, dt.datetime.now(dt.timezone.utc))
            saved.update(type="file", mimetype=models.guess_content_type(path))
            self.emit(data={"action": "save", "path": path})
            return saved
        if record is not None:  # (None: a retry of a finish that completed)
            await self.run(operations.finish_upload, self.store, path, record,
                           model.get("mimetype") or models.guess_content_type(path))
        saved = await self.get(path, content=False)
        self.run_post_save_hooks(model=saved, os_path=self._location(path))
        self.emit(data={"action": "save", "path": path})
        return saved

    async def _sweep_uploads(self) -> None:
        """At most every ``upload_sweep_interval`` seconds, at the start of an upload:
        delete the segments of uploads abandoned for ``upload_expiry_hours``."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.upload_sweep_interval
        try:
            await self.run(operations.sweep_uploads, self.store, self.upload_expiry_hours * 3600)
        except web.HTTPError as exc:  # housekeeping never fails an upload
            self.log.warning("Sweeping abandoned uploads failed: %s", exc.log_message)

    # -- delete -------------------------------------------------------------------
    async def delete_file(self, path: str) -> None:
        path = self.api_path(path)
        if not path:
            raise web.HTTPError(400, "Can't delete root")
        self._refuse_hidden(path)
        entry = await self.run(self.store.head, path)
        if entry is not None:
            await self.run(lambda: self.store.delete_object(
                self.store.key(path), missing_ok=False, manifest=entry.is_manifest))
            return
        if not await self.run(self.store.dir_exists, path):
            raise web.HTTPError(404, f"File or directory does not exist: {path}")
        tree = await self.run(self.store.list_tree, path)
        marker = self.store.dir_key(path)
        non_empty = any(self.store.prefix + e.name != marker for e in tree)
        if non_empty and not (self.delete_to_trash or self.always_delete_dir):
            raise web.HTTPError(400, f"Directory {path} not empty")
        await self.run(operations.delete_tree, self.store, tree)

    # -- rename -------------------------------------------------------------------
    async def rename(self, old_path: str, new_path: str) -> None:
        """A file or directory and its checkpoints, as one journaled operation."""
        await self.rename_file(old_path, new_path)
        if not isinstance(self.checkpoints, SwiftCheckpoints):  # (moved with the files)
            await self.checkpoints.rename_all_checkpoints(old_path, new_path)
        self.emit(data={"action": "rename", "path": new_path, "source_path": old_path})

    async def rename_file(self, old_path: str, new_path: str) -> None:
        """Also moves the checkpoints (Swift ones): a rename retried after a crash at
        any step completes, checkpoints included (``operations.rename``)."""
        old_path, new_path = self.object_path(old_path), self.object_path(new_path)
        if old_path == new_path:
            return
        if not old_path or not new_path:
            raise web.HTTPError(400, "Can't rename the root directory")
        self._refuse_hidden(old_path, new_path)
        mover = None
        if isinstance(self.checkpoints, SwiftCheckpoints):
            mover = functools.partial(move_checkpoints, self.store)
            self.checkpoints.forget()
        await self.run(operations.rename, self.store, old_path, new_path, mover)

    # -- copy ---------------------------------------------------------------------
    async def copy(self, from_path: str, to_path: str | None = None) -> dict[str, Any]:
        """Files through the save path (hooks, events); directories and big files server-side."""
        path = self.api_path(from_path)
        to = None if to_path is None else self.api_path(to_path)
        from_dir, from_name = paths.split(path)
        entry = await self.run(self.store.head, path) if path else None
        if entry is not None and (entry.size or 0) <= IN_MEMORY_COPY_LIMIT:
            return await AsyncContentsManager.copy(self, from_path=path, to_path=to)
        if entry is None and not await self.dir_exists(path):
            raise web.HTTPError(404, f"No such file or directory: {path}")
        target_dir = from_dir if to is None else to
        if await self.dir_exists(target_dir):
            name = copy_pat.sub(".", from_name)
            to_name = await self.increment_filename(name, target_dir, insert="-Copy")
            target = paths.join(target_dir, to_name)
        elif to is not None and entry is not None:
            await self._check_parent(to)
            target = to
        elif to is not None:  # a directory into a directory that does not exist yet
            await self._refuse_over_file(to)
            target = paths.join(to, from_name)
        else:
            raise web.HTTPError(404, f"No such directory: {target_dir}")
        target = self.object_path(target)
        if entry is not None:
            await self.run(self.store.copy, self.store.key(path), self.store.key(target))
        else:
            await self.run(operations.copy_tree, self.store, path, target,
                           self.max_copy_folder_size_mb * 1024 * 1024)
        model = await self.get(target, content=False)
        self.emit(data={"action": "copy", "path": target, "source_path": path})
        return model

    # -- what the storlets compute (the REST handlers' API) ---------------------------
    async def notebook_listing(self, path: str = "", limit: int | str | None = None,
                               marker: str = "") -> dict[str, Any]:
        """Summaries of the notebooks directly in directory ``path``, a page at a time:
        at most ``limit`` (default ``listing_limit``), those whose names sort after
        ``marker``; ``next`` is the marker of the next page (None on the last)."""
        path = self._visible(path)
        limit = self._listing_limit(limit)
        if not _plain_name(marker):
            raise web.HTTPError(400, "marker must be a notebook name from this directory "
                                     "(a 'next' value of the previous page)")
        if not await self.dir_exists(path):
            raise web.HTTPError(404, f"No such directory: {path}")
        names, next_marker = await self.run_heavy(self._notebook_page, path, marker, limit)
        result = await self.run_heavy(self.nb_storlets.listing, self.store, names)
        result.update(path=path, limit=limit, next=next_marker)
        return result

    def _listing_limit(self, value: int | str | None) -> int:
        if value in (None, ""):
            return self.listing_limit
        try:
            limit = int(value)
        except (TypeError, ValueError):
            limit = 0
        if not 1 <= limit <= self.listing_max_limit:
            raise web.HTTPError(400, f"limit must be a whole number from 1 to "
                                     f"{self.listing_max_limit}, not {str(value)[:40]!r}")
        return limit

    def _notebook_page(self, path: str, marker: str, limit: int) -> tuple[list[str], str | None]:
        """(the notebooks of one page, the next page's marker or None): Swift's listing
        read lazily, stopped one notebook past the page."""
        names: list[str] = []
        for entry in self.store.iter_dir(path, after=marker):
            if not entry.is_dir and entry.name.endswith(models.NOTEBOOK_EXT) and self._listable(entry):
                if len(names) == limit:
                    return names, names[-1].rpartition("/")[2]
                names.append(entry.name)
        return names, None

    async def checkpoint_diff(self, path: str, checkpoint_id: str = "",
                              fmt: str = "nbdime") -> dict[str, Any]:
        """Diff from a checkpoint (default: the latest) to the file: ``body`` in ``fmt``."""
        path = self._visible(path)
        if fmt not in DIFF_FORMATS:
            raise web.HTTPError(400, f"format must be one of {', '.join(DIFF_FORMATS)}, not {fmt!r}")
        path = await self._existing_file(path)
        checkpoint_id = await self._checkpoint_of(path, checkpoint_id)
        name = self.checkpoints.object_name(path, checkpoint_id)
        result = await self.run_heavy(self.nb_storlets.diff, self.store, path, name, fmt)
        result.update(path=path, checkpoint=checkpoint_id)
        return result

    async def checkpoint_bytes(self, path: str, checkpoint_id: str) -> bytes:
        """The stored bytes of checkpoint ``checkpoint_id`` of ``path`` (413 past the
        diffs' own input ceiling): the base a client renders a diff on."""
        path = self._visible(path)
        name = self.checkpoints.object_name(path, checkpoint_id)
        return await self.run_heavy(self.store.read_capped, name, self.nb_storlets.max_bytes,
                                    aux=True)

    async def validation_report(self, path: str) -> dict[str, Any]:
        """nbformat's verdict on the file at ``path``, with every error found."""
        path = await self._existing_file(self._visible(path))
        report = await self.run_heavy(self.nb_storlets.validate, self.store, path)
        report["path"] = path
        return report

    def _visible(self, path: str) -> str:
        """The API path; hidden ones do not exist unless allow_hidden."""
        path = self.api_path(path)
        if not self.allow_hidden and paths.is_hidden(path):
            raise web.HTTPError(404, f"No such file or directory: {path}")
        return path

    async def _existing_file(self, path: str) -> str:
        if not await self.file_exists(path):
            raise web.HTTPError(404, f"No such file: {path}")
        return path

    async def _checkpoint_of(self, path: str, checkpoint_id: str) -> str:
        """``checkpoint_id`` if ``path`` has it; '' means its latest."""
        ids = [c["id"] for c in await self.list_checkpoints(path)]
        if not checkpoint_id:
            if not ids:
                raise web.HTTPError(404, f"No checkpoint of {path}; save first")
            return ids[-1]
        if checkpoint_id not in ids:
            raise web.HTTPError(404, f"No checkpoint {checkpoint_id!r} for {path}")
        return checkpoint_id

    # -- saves and renames of one path, one after the other (see moves.py) ------------
    @functools.cached_property
    def path_locks(self) -> PathLocks:
        return PathLocks()

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        """Waits for a rename of ``path``; refuses once to recreate a name just renamed away."""
        key = self.api_path(path)
        async with self.path_locks.hold(key):
            if model.get("chunk") is None and model.get("type") in ("notebook", "file"):
                await self._refuse_just_moved(key)
            return await self._save_now(model, path)

    async def _refuse_just_moved(self, path: str) -> None:
        move = self.path_locks.recent(path)
        if move is None or await self.run(self.store.head, path) is not None:
            return
        self.path_locks.forget(move.old)  # once: saving again creates the name anew
        raise web.HTTPError(409, (
            f"{path} was renamed to {move.new} a moment ago, while this save was on its "
            f"way: nothing was saved. Save to {move.new}, or save again to create {path} anew"))

    async def update(self, model: dict[str, Any], path: str) -> dict[str, Any]:
        """A rename (PATCH) holds both paths until it is done and its event is out."""
        old = self.api_path(path)
        new = self.api_path(model.get("path", path))
        async with self.path_locks.hold(old, new):
            if old != new:
                await self.rename(old, new)
                self.path_locks.moved(old, new)
            return await self.get(new, content=False)
