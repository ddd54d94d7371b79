"""swiftcontents.moves: a save waits for a rename of its path; a name just renamed away is
not recreated by a save that was on its way (unit tests, no servers)."""
from __future__ import annotations

import asyncio

import pytest

from swiftcontents.moves import PathLocks, moved_path


def test_moved_path_follows_the_file_and_folders_above_it():
    assert moved_path("a.ipynb", "a.ipynb", "b.ipynb") == "b.ipynb"
    assert moved_path("d/x/a.ipynb", "d", "e") == "e/x/a.ipynb"
    assert moved_path("dd/a.ipynb", "d", "e") is None  # a sibling sharing a prefix
    assert moved_path("b.ipynb", "a.ipynb", "c.ipynb") is None


def test_a_save_waits_for_the_rename_holding_its_path():
    order: list[str] = []

    async def scenario() -> None:
        locks = PathLocks()
        renaming = asyncio.Event()

        async def rename() -> None:
            async with locks.hold("a.ipynb", "b.ipynb"):
                renaming.set()
                await asyncio.sleep(0.05)
                order.append("rename done")

        async def save() -> None:
            await renaming.wait()
            async with locks.hold("a.ipynb"):
                order.append("save")

        async def other() -> None:  # another path is never held up
            await renaming.wait()
            async with locks.hold("c.ipynb"):
                order.append("other")

        await asyncio.gather(rename(), save(), other())
        assert not locks._locks and not locks._holders  # nothing left behind

    asyncio.run(scenario())
    assert order == ["other", "rename done", "save"]


def test_a_cancelled_wait_releases_nothing_it_did_not_hold():
    async def scenario() -> None:
        locks = PathLocks()
        async with locks.hold("a"):
            waiter = asyncio.create_task(locks.hold("a").__aenter__())
            await asyncio.sleep(0.01)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert locks._locks["a"].locked()  # still ours
        assert not locks._locks

    asyncio.run(scenario())


def test_a_rename_is_remembered_for_a_moment_and_forgotten_once_used():
    locks = PathLocks(recent_s=60)
    locks.moved("d", "e")
    move = locks.recent("d/a.ipynb")
    assert move is not None and move.old == "d" and move.new == "e/a.ipynb"
    assert locks.recent("x.ipynb") is None
    locks.forget(move.old)
    assert locks.recent("d/a.ipynb") is None
    expired = PathLocks(recent_s=0)
    expired.moved("a", "b")
    assert expired.recent("a") is None
