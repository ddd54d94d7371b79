"""Shared fixtures.

Integration tests use the session-wide ``s2aio`` fixture: a real Swift +
storlets all-in-one started in a temporary data dir on free ports. If it cannot
start, every test that needs it *fails* with the reason (never skips). When the
session ends, its teardown scans what s2aio and the tests' Jupyter servers wrote
for tokens and keys (``tests/leakscan.py``); a finding fails the run.
"""
from __future__ import annotations

import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests import leakscan

REPO = Path(__file__).resolve().parent.parent
FILES = Path(__file__).resolve().parent / "files"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s2aio(tmp_path_factory) -> Iterator["object"]:
    """A started s2aio (proxy on a free port, data in a temp dir)."""
    from s2aio import S2AIO

    data_dir = tempfile.mkdtemp(prefix="s2aio-t")  # short: SBus socket paths are limited to 108 bytes
    aio = S2AIO(data_dir=data_dir, port=free_port())
    try:
        aio.start()
    except Exception as exc:  # fail (not skip) with the reason
        aio.stop()
        pytest.fail(f"s2aio could not start: {exc}", pytrace=False)
    yield aio
    try:
        logs = leakscan.stored_logs(aio)
    finally:
        aio.stop()  # also flushes and closes every log
    check_no_leaks(aio, tmp_path_factory.getbasetemp(), logs)
    aio.reset()  # only when clean: a leak's evidence stays for inspection


def check_no_leaks(aio, basetemp: Path, logs: dict[str, bytes]) -> None:
    """Fail the session (a teardown error) if a secret reached a log or state file."""
    from s2aio.core import USERS

    patterns = leakscan.secret_patterns(aio.state["admin_key"],
                                        {user: key for _, user, key in USERS.values()})
    found = leakscan.scan(aio.data_dir, patterns, sorted(basetemp.glob("jupyter*")), logs)
    if found:
        pytest.fail("secrets leaked into files the session wrote (or files not private):\n  "
                    + "\n  ".join(found), pytrace=False)


@pytest.fixture(scope="session")
def swift_env(s2aio) -> dict[str, str]:
    """Environment variables (ST_AUTH/ST_USER/ST_KEY...) for test:tester."""
    return s2aio.env("test")


@pytest.fixture
def conn(s2aio):
    """A swiftclient Connection as test:tester (account admin, storlets enabled)."""
    c = s2aio.connection("test")
    yield c
    c.close()


@pytest.fixture
def conn2(s2aio):
    """A swiftclient Connection as test2:tester2 (another account)."""
    c = s2aio.connection("test2")
    yield c
    c.close()


@pytest.fixture
def container(conn) -> Iterator[str]:
    """A fresh, empty container in the test account, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    conn.put_container(name)
    yield name
    try:
        _, objects = conn.get_container(name, full_listing=True)
        for obj in objects:
            conn.delete_object(name, obj["name"])
        conn.delete_container(name)
    except Exception:
        pass


@pytest.fixture(scope="session")
def deployed(s2aio):
    """storlets_apps deployed (with dependencies) and warmed in the test account."""
    from deploy.api import deploy

    c = s2aio.connection("test")
    try:
        return deploy(c, warm=True)
    finally:
        c.close()
