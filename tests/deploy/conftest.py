"""Fixtures for the deploy tests: throw-away storlet source directories."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest


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
