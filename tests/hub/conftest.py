"""A real JupyterHub on the session's s2aio: alice, bob and a hostile name, each a server.

- alice: the s2aio user ``test`` (tempauth ``test:tester``, or keystone's
  ``tester`` in project ``test``; account AUTH_test..., storlets deployed);
- bob: ``test2`` (``test2:tester2``, or ``tester2`` in project ``test2``):
  another account, as the per-user design wants (swiftcontents/hub.py);
- ``alice_swiftcontents``: a hostile name given alice's *account* on purpose (a
  shared-account deployment): SwiftContentsManager's own template would map it
  to alice's aux container ``nb-alice_swiftcontents``; the hub's escape must not;
- ``hubadmin``: a JupyterHub admin (no server of its own).

The hub runs with a reseller admin token in its own environment and a
``Spawner.env_keep`` that names it: no server may get it. Its state (database,
log, users' working dirs) lives in a temp dir removed after the module.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from swiftcontents.hub import RECORD_VARIABLES
from tests.hub.harness import HUB_ADMIN, Hub, request

HOSTILE = "alice_swiftcontents"
SWIFT_USERS = {"alice": "test", "bob": "test2", HOSTILE: "test"}  # hub user -> s2aio user
CONTAINERS = {"alice": "nb-alice", "bob": "nb-bob", HOSTILE: "nb-alice-5fswiftcontents"}


def notebook(marker: str) -> dict:
    return {"type": "notebook", "content": {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"cell_type": "markdown", "id": "m", "metadata": {}, "source": f"# {marker}"}]}}


@dataclass
class HubSetup:
    hub: Hub
    tokens: dict[str, str]  # hub user -> hub API token
    markers: dict[str, str]  # hub user -> a string only their notebook holds
    secrets: dict[str, str]  # what -> a Swift key or token that must never leak
    storage_urls: dict[str, str]  # hub user -> their Swift account URL
    envs: dict[str, dict[str, str]]  # hub user -> their credentials record

    def account(self, user: str) -> str:
        return self.storage_urls[user].rstrip("/").rpartition("/")[2]

    def url(self, user: str, path: str = "") -> str:
        return self.hub.server_url(user, path)

    def get(self, user: str, path: str, token_of: str | None = None, **kwargs):
        return request(self.url(user, path), token=self.tokens[token_of or user], **kwargs)


def _wipe(conn, container: str) -> None:
    try:
        _, objects = conn.get_container(container, full_listing=True)
        for obj in objects:
            conn.delete_object(container, obj["name"])
        conn.delete_container(container)
    except Exception:  # noqa: BLE001 - cleanup of a container that may not exist
        pass


@pytest.fixture(scope="module")
def hub_setup(s2aio, deployed) -> Iterator[HubSetup]:
    state = Path(tempfile.mkdtemp(prefix="jupyterhub-"))
    creds = state / "swift-users.json"
    # Each record is what `s2aio env` prints for that user: ST_* on tempauth,
    # OS_* on keystone (S2AIO_TEST_AUTH=keystone), the same file format.
    envs = {user: {k: v for k, v in s2aio.env(swift_user).items() if k in RECORD_VARIABLES}
            for user, swift_user in SWIFT_USERS.items()}
    creds.write_text(json.dumps({"users": envs}))
    os.chmod(creds, 0o600)
    admin_token = s2aio.admin_token()
    hub = Hub(state / "hub", creds, hub_env={
        "OS_STORAGE_URL": s2aio.storage_url("admin"), "OS_AUTH_TOKEN": admin_token})
    try:
        hub.start()
        for user in (*SWIFT_USERS, HUB_ADMIN):
            hub.add_user(user)
        hub.spawn(*SWIFT_USERS)
        setup = HubSetup(
            hub, tokens={user: hub.user_token(user) for user in (*SWIFT_USERS, HUB_ADMIN)},
            markers={user: f"{user}-only-{uuid.uuid4().hex}" for user in SWIFT_USERS},
            envs=envs,
            secrets={"alice's key": s2aio.settings("test").key,
                     "bob's key": s2aio.settings("test2").key,
                     "the reseller admin key": s2aio.state["admin_key"],
                     "the hub's admin token": admin_token,
                     **{f"keystone's {name}": value for name, value in
                        s2aio.state.get("keystone", {}).items() if name.endswith("_password")}},
            storage_urls={user: s2aio.storage_url(swift_user)
                          for user, swift_user in SWIFT_USERS.items()})
        for user in SWIFT_USERS:
            name = "a.ipynb" if user == "alice" else "b.ipynb" if user == "bob" else "h.ipynb"
            resp = setup.get(user, f"api/contents/{name}", method="PUT",
                             body=notebook(setup.markers[user]))
            assert resp.status in (200, 201), (user, resp.status, resp.text)
        yield setup
    finally:
        with ThreadPoolExecutor(1) as pool:  # the hub stops (seconds) while Swift is cleaned
            stopping = pool.submit(hub.stop)
            conns = {u: s2aio.connection(u) for u in set(SWIFT_USERS.values())}
            try:
                for user, container in CONTAINERS.items():
                    conn = conns[SWIFT_USERS[user]]
                    _wipe(conn, container)
                    _wipe(conn, f"{container}_swiftcontents")
            finally:
                for conn in conns.values():
                    conn.close()
                killed = stopping.result()
                if not os.environ.get("S2AIO_KEEP_DATA"):
                    shutil.rmtree(state, ignore_errors=True)
    assert not killed, f"processes outlived the hub and were killed: {killed}"
