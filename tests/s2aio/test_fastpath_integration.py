"""The engine's fast path on a real s2aio: the storlet HEAD cache (authorization
still checked, invalidated on writes), the PUT echo, the daemon status skip with
its retry, and the engine entry that runs factory and daemons."""
from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from swiftclient.exceptions import ClientException

from s2aio import procs
from s2aio.agent import engine_role
from swiftproto import SwiftSettings, connect, run_headers, storlet_object_headers
from tests.conftest import acl_name

pytestmark = pytest.mark.integration

SOURCE = '''
class Storlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        while in_files[0].read(65536):
            pass
        out_files[0].set_metadata({{}})
        out_files[0].write(b"{text}")
        for f in in_files + out_files:
            f.close()
'''


def upload(conn, module: str, text: str) -> str:
    conn.put_object("storlet", f"{module}.py", SOURCE.format(text=text).encode(),
                    headers=storlet_object_headers(f"{module}.Storlet"))
    return f"{module}.py"


def run(conn, container: str, storlet: str, **kw) -> bytes:
    return conn.get_object(container, "o", headers=run_headers(storlet, **kw))[1]


def swift_log(s2aio) -> str:
    return (Path(s2aio.logs_dir) / "swift.log").read_text(errors="replace")


def object_server_heads(s2aio, storlet: str) -> int:
    return sum(1 for line in swift_log(s2aio).splitlines()
               if "object-server" in line and '"HEAD /' in line
               and f"/{s2aio.account('test')}/storlet/{storlet}" in line)


@pytest.fixture
def storlet(conn):
    module = f"fp_{uuid.uuid4().hex[:8]}"
    name = upload(conn, module, "v1")
    yield name
    try:
        conn.delete_object("storlet", name)
    except ClientException:
        pass


def test_the_storlet_head_is_cached_and_a_new_version_runs_at_once(s2aio, conn, container,
                                                                   storlet):
    conn.put_object(container, "o", b"input")
    for _ in range(5):
        assert run(conn, container, storlet) == b"v1"
    assert object_server_heads(s2aio, storlet) == 1  # the first call's; the others cached
    upload(conn, storlet[:-3], "v2")
    assert run(conn, container, storlet) == b"v2"
    assert run(conn, container, storlet, on_proxy=True) == b"v2"
    conn.delete_object("storlet", storlet)
    with pytest.raises(ClientException) as gone:
        run(conn, container, storlet)
    assert gone.value.http_status == 401  # storlets' answer for a storlet it cannot read


def reader_of(s2aio, container: str, user: str, conn):
    """A connection to test's account as ``user`` (another account's), whom a read
    ACL lets read ``container`` and nothing else here."""
    conn.post_container(container, {"X-Container-Read": acl_name(s2aio, user)})
    own = s2aio.connection(user)
    try:
        token = own.get_auth()[1]
    finally:
        own.close()
    return connect(SwiftSettings(mode="token", storage_url=s2aio.storage_url("test"),
                                 token=token))


def test_authorization_is_checked_on_every_call_even_cached(s2aio, conn, container, storlet):
    # test2's user, not tester3: keystone's member may read the storlet container
    # (devstack's ACL), which would make the refusal below impossible
    assert acl_name(s2aio, "test2") not in conn.head_container("storlet").get(
        "x-container-read", "")
    conn.put_object(container, "o", b"input")
    assert run(conn, container, storlet) == b"v1"  # the account admin: cached now
    other = reader_of(s2aio, container, "test2", conn)
    try:
        assert other.get_object(container, "o")[1] == b"input"  # may read the data...
        with pytest.raises(ClientException) as refused:
            run(other, container, storlet)  # ... not the storlet container
        assert refused.value.http_status == 401
    finally:
        other.close()


def test_a_storlet_put_answers_with_its_time_and_stamp(conn, container, deployed):
    body = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}).encode()
    answer: dict = {}
    conn.put_object(container, "nb.ipynb", body, response_dict=answer,
                    headers=run_headers("nbvalidate.py", {"mode": "stamp"}))
    echoed = {k.lower(): v for k, v in answer["headers"].items()}
    stored = conn.head_object(container, "nb.ipynb")
    assert echoed["x-timestamp"] == stored["x-timestamp"]
    stamp = {k: v for k, v in stored.items() if k.startswith("x-object-meta-nb-")}
    assert stamp and {k: echoed.get(k) for k in stamp} == stamp


def daemons_of(s2aio, module: str) -> list[int]:
    found = []
    for top in procs.processes_mentioning(str(s2aio.layout.root / "sbox") + "/"):
        stack = [top]
        while stack:
            pid = stack.pop()
            stack += procs.child_pids(pid)
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            role = engine_role(argv)
            if role is not None and role[0] == "daemon" and role[1].startswith(module + "."):
                found.append(pid)
    return found


def test_a_daemon_gone_since_its_last_call_is_started_again(s2aio, conn, container, storlet):
    conn.put_object(container, "o", b"input")
    assert run(conn, container, storlet) == b"v1"
    daemons = daemons_of(s2aio, storlet[:-3])
    assert daemons, "the engine entry (s2aio_agent daemon) runs no daemon for the storlet"
    mark = len(swift_log(s2aio))
    killed = 0
    for pid in daemons:
        # the daemon's pre-forked task shares its argv, and a task just done may be
        # exiting (or go with its daemon): gone already is fine, one kill must land
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    assert killed, daemons
    time.sleep(0.2)
    assert run(conn, container, storlet) == b"v1"  # the status was skipped: retried
    assert "daemon was gone; starting it" in swift_log(s2aio)[mark:]
    assert daemons_of(s2aio, storlet[:-3])
