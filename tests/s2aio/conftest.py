from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO

STORLET_HEADERS = {
    "X-Object-Meta-Storlet-Language": "python",
    "X-Object-Meta-Storlet-Interface-Version": "1.0",
    "X-Object-Meta-Storlet-Object-Metadata": "no",
}


def put_storlet(conn, path: Path, main: str) -> str:
    """Upload one storlet module the way the storlets docs say (no deploy tool)."""
    headers = dict(STORLET_HEADERS, **{"X-Object-Meta-Storlet-Main": main})
    conn.put_object("storlet", path.name, path.read_bytes(), headers=headers)
    return path.name


@pytest.fixture(scope="session")
def identity(s2aio) -> str:
    conn = s2aio.connection("test")
    try:
        return put_storlet(conn, REPO / "storlets_apps" / "identity.py",
                           "identity.IdentityStorlet")
    finally:
        conn.close()


@pytest.fixture(scope="session")
def sandboxcheck(s2aio) -> str:
    conn = s2aio.connection("test")
    try:
        return put_storlet(conn, REPO / "tests" / "files" / "storlets" / "sandboxcheck.py",
                           "sandboxcheck.SandboxCheck")
    finally:
        conn.close()
