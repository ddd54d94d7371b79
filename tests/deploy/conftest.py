"""Fixtures for the deploy tests: throw-away storlet source directories."""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from .storlet_src import APPS


@pytest.fixture
def unique() -> str:
    """A module name no other test (or session) uses: every storlet gets its own daemon."""
    return f"probe_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    """An empty storlets source directory."""
    path = tmp_path / "apps"
    path.mkdir()
    return path


@pytest.fixture
def apps_copy(tmp_path: Path) -> Path:
    """A copy of the project's storlets_apps."""
    return Path(shutil.copytree(APPS, tmp_path / "apps_copy"))
