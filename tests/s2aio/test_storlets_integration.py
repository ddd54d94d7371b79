"""The real storlets engine through the real Swift proxy of s2aio."""
from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest
from swiftclient import ClientException

from tests.conftest import sandbox_pid_file

pytestmark = pytest.mark.integration

PAYLOAD = os.urandom(300_000)


@pytest.fixture
def obj(conn, container):
    name = f"o-{uuid.uuid4().hex[:8]}"
    conn.put_object(container, name, PAYLOAD, headers={"X-Object-Meta-Color": "blue"})
    return container, name


def test_upload_download_roundtrip(conn, obj):
    headers, body = conn.get_object(*obj)
    assert body == PAYLOAD
    assert headers["x-object-meta-color"] == "blue"


def test_identity_on_get_object_server(conn, obj, identity):
    headers, body = conn.get_object(*obj, headers={"X-Run-Storlet": identity})
    assert body == PAYLOAD
    assert headers["x-object-meta-color"] == "blue"  # metadata copied by the storlet
    assert "x-storlet-generated-from" not in headers or headers["x-storlet-generated-from"]


def test_identity_on_proxy(conn, obj, identity):
    headers, body = conn.get_object(*obj, headers={"X-Run-Storlet": identity,
                                                   "X-Storlet-Run-On-Proxy": ""})
    assert body == PAYLOAD


def test_identity_on_put(conn, container, identity):
    conn.put_object(container, "put-through", PAYLOAD,
                    headers={"X-Run-Storlet": identity, "X-Object-Meta-Kind": "x"})
    headers, body = conn.get_object(container, "put-through")
    assert body == PAYLOAD
    assert headers["x-object-meta-kind"] == "x"


def test_identity_on_copy(conn, obj, identity):
    container, name = obj
    conn.copy_object(container, name, f"/{container}/copied",
                     headers={"X-Run-Storlet": identity})
    _, body = conn.get_object(container, "copied")
    assert body == PAYLOAD


def test_identity_with_extra_resources(conn, container, identity):
    conn.put_object(container, "a", b"first|")
    conn.put_object(container, "b", b"second|")
    conn.put_object(container, "c", b"third")
    _, body = conn.get_object(container, "a", headers={
        "X-Run-Storlet": identity, "X-Storlet-Run-On-Proxy": "",
        "X-Storlet-Extra-Resources": f"/{container}/b,/{container}/c"})
    assert body == b"first|second|third"


def test_identity_with_range(conn, obj, identity):
    _, body = conn.get_object(*obj, headers={"X-Run-Storlet": identity,
                                             "X-Storlet-Range": "bytes=10-99"})
    assert body == PAYLOAD[10:100]


def test_parameters_by_query_and_header(conn, obj, identity):
    # chunk_size=7 makes the storlet read 7 bytes at a time: same bytes out.
    _, body = conn.get_object(*obj, headers={"X-Run-Storlet": identity},
                              query_string="chunk_size=7")
    assert body == PAYLOAD
    _, body = conn.get_object(*obj, headers={"X-Run-Storlet": identity,
                                             "X-Storlet-Parameter-1": "chunk_size:13"})
    assert body == PAYLOAD


def _check(conn, container, sandboxcheck, **params):
    conn.put_object(container, "probe", b"x")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    _, body = conn.get_object(container, "probe", headers={"X-Run-Storlet": sandboxcheck},
                              query_string=query)
    return json.loads(body)


def test_sandbox_has_no_network(s2aio, conn, container, sandboxcheck):
    report = _check(conn, container, sandboxcheck, host="127.0.0.1", port=s2aio.ports.proxy)
    assert report["connect"].startswith("failed"), report


def test_sandbox_cannot_read_swift_devices(s2aio, conn, container, sandboxcheck):
    report = _check(conn, container, sandboxcheck, read=str(s2aio.layout.devices))
    assert report["read"].startswith("failed"), report
    # the same path is readable on the host: the check itself works
    assert os.listdir(s2aio.layout.devices)


def test_sandbox_writes_only_its_own_dirs(s2aio, conn, container, sandboxcheck):
    outside = [str(s2aio.data_dir / "owned.txt"), "/etc/owned.txt", "/usr/owned.txt",
               "/owned.txt", str(s2aio.layout.native / "owned.txt")]
    report = _check(conn, container, sandboxcheck, write=",".join(outside))
    for path in outside:
        assert report["write"][path].startswith("failed"), (path, report)
        assert not os.path.exists(path)


def test_other_account_is_forbidden(conn, conn2, obj, identity):
    container, name = obj
    url = conn.url  # test's storage URL, used with test2's token
    conn2.get_auth()
    from swiftclient import client as sc

    with pytest.raises(ClientException) as err:
        sc.get_object(url, conn2.token, container, name)
    assert err.value.http_status == 403
    with pytest.raises(ClientException) as err:
        sc.get_object(url, conn2.token, container, name, headers={"X-Run-Storlet": identity})
    # storlets' proxy handler checks the storlet object first and answers 401
    assert err.value.http_status in (401, 403)
    assert PAYLOAD[:64] not in (err.value.http_response_content or b"")
    with pytest.raises(ClientException) as err:
        sc.get_container(url, conn2.token, container)
    assert err.value.http_status == 403


def test_recovers_after_sandbox_is_killed(s2aio, conn, obj, identity):
    conn.get_object(*obj, headers={"X-Run-Storlet": identity})  # sandbox up
    pid_file = sandbox_pid_file(s2aio)
    pid = int(pid_file.read_text().split()[0])
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    _, body = conn.get_object(*obj, headers={"X-Run-Storlet": identity})
    assert body == PAYLOAD
    assert int(pid_file.read_text().split()[0]) != pid


def test_generate_log_stores_the_storlet_log(conn, obj, sandboxcheck):
    container, _ = obj
    conn.put_object(container, "probe", b"x")
    conn.get_object(container, "probe", headers={"X-Run-Storlet": sandboxcheck,
                                                 "X-Storlet-Generate-Log": "True"})
    _, log = conn.get_object("log", "sandboxcheck.py.log")
    assert b"sandbox check done" in log


def test_no_token_or_password_in_swift_logs(s2aio, conn, obj):
    conn.get_object(*obj)
    token = conn.token or conn.get_auth()[1]
    text = (s2aio.logs_dir / "swift.log").read_text(errors="replace")
    assert "proxy-server" in text  # the log is really written
    assert token not in text and token[:12] not in text
    assert "testing" not in text and s2aio.state["admin_key"] not in text
