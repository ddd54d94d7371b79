"""The temporary s2aio data dirs of a test run, and their removal at its end.

Every data dir a test makes comes from ``new_data_dir``; ``remove_all`` (called
by ``pytest_sessionfinish`` in ``tests/conftest.py``) stops whatever still runs
from each and deletes it, whatever happened before: a start that failed half
way, a failed assertion before a fixture's own reset, a leak finding (the
failure message names the files). ``S2AIO_KEEP_DATA=1`` keeps them for a look.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

KEEP_ENV = "S2AIO_KEEP_DATA"
_MADE: list[Path] = []


def new_data_dir(prefix: str) -> Path:
    """A new empty dir in the temp dir, removed when the session ends.

    Short on purpose: SBus socket paths inside it are limited to 108 bytes.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _MADE.append(path)
    return path


def remove(path: Path) -> None:
    """Stop every process of the data dir, then delete it.

    The tests made the dir, so it goes even where ``S2AIO.reset`` would refuse
    it (a start that failed before writing its state file).
    """
    if not path.exists():
        return
    from s2aio import S2AIO

    try:
        S2AIO(path).stop()  # also unmounts the sandboxes' pipe dirs, which rmtree cannot
    except Exception:  # noqa: BLE001 - a half-made dir has no state to stop: delete it anyway
        pass
    shutil.rmtree(path, ignore_errors=True)


def remove_all() -> tuple[list[Path], list[Path]]:
    """Remove every data dir of this run: ``(removed, left)``; nothing with KEEP_ENV set."""
    present = [p for p in _MADE if p.exists()]
    if os.environ.get(KEEP_ENV):
        return [], present
    for path in present:
        remove(path)
    return [p for p in present if not p.exists()], [p for p in present if p.exists()]
