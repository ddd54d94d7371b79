"""Shared fixtures.

Integration tests use the session-wide ``s2aio`` fixture: a real Swift +
storlets all-in-one started in a temporary data dir on free ports. If it cannot
start, every test that needs it *fails* with the reason (never skips). When the
session ends, its teardown scans what s2aio and the tests' Jupyter servers wrote
for tokens and keys (``tests/leakscan.py``); a finding fails the run. Every
s2aio data dir of the run (``tests/datadirs.py``) is stopped and deleted when the
session finishes, pass or fail (``S2AIO_KEEP_DATA=1`` keeps them).
"""
from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests import datadirs, leakscan

REPO = Path(__file__).resolve().parent.parent
FILES = Path(__file__).resolve().parent / "files"


def acl_name(aio, user: str) -> str:
    """``user`` in a container ACL, so that ACL tests hold with tempauth and keystone
    alike: ``account:user``, or keystone's ``<project id>:<user id>``. (keystoneauth
    matches names in another project's ACL only when it knows that account's domain,
    and s2aio's accounts were made by the reseller admin: it does not.)"""
    if aio.keystone:
        return f"{aio.account(user)[len('AUTH_'):]}:{keystone_user_id(aio, user)}"
    from s2aio.core import USERS

    return USERS[user][1]


def keystone_user_id(aio, user: str) -> str:
    """The keystone id of s2aio's ``user``, from its own token (a user may read it)."""
    import requests

    conn = aio.connection(user)
    try:
        token = conn.get_auth()[1]
    finally:
        conn.close()
    resp = requests.get(f"{aio.auth_url}/auth/tokens", timeout=30,
                        headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert resp.status_code == 200, f"keystone answered {resp.status_code} to a token check"
    return resp.json()["token"]["user"]["id"]


# The variables of ``aio.env(user)`` per auth mode: tempauth v1's and keystone v3's.
_ENV_NAMES = {"tempauth": {"url": "ST_AUTH", "user": "ST_USER", "key": "ST_KEY"},
              "keystone": {"url": "OS_AUTH_URL", "user": "OS_USERNAME", "key": "OS_PASSWORD"}}


def env_name(aio, what: str) -> str:
    """The name of ``aio.env()``'s auth URL, user or key variable (``what``: url, user,
    key): ST_AUTH/ST_USER/ST_KEY, or OS_AUTH_URL/OS_USERNAME/OS_PASSWORD."""
    return _ENV_NAMES[aio.auth][what]


def shown_user(aio, user: str = "test") -> str:
    """How clients name ``user`` in messages: ``account:user`` (tempauth) or the
    keystone user name (its project is said apart)."""
    return aio.settings(user).user


def sandbox_pid_file(aio, user: str = "test", where: str = "object") -> Path:
    """The pid file of ``user``'s account sandbox: storlets' scope is the account
    without ``AUTH_``, cut to 13 characters (a keystone project id is longer)."""
    scope = aio.account(user)[len("AUTH_"):][:13]
    return aio.layout.run / f"sandbox-{where}-{scope}.pid"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# "podman": the session's s2aio runs storlets in storlets' own podman gateway
# (`make test-podman`); unset or "bwrap": s2aio's bubblewrap gateway.
GATEWAY_ENV = "S2AIO_GATEWAY"


@pytest.fixture(scope="session")
def s2aio(tmp_path_factory) -> Iterator["object"]:
    """A started s2aio (proxy on a free port, data in a temp dir)."""
    from s2aio import S2AIO

    # S2AIO_TEST_AUTH=keystone (make test-keystone): the same tests on keystone v3
    aio = S2AIO(data_dir=datadirs.new_data_dir("s2aio-t"), port=free_port(),
                gateway_mode=os.environ.get(GATEWAY_ENV) or None,
                auth=os.environ.get("S2AIO_TEST_AUTH") or None)
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
    aio.reset()


def check_no_leaks(aio, basetemp: Path, logs: dict[str, bytes]) -> None:
    """Fail the session (a teardown error) if a secret reached a log or state file."""
    from s2aio.core import USERS

    keys = {user: key for _, user, key in USERS.values()}
    if aio.keystone:  # keystone's random passwords ("member", tester_member's, is a word)
        keys.update({f"keystone's {name}": aio.state["keystone"][name]
                     for name in ("admin_password", "service_password")})
    patterns = leakscan.secret_patterns(aio.state["admin_key"], keys)
    found = leakscan.scan(aio.data_dir, patterns, sorted(basetemp.glob("jupyter*")), logs)
    if found:
        pytest.fail("secrets leaked into files the session wrote (or files not private):\n  "
                    + "\n  ".join(found) + f"\n(rerun with {datadirs.KEEP_ENV}=1 to keep "
                    f"{aio.data_dir} for a look)", pytrace=False)


def pytest_sessionfinish(session, exitstatus) -> None:
    """No s2aio data dir of this run stays in the temp dir (each holds ~150 MB)."""
    removed, left = datadirs.remove_all()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if left and reporter is not None:
        why = (f"{datadirs.KEEP_ENV} is set" if os.environ.get(datadirs.KEEP_ENV)
               else "could not be removed")
        reporter.write_line(f"s2aio data dirs kept ({why}): {' '.join(map(str, left))}")


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
