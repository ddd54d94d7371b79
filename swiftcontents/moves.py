"""Saves and renames of one path, in one server, one after the other.

Real-time collaboration (jupyter_server_ydoc) autosaves a document in two steps: it
reads the file's time (``get``), then saves to the path its file id had at that
moment. A rename is several Swift requests (copy, delete, checkpoints) and can fall
between the two steps. Its save then lands on the old name: the old object comes
back, and the room's idea of the file's time no longer matches the new name, so a
later autosave takes the renamed file for an outside change and reloads the room,
throwing away unsaved typing.

So a rename holds both of its paths while it runs and a save holds its path
(``PathLocks.hold``): a save waits for a rename of its file to finish. And the
rename is remembered for a moment (``PathLocks.moved``): a save that arrives for a
name just renamed away, which no longer exists, is refused once (409) instead of
recreating it. jupyter_server_ydoc retries such a save at the file id's new path.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import AsyncIterator

# How long a rename's old name stays "just renamed away": longer than any save that
# was already on its way when the rename began (a HEAD and a PUT) could take.
RECENT_MOVE_S = 5.0


@dataclasses.dataclass(frozen=True)
class Move:
    old: str
    new: str
    at: float  # time.monotonic() when the rename finished


def moved_path(path: str, old: str, new: str) -> str | None:
    """Where ``path`` went when ``old`` became ``new`` (itself or below it), or None."""
    if path == old:
        return new
    if path.startswith(old + "/"):
        return new + path[len(old):]
    return None


class PathLocks:
    """Per-path locks for one event loop, and the renames just done."""

    def __init__(self, recent_s: float = RECENT_MOVE_S) -> None:
        self.recent_s = recent_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, int] = {}
        self._moves: dict[str, Move] = {}

    @contextlib.asynccontextmanager
    async def hold(self, *paths: str) -> AsyncIterator[None]:
        """Hold every path (in sorted order: two holders never deadlock)."""
        counted: list[str] = []
        acquired: list[asyncio.Lock] = []
        try:
            for path in sorted(set(paths)):
                self._holders[path] = self._holders.get(path, 0) + 1
                counted.append(path)
                lock = self._locks.setdefault(path, asyncio.Lock())
                await lock.acquire()
                acquired.append(lock)
            yield
        finally:
            for lock in reversed(acquired):
                lock.release()
            for path in counted:  # a lock nobody holds or waits for is dropped
                self._holders[path] -= 1
                if not self._holders[path]:
                    del self._holders[path], self._locks[path]

    def moved(self, old: str, new: str) -> None:
        """Remember that ``old`` was just renamed to ``new``."""
        now = time.monotonic()
        self._moves = {k: m for k, m in self._moves.items() if now - m.at < self.recent_s}
        self._moves[old] = Move(old, new, now)

    def recent(self, path: str) -> Move | None:
        """The rename that just moved ``path`` (or a folder above it) away, if any;
        its ``new`` is where ``path`` went."""
        now = time.monotonic()
        for move in self._moves.values():
            went = moved_path(path, move.old, move.new)
            if went is not None and now - move.at < self.recent_s:
                return Move(move.old, went, move.at)
        return None

    def forget(self, old: str) -> None:
        self._moves.pop(old, None)
