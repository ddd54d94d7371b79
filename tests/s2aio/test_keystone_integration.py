"""s2aio in keystone v3 mode, end to end, with the OS_* settings alone.

The module starts its own ``s2aio start --auth keystone`` (a real keystone from
PyPI in its own virtualenv, Swift's authtoken + keystoneauth in the proxy) and
fails, never skips, when it cannot. Then the storlets are deployed with
``storlets-deploy`` and each part of the project is used as a user of keystone
would: the storlets on PUT, GET and with extra resources, the contents manager,
a magic in a real IPython shell; a member without ACLs is refused. At the end,
no password or token may be in what s2aio wrote.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from swiftclient import ClientException

from swiftproto import run_headers, storlet_object_headers
from tests import datadirs, leakscan
from tests.conftest import REPO, free_port

pytestmark = [pytest.mark.integration, pytest.mark.keystone,
              # swiftclient authenticates through keystoneclient's older API
              pytest.mark.filterwarnings("ignore::DeprecationWarning:keystoneclient"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:debtcollector")]

AUTH_VARS = re.compile(r"^(ST|OS)_")
FERNET_TOKEN = rb"gAAAAA[0-9A-Za-z_\-]{40,}"


def plain_env() -> dict[str, str]:
    """This process's environment without any ST_*/OS_* Swift setting."""
    return {k: v for k, v in os.environ.items() if not AUTH_VARS.match(k)}


@pytest.fixture(scope="module")
def ks():
    """A started keystone-mode s2aio; its logs scanned for secrets when done."""
    from s2aio import S2AIO

    aio = S2AIO(data_dir=datadirs.new_data_dir("s2aio-k"), port=free_port(), auth="keystone")
    try:
        aio.start(timeout=60)
    except Exception as exc:  # fail (not skip) with the reason
        aio.stop()
        pytest.fail(f"s2aio --auth keystone could not start: {exc}", pytrace=False)
    yield aio
    try:
        logs = leakscan.stored_logs(aio)
    finally:
        aio.stop()
    secrets = aio.state["keystone"]
    patterns = leakscan.secret_patterns(aio.state["admin_key"], {
        "keystone's admin": secrets["admin_password"],
        "the swift service user": secrets["service_password"],
        "tester": "testing", "tester2": "testing2"})
    patterns["a keystone (fernet) token"] = re.compile(FERNET_TOKEN)
    found = leakscan.scan(aio.data_dir, patterns, (), logs)
    aio.reset()
    assert not found, "secrets leaked into what s2aio wrote:\n  " + "\n  ".join(found)


@pytest.fixture
def os_env(ks, monkeypatch) -> dict[str, str]:
    """This process authenticates as tester (project test) with OS_* v3 settings only."""
    for name in list(os.environ):
        if AUTH_VARS.match(name):
            monkeypatch.delenv(name)
    env = {k: v for k, v in ks.env("test").items() if k.startswith("OS_")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="module")
