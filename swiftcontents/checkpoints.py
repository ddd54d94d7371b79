"""Checkpoints kept in Swift (never on the Jupyter server's disk).

Several per file, as server-side copies in the auxiliary container under
``checkpoints/<object name>/.~ckpt/<id>``. The id encodes its creation time, so a
listing alone gives ``last_modified`` (no request per checkpoint). Renames and
deletes of files and whole directories carry their checkpoints along.
"""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from jupyter_server.services.contents.checkpoints import AsyncCheckpoints
from tornado import web
from traitlets import Int

from . import operations
from .operations import rekey
from .store import Store

ID_TIME_FORMAT = "%Y%m%dT%H%M%S%f"  # ids must match jupyter_server's [\w-]+ route
ROOT = "checkpoints/"
SEP = "/.~ckpt/"  # between a file's object name and its checkpoint ids


def prefix_of(key: str) -> str:
    """Where the checkpoints of the object ``key`` live in the aux container."""
    return ROOT + key + SEP


def tree_prefix_of(key: str) -> str:
    """Where the checkpoints of ``key`` and of every object below it live."""
    return ROOT + key + "/"


def new_checkpoint_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now.strftime(ID_TIME_FORMAT)}-{secrets.token_hex(3)}"


def checkpoint_time(checkpoint_id: str) -> dt.datetime:
    stamp = checkpoint_id.partition("-")[0]
    try:
        return dt.datetime.strptime(stamp, ID_TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise web.HTTPError(404, f"No such checkpoint: {checkpoint_id}") from None


def checkpoint_model(checkpoint_id: str) -> dict[str, Any]:
    return {"id": checkpoint_id, "last_modified": checkpoint_time(checkpoint_id)}


def own_checkpoints(store: Store, path: str) -> list[str]:
    """The checkpoint objects of the file ``path`` (one listing)."""
    prefix = prefix_of(store.key(path))
    return [r["name"] for r in store.list_aux(prefix, delimiter="/") if "name" in r]


def checkpoints_below(store: Store, path: str) -> list[str]:
    """Checkpoint objects of every file below the directory ``path`` (one listing);
    not those of a file named ``path`` itself."""
    own = prefix_of(store.key(path))
    return [r["name"] for r in store.list_aux(tree_prefix_of(store.key(path)))
            if "name" in r and not (r["name"].startswith(own) and "/" not in r["name"][len(own):])]


def move_checkpoints(store: Store, old: str, new: str, is_file: bool) -> None:
    """Move the checkpoints of the file ``old`` (or of every file below the directory
    ``old``) to ``new``: copy, then delete, each; a retry moves what is left."""
    if is_file:
        moves = [(n, prefix_of(store.key(new)) + n.rpartition("/")[2])
                 for n in own_checkpoints(store, old)]
    else:
        base_old, base_new = (tree_prefix_of(store.key(p)).rstrip("/") for p in (old, new))
        moves = [(n, rekey(n, base_old, base_new)) for n in checkpoints_below(store, old)]

    def move(m: tuple[str, str]) -> None:
        store.copy(m[0], m[1], src_aux=True, dst_aux=True)
        store.delete_object(m[0], aux=True)

    operations.map_parallel(move, moves)


class SwiftCheckpoints(AsyncCheckpoints):
    """Checkpoints as objects in Swift, used by ``SwiftContentsManager``."""

    max_checkpoints = Int(5, config=True, help=(
        "Checkpoints kept per file; creating one more deletes the oldest."))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Files known to have a checkpoint: a notebook save then needs no listing.
        self._known: set[str] = set()

    async def has_checkpoint(self, path: str) -> bool:
        if path not in self._known:
            if await self.list_checkpoints(path):
                self._known.add(path)
        return path in self._known

    def forget(self) -> None:
        """Files change names or go: which have a checkpoint is asked again."""
        self._known.clear()

    @property
    def store(self) -> Store:
        return self.parent.store

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await self.parent.run(fn, *args)

    def object_name(self, path: str, checkpoint_id: str) -> str:
        """The aux-container object holding checkpoint ``checkpoint_id`` of ``path``."""
        return prefix_of(self.store.key(path)) + checkpoint_id

    def _ids(self, path: str) -> list[str]:
        """Checkpoint ids of one file, oldest first (one listing)."""
        prefix = prefix_of(self.store.key(path))
        rows = self.store.list_aux(prefix, delimiter="/")
        return sorted(r["name"][len(prefix):] for r in rows if "name" in r)

    async def create_checkpoint(self, contents_mgr: Any, path: str) -> dict[str, Any]:
        path = contents_mgr.api_path(path)
        checkpoint_id = new_checkpoint_id()
        await self._run(self._create, path, checkpoint_id)
        self._known.add(path)
        return checkpoint_model(checkpoint_id)

    def _create(self, path: str, checkpoint_id: str) -> None:
        if self.store.head(path) is None:
            raise web.HTTPError(404, f"No such file: {path}")
        self.store.copy(self.store.key(path), self.object_name(path, checkpoint_id), dst_aux=True)
        ids = self._ids(path)
        for old in ids[:max(0, len(ids) - self.max_checkpoints)]:
            self.store.delete_object(self.object_name(path, old), aux=True)

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        path = contents_mgr.api_path(path)
        await self._run(self._restore, path, checkpoint_id)

    def _restore(self, path: str, checkpoint_id: str) -> None:
        name = self.object_name(path, checkpoint_id)
        if self.store.head_aux(name) is None:
            raise web.HTTPError(404, f"Checkpoint does not exist: {path}@{checkpoint_id}")
        operations.restore_copy(self.store, name, path)

    async def rename_checkpoint(self, checkpoint_id: str, old_path: str, new_path: str) -> None:
        await self._run(self._move, self.object_name(old_path, checkpoint_id),
                        self.object_name(new_path, checkpoint_id))

    def _move(self, src: str, dst: str) -> None:
        self.store.copy(src, dst, src_aux=True, dst_aux=True)
        self.store.delete_object(src, aux=True)

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        self._known.clear()
        name = self.object_name(path.strip("/"), checkpoint_id)
        if await self._run(self.store.head_aux, name) is None:
            raise web.HTTPError(404, f"Checkpoint does not exist: {path}@{checkpoint_id}")
        await self._run(lambda: self.store.delete_object(name, aux=True))

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        ids = await self._run(self._ids, path.strip("/"))
        return [checkpoint_model(i) for i in ids]

    async def rename_all_checkpoints(self, old_path: str, new_path: str) -> None:
        """A file's checkpoints, or those of every file below a directory.

        (``SwiftContentsManager.rename`` moves them inside its journaled rename; this
        serves other callers of the Checkpoints API.) Called after the rename: what ``new_path`` is now says which. A file ``x``
        keeps its checkpoints under ``checkpoints/x/.~ckpt/``, inside the prefix of a
        directory ``x``'s tree, so a file's own are never taken for a tree's (and the
        reverse), even where another tool made a file and a directory of one name.
        """
        self._known.clear()
        await self._run(self._rename_all, old_path.strip("/"), new_path.strip("/"))

    def _rename_all(self, old: str, new: str) -> None:
        move_checkpoints(self.store, old, new, self.store.head(new) is not None)

    def _own(self, path: str) -> list[str]:
        return own_checkpoints(self.store, path)

    def _below(self, path: str) -> list[str]:
        return checkpoints_below(self.store, path)

    async def delete_all_checkpoints(self, path: str) -> None:
        """Called after the delete: if a directory ``path`` is still there, the file
        ``path`` was deleted (only its own checkpoints go), and the reverse."""
        self._known.clear()
        await self._run(self._delete_all, path.strip("/"))

    def _delete_all(self, path: str) -> None:
        if self.store.dir_exists(path):
            names = self._own(path)
        elif self.store.head(path) is not None:
            names = self._below(path)
        else:
            names = self._own(path) + self._below(path)
        operations.map_parallel(lambda n: self.store.delete_object(n, aux=True), names)
