"""Renames as one journaled operation: a crash at any step, then a retry, gives the
same result as no crash (checkpoints included); a stale journal never blocks.

Unit tests on an in-memory store with the methods ``operations.rename`` and
``checkpoints.move_checkpoints`` use; the real path is in test_manager_integration.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import logging

import pytest

from swiftcontents import operations
from swiftcontents.checkpoints import move_checkpoints, prefix_of
from swiftcontents.errors import SwiftContentsError
from swiftcontents.store import Entry

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
MUTATIONS = ("copy", "delete_object", "make_dir", "write_aux")


class Crash(SwiftContentsError):
    def __init__(self) -> None:
        super().__init__(503, "injected crash")


class MemoryStore:
    """Swift's objects as two dicts (name -> bytes); ``crash_at``: the n-th mutating
    call (copy, delete, marker, aux write) raises instead of running."""

    prefix = ""
    aux_container = "aux"

    def __init__(self) -> None:
        self.main: dict[str, bytes] = {}
        self.aux: dict[str, bytes] = {}
        self.times: dict[tuple[bool, str], dt.datetime] = {}
        self.clock = itertools.count(1)
        self.crash_at: int | None = None
        self.mutations = 0

    def _mutate(self) -> None:
        self.mutations += 1
        if self.crash_at is not None and self.mutations == self.crash_at:
            raise Crash()

    def _stamp(self, aux: bool, name: str) -> None:
        self.times[aux, name] = T0 + dt.timedelta(seconds=next(self.clock))

    def key(self, path: str) -> str:
        return path

    def dir_key(self, path: str) -> str:
        return path + "/" if path else ""

    def head(self, path: str) -> Entry | None:
        if path not in self.main or path.endswith("/"):
            return None
        return Entry(path, False, len(self.main[path]), self.times[False, path])

    def head_aux(self, name: str) -> dict[str, str] | None:
        return {"content-length": str(len(self.aux[name]))} if name in self.aux else None

    def dir_exists(self, path: str) -> bool:
        return not path or any(n.startswith(path + "/") for n in self.main)

    def list_tree(self, path: str) -> list[Entry]:
        return [Entry(n, n.endswith("/"), len(b), self.times[False, n])
                for n, b in sorted(self.main.items()) if n.startswith(path + "/")]

    def list_aux(self, prefix: str, delimiter: str | None = None) -> list[dict]:
        rows: dict[str, dict] = {}
        for name in sorted(self.aux):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            if delimiter and delimiter in rest:
                sub = prefix + rest.split(delimiter)[0] + delimiter
                rows[sub] = {"subdir": sub}
            else:
                rows[name] = {"name": name, "last_modified": self.times[True, name].isoformat()}
        return list(rows.values())

    def read_aux(self, name: str, headers: dict | None = None) -> tuple[dict, bytes]:
        if name not in self.aux:
            raise SwiftContentsError(404, f"{name}: not found")
        ts = self.times[True, name].timestamp()
        return {"x-timestamp": f"{ts:.5f}"}, self.aux[name]

    def write_aux(self, name: str, data: bytes, headers: dict | None = None) -> None:
        self._mutate()
        self.aux[name] = data
        self._stamp(True, name)

    def make_dir(self, path: str) -> None:
        self._mutate()
        self.main[path + "/"] = b""
        self._stamp(False, path + "/")

    def copy(self, src: str, dst: str, *, src_aux: bool = False, dst_aux: bool = False,
             manifest_only: bool = False, keep_time: dt.datetime | None = None) -> None:
        self._mutate()
        source = self.aux if src_aux else self.main
        if src not in source:
            raise SwiftContentsError(404, f"{src}: not found")
        (self.aux if dst_aux else self.main)[dst] = source[src]
        self._stamp(dst_aux, dst)

    def delete_object(self, name: str, *, aux: bool = False, missing_ok: bool = True,
                      manifest: bool = False) -> None:
        self._mutate()
        objects = self.aux if aux else self.main
        if name not in objects and not missing_ok:
            raise SwiftContentsError(404, f"{name}: not found")
        objects.pop(name, None)

    def state(self) -> tuple[dict, dict]:
        return dict(self.main), {n: b for n, b in self.aux.items() if not n.startswith("renames/")}


def ckpt(path: str, cid: str) -> str:
    return prefix_of(path) + cid


def populated() -> MemoryStore:
    store = MemoryStore()
    files = {"d/": b"", "d/a.ipynb": b"A", "d/sub/": b"", "d/sub/b.txt": b"B", "f.txt": b"F",
             "other/": b""}
    for name, data in files.items():
        store.main[name] = data
        store._stamp(False, name)
    for name in (ckpt("d/a.ipynb", "1"), ckpt("d/a.ipynb", "2"), ckpt("d/sub/b.txt", "1"),
                 ckpt("f.txt", "1"), ckpt("d", "1")):  # (the last: a *file* d's, kept apart)
        store.aux[name] = name.encode()
        store._stamp(True, name)
    return store


def do_rename(store: MemoryStore, old: str, new: str, **kw) -> None:
    operations.rename(store, old, new, lambda o, n, f: move_checkpoints(store, o, n, f), **kw)


RENAMES = [("d", "other/e"), ("f.txt", "other/g.txt")]


@pytest.mark.parametrize("old, new", RENAMES)
def test_a_rename_retried_after_a_crash_at_any_step_completes(old, new):
    reference = populated()
    do_rename(reference, old, new)
    steps = reference.mutations
    assert steps >= 5
    for crash_at in range(1, steps + 1):
        store = populated()
        store.crash_at = crash_at
        with pytest.raises(Crash):
            do_rename(store, old, new)
        store.crash_at = None
        do_rename(store, old, new)  # the retry
        assert store.state() == reference.state(), f"crash at step {crash_at}"
        assert not [n for n in store.aux if n.startswith("renames/")]


def test_the_reference_rename_moves_files_and_checkpoints_only():
    store = populated()
    do_rename(store, "d", "other/e")
    main, aux = store.state()
    assert main == {"other/": b"", "other/e/": b"", "other/e/a.ipynb": b"A",
                    "other/e/sub/": b"", "other/e/sub/b.txt": b"B", "f.txt": b"F"}
    assert sorted(aux) == sorted([ckpt("other/e/a.ipynb", "1"), ckpt("other/e/a.ipynb", "2"),
                                  ckpt("other/e/sub/b.txt", "1"), ckpt("f.txt", "1"),
                                  ckpt("d", "1")])


@pytest.mark.parametrize("old, new", RENAMES)
def test_a_stale_journal_for_another_target_is_resumed_or_expired(old, new, caplog):
    """After a crash at any step, a rename of ``old`` to another name is refused
    (409) while the first may still run, then settles it: nothing lost, each file
    and its checkpoints in one place."""
    caplog.set_level(logging.INFO, logger="swiftcontents.operations")
    probe = populated()
    do_rename(probe, old, new)
    for crash_at in range(1, probe.mutations + 1):
        store = populated()
        store.crash_at = crash_at
        with pytest.raises(Crash):
            do_rename(store, old, new)
        store.crash_at = None
        journal = operations.rename_journal(store, old)
        if journal not in store.aux:
            continue  # crashed before the journal, or after it was deleted
        later = store.times[True, journal] + dt.timedelta(seconds=10)
        with pytest.raises(SwiftContentsError) as err:
            do_rename(store, old, "other2", now=later)
        assert err.value.status == 409 and "retry that rename" in err.value.message
        try:
            do_rename(store, old, "other2", now=later + dt.timedelta(hours=1))
        except SwiftContentsError as exc:
            assert exc.status == 404  # resumed: ``old`` is at ``new`` now
        assert journal not in store.aux
        main, aux = store.state()
        where = {b: n for n, b in main.items() if b}  # each file's bytes, in one place
        assert sorted(where) == [b"A", b"B", b"F"] and len(where) == len(
            [b for b in main.values() if b]), crash_at
        for name in where.values():  # checkpoints sit with their file
            assert [a for a in aux if a.startswith(prefix_of(name))], (crash_at, name)
        assert any("Resuming" in r.getMessage() or "Expired" in r.getMessage()
                   for r in caplog.records)


def test_an_unreadable_journal_is_dropped_not_blocking():
    store = populated()
    journal = operations.rename_journal(store, "d")
    store.aux[journal] = b"{not json"
    store._stamp(True, journal)
    do_rename(store, "d", "e")
    assert "e/a.ipynb" in store.main and journal not in store.aux


def test_a_journal_records_old_new_and_kind():
    store = populated()
    store.crash_at = 2  # right after the journal was written
    with pytest.raises(Crash):
        do_rename(store, "f.txt", "g.txt")
    job = json.loads(store.aux[operations.rename_journal(store, "f.txt")])
    assert job == {"old": "f.txt", "new": "g.txt", "kind": "file"}


def test_rename_refusals_write_nothing():
    store = populated()
    for old, new, status in [("missing", "x", 404), ("d", "f.txt", 409), ("d", "d/x", 400),
                             ("f.txt", "nodir/g.txt", 404), ("f.txt", "other", 409)]:
        before = store.state()
        with pytest.raises(SwiftContentsError) as err:
            do_rename(store, old, new)
        assert err.value.status == status, (old, new)
        assert store.state() == before and store.mutations == 0