def deployed(ks) -> str:
    """``storlets-deploy --warm`` run as a user would, with the OS_* exports only."""
    env = dict(plain_env(), **{k: v for k, v in ks.env("test").items()
                               if k.startswith("OS_")})
    done = subprocess.run([sys.executable, "-m", "deploy.cli", "--warm"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


@pytest.fixture
def conn(ks):
    c = ks.connection("test")
    yield c
    c.close()


@pytest.fixture
def container(conn) -> str:
    name = f"k-{uuid.uuid4().hex[:10]}"
    conn.put_container(name)
    return name


def notebook(text: str = "hello", valid: bool = True) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {text}"), nbformat.v4.new_code_cell("1 + 1")]
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i}"
    if not valid:
        nb.cells[1]["execution_count"] = "bad"
    return json.dumps(nb).encode()


def test_env_prints_v3_exports_and_clears_tempauth(ks):
    done = subprocess.run([sys.executable, "-m", "s2aio", "env", "--data-dir", str(ks.data_dir)],
                          env=plain_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    exports = dict(re.findall(r"^export (\w+)=(.*)$", done.stdout, re.M))
    assert exports["OS_AUTH_URL"] == f"http://127.0.0.1:{ks.ports.keystone}/v3"
    assert (exports["OS_USERNAME"], exports["OS_PASSWORD"], exports["OS_PROJECT_NAME"]) == \
        ("tester", "testing", "test")
    assert exports["OS_IDENTITY_API_VERSION"] == "3"
    assert exports["OS_USER_DOMAIN_NAME"] == exports["OS_PROJECT_DOMAIN_NAME"] == "Default"
    assert not any(name.startswith("ST_") for name in exports)
    # an exported tempauth ST_AUTH or a token would win over OS_AUTH_URL
    assert "unset ST_AUTH ST_USER ST_KEY OS_AUTH_TOKEN OS_STORAGE_URL" in done.stdout
    # the storage URL is the project's account, found in keystone's catalog
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1/AUTH_[0-9a-f]{32}",
                        exports["S2AIO_STORAGE_URL"])


def test_proxy_authenticates_with_keystone(ks):
    conf = (ks.layout.server_conf("proxy")).read_text()
    pipeline = re.search(r"^pipeline = (.*)$", conf, re.M).group(1).split()
    assert "tempauth" not in pipeline
    # the project's own filters keep their places around storlet_handler
    i = pipeline.index
    assert i("cache") < i("authtoken") < i("keystoneauth") < i("put_echo") \
        < i("storlet_handler") < i("storlet_head_cache") < i("copy")
    status = ks.status()
    assert status.healthy, status
    assert status.processes["keystone"]


def test_storlets_on_put_listing_and_diff(ks, deployed, os_env, container):
    from swiftproto import connect

    conn = connect()  # the OS_* settings alone
    assert conn.get_auth()[0] == ks.storage_url("test")
    # nbvalidate on PUT: the stamp comes back in the PUT's answer (put_echo)
    answer = {}
    conn.put_object(container, "bad.ipynb", notebook(valid=False), response_dict=answer,
                    headers=run_headers("nbvalidate.py", {"mode": "stamp"}))
    assert answer["headers"]["x-object-meta-nb-valid"] == "no"
    conn.put_object(container, "good.ipynb", notebook("Good"),
                    headers=run_headers("nbvalidate.py", {"mode": "stamp"}))
    assert conn.head_object(container, "good.ipynb")["x-object-meta-nb-valid"] == "yes"
    # nblisting over two notebooks, on the proxy
    _, body = conn.get_object(container, "good.ipynb", headers=run_headers(
        "nblisting.py", extra=[(container, "bad.ipynb")], on_proxy=True))
    rows = json.loads(body)
    assert [row["title"] for row in rows][:1] == ["Good"] and len(rows) == 2
    # nbdiff against a checkpoint
    conn.put_object(container, "good.ipynb.ckpt", notebook("Old"))
    headers, body = conn.get_object(container, "good.ipynb", headers=run_headers(
        "nbdiff.py", {"format": "nbdime"}, extra=[(container, "good.ipynb.ckpt")],
        on_proxy=True))
    assert int(headers["x-object-meta-nb-cells-modified"]) == 1
    assert json.loads(body)
    conn.close()


@pytest.mark.anyio
async def test_contents_manager_save_and_get(ks, deployed, os_env):
    from swiftcontents import SwiftContentsManager

    cm = SwiftContentsManager(container=f"k-{uuid.uuid4().hex[:10]}", storlets="on")
    model = {"type": "notebook", "content": nbformat.reads(notebook("Saved"), as_version=4)}
    saved = await cm.save(model, "n.ipynb")
    assert saved["swift_validation"]["valid"] is True
    assert saved["swift_validation"]["validated_by"] == "storlet"
    got = await cm.get("n.ipynb")
    assert got["content"]["cells"][0]["source"] == "# Saved"
    assert [e["name"] for e in (await cm.get(""))["content"]] == ["n.ipynb"]
    assert cm.swift_settings().mode == "v3"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_magics_in_a_real_shell(ks, deployed, os_env, conn, container):
    from IPython.testing.globalipapp import get_ipython

    conn.put_object(container, "hello.txt", b"hello keystone")
    shell = get_ipython()
    shell.run_line_magic("load_ext", "ipython_ext")
    try:
        shell.run_line_magic("get", f"--storlet identity.py --input path:/{container}/hello.txt"
                             " -o res")
        assert shell.user_ns["res"].content == b"hello keystone"
        result = shell.run_cell(
            "%%storletapp upper.Upper --with-invoke "
            f"--input path:/{container}/hello.txt --print-result\n"
            "class Upper(object):\n"
            "    def __init__(self, logger):\n"
            "        self.logger = logger\n"
            "    def __call__(self, in_files, out_files, params):\n"
            "        out_files[0].set_metadata({})\n"
            "        out_files[0].write(in_files[0].read().upper())\n"
            "        in_files[0].close(); out_files[0].close()\n")
        result.raise_error()
        assert conn.head_object("storlet", "upper.py")["x-object-meta-storlet-main"] \
            == "upper.Upper"
    finally:
        shell.run_line_magic("unload_ext", "ipython_ext")


def test_member_without_acls_is_refused(ks, deployed, conn, container):
    conn.put_object(container, "private.ipynb", notebook())
    member = ks.connection("tester3")
    assert ks.settings("tester3").user == "tester_member"
    try:
        for call in (lambda: member.get_container(container),
                     lambda: member.get_object(container, "private.ipynb"),
                     lambda: member.get_object(container, "private.ipynb",
                                               headers=run_headers("nbvalidate.py")),
                     lambda: member.put_object(container, "x.ipynb", b"{}"),
                     lambda: member.put_object("storlet", "evil.py", b"x",
                                               headers=storlet_object_headers("evil.Evil"))):
            with pytest.raises(ClientException) as err:
                call()
            assert err.value.http_status == 403
        # with a read ACL (and devstack's on storlet + dependency) the member may run it
        conn.post_container(container, {"X-Container-Read": "test:tester_member"})
        _, body = member.get_object(container, "private.ipynb",
                                    headers=run_headers("nbvalidate.py", {"mode": "report"}))
        assert json.loads(body)["valid"] is True
    finally:
        member.close()


def test_the_mode_stays_with_the_data_dir(ks):
    from s2aio import S2AIO, S2AIOError

    assert S2AIO(ks.data_dir).auth == "keystone"
    with pytest.raises(S2AIOError, match="made with --auth keystone"):
        S2AIO(ks.data_dir, auth="tempauth").start()


def test_restart_after_a_killed_keystone(ks):
    """keystone is supervised like the other servers: start brings back what is down."""
    from s2aio import procs

    ks.stop_order()  # pid files exist
    pid_file = ks.layout.pid_file("keystone")
    assert procs.read_pid_file(pid_file) is not None
    procs.stop_pid_file(pid_file)
    assert not ks.status().processes["keystone"]
    assert ks.start() is True
    assert ks.status().healthy
    assert Path(ks.layout.logs / "keystone.out").exists()
