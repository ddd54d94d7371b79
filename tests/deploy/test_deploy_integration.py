"""storlets-deploy against a real s2aio (Swift + storlets engine)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import requests
import swiftclient

from deploy.api import WARM_PREFIX, Containers, check, deploy, upload_storlet
from deploy.errors import DeployError

from tests.conftest import env_name, shown_user

from .storlet_src import REPO, write_storlet

pytestmark = pytest.mark.integration

AUTH_VARS = ("ST_", "OS_", "STORLETS_ADMIN_", "S2AIO_")


def cli_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(AUTH_VARS)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **extra}


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The installed console script (python -m deploy.cli when not installed)."""
    script = shutil.which("storlets-deploy")
    argv = [script] if script else [sys.executable, "-m", "deploy.cli"]
    return subprocess.run(argv + args, env=cli_env(env), capture_output=True, text=True,
                          timeout=120)


def invoke(conn: swiftclient.Connection, container: str, storlet: str,
           data: bytes = b"payload") -> bytes:
    conn.put_object(container, "input.txt", contents=data)
    return conn.get_object(container, "input.txt", headers={"X-Run-Storlet": storlet})[1]


@pytest.fixture
def cleanup(conn):
    """Objects (container, name) and containers to delete after the test."""
    objects: list[tuple[str, str]] = []
    containers: list[str] = []
    yield objects, containers
    for container, name in objects:
        try:
            conn.delete_object(container, name)
        except swiftclient.ClientException:
            pass
    for container in containers:
        try:
            conn.delete_container(container)
        except swiftclient.ClientException:
            pass


def test_deploy_twice_second_run_uploads_nothing(swift_env):
    first = run_cli([], swift_env)
    assert first.returncode == 0, first.stderr
    second = run_cli([], swift_env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("uploaded 0, skipped ")
    progress = second.stderr.splitlines()
    assert progress and all(line.startswith("skipped   ") for line in progress)
    assert "skipped   storlet/identity.py (unchanged)" in progress
    in_sync = run_cli(["--check"], swift_env)
    assert (in_sync.returncode, in_sync.stdout) == (0, "in sync\n")


def test_edited_storlet_is_detected_replaced_and_runs(swift_env, conn, container, source_dir,
                                                      unique, cleanup):
    cleanup[0].append(("storlet", f"{unique}.py"))
    write_storlet(source_dir, unique, prefix=b"v1:")
    deploy(conn, source_dir=source_dir)
    assert invoke(conn, container, f"{unique}.py") == b"v1:payload"

    write_storlet(source_dir, unique, prefix=b"v2:")
    checked = run_cli(["--check", "--source", str(source_dir)], swift_env)
    assert checked.returncode == 1
    assert f"storlet/{unique}.py: content differs" in checked.stdout.splitlines()

    deployed = run_cli(["--source", str(source_dir)], swift_env)
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout == "uploaded 1, skipped 0\n"
    assert invoke(conn, container, f"{unique}.py") == b"v2:payload"
    assert check(conn, source_dir) == []


def test_warm_makes_the_first_user_call_fast(swift_env, conn, container, tmp_path, unique,
                                             cleanup):
    warm_dir, cold_dir = tmp_path / "warm", tmp_path / "cold"
    warm_dir.mkdir(), cold_dir.mkdir()
    warm_name, cold_name = f"{unique}w", f"{unique}c"
    cleanup[0].extend([("storlet", f"{warm_name}.py"), ("storlet", f"{cold_name}.py")])
    write_storlet(warm_dir, warm_name)
    write_storlet(cold_dir, cold_name)
    before = {o["name"] for o in conn.get_container("log", full_listing=True)[1]}

    result = run_cli(["--warm", "--source", str(warm_dir)], swift_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "uploaded 1, skipped 0, warmed 1\n"
    deploy(conn, source_dir=cold_dir)

    conn.put_object(container, "input.txt", contents=b"x")
    timings = {}
    for name in (warm_name, cold_name):
        started = time.monotonic()
        conn.get_object(container, "input.txt", headers={"X-Run-Storlet": f"{name}.py"})
        timings[name] = time.monotonic() - started
    # The cold call pays the daemon start (upstream sleeps 1 s after starting it).
    assert timings[warm_name] < timings[cold_name], timings
    # The warm-up left nothing behind: no input object, nothing in user containers.
    after = {o["name"] for o in conn.get_container("log", full_listing=True)[1]}
    assert not [n for n in after - before if n.startswith(WARM_PREFIX)]
    assert [o["name"] for o in conn.get_container(container)[1]] == ["input.txt"]


def test_dry_run_changes_nothing(swift_env, conn, source_dir, unique):
    write_storlet(source_dir, unique)
    names = [f"--storlet-container=s-{unique}", f"--dependency-container=d-{unique}",
             f"--log-container=l-{unique}"]
    result = run_cli(["--dry-run", "--source", str(source_dir), *names], swift_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "would upload 1, skipped 0\n"
    assert f"would create container s-{unique}" in result.stderr
    assert f"would upload s-{unique}/{unique}.py (missing)" in result.stderr
    result = run_cli(["--dry-run", "--source", str(source_dir)], swift_env)
    assert result.returncode == 0 and "would upload 1" in result.stdout
    with pytest.raises(swiftclient.ClientException) as missing:
        conn.head_object("storlet", f"{unique}.py")
    assert missing.value.http_status == 404
    with pytest.raises(swiftclient.ClientException):
        conn.head_container(f"s-{unique}")


def test_missing_containers_are_created(conn, source_dir, unique, cleanup):
    containers = Containers(f"s-{unique}", f"d-{unique}", f"l-{unique}")
    cleanup[0].append((containers.storlet, f"{unique}.py"))
    cleanup[1].extend(containers.all())
    write_storlet(source_dir, unique)
    report = deploy(conn, source_dir=source_dir, containers=containers)
    assert report.created_containers == list(containers.all())
    assert report.uploaded == [f"{unique}.py"]
    headers = conn.head_object(containers.storlet, f"{unique}.py")
    assert headers["x-object-meta-storlet-main"] == f"{unique}.Probe"
    assert headers["x-object-meta-storlet-language"] == "python"


@pytest.fixture
def dep_source(source_dir, unique):
    (source_dir / "_helper_dep.py").write_text('VALUE = "one"\n')
    body = ('import os, sys\n'
            'here = os.path.dirname(os.path.abspath(__file__))\n'
            'sys.path.insert(0, os.path.join(here, "fastjsonschema.zip"))\n'
            'import fastjsonschema, _helper_dep\n'
            'valid = fastjsonschema.compile({"type": "integer"})(3) == 3\n'
            'size = os.path.getsize(os.path.join(here, "nb45.schema.json"))\n'
            'out.write(("%s %s %d " % (_helper_dep.VALUE, valid, size)).encode())')
    write_storlet(source_dir, unique, prefix=b"", body=body, deps={
        "fastjsonschema.zip": "package:fastjsonschema",
        "nb45.schema.json": "file:nbformat/v4/nbformat.v4.5.schema.json",
        "_helper_dep.py": "repo:_helper_dep.py"})
    return source_dir


def test_dependencies_are_uploaded_and_usable(conn, container, dep_source, unique, cleanup):
    cleanup[0].append(("storlet", f"{unique}.py"))
    report = deploy(conn, source_dir=dep_source)
    assert set(report.uploaded) >= {f"{unique}.py"}
    size = conn.head_object("dependency", "nb45.schema.json")["content-length"]
    assert invoke(conn, container, f"{unique}.py", b"in") == f"one True {size} in".encode()
    assert deploy(conn, source_dir=dep_source).uploaded == []

    (dep_source / "_helper_dep.py").write_text('VALUE = "two"\n')
    found = check(conn, dep_source)
    assert "dependency/_helper_dep.py: content differs" in found
    assert any(f.startswith(f"storlet/{unique}.py: x-object-meta-deploy-dependency-digest")
               for f in found)
    # A changed dependency re-uploads the storlet too: the engine reloads on that.
    assert deploy(conn, source_dir=dep_source).uploaded == ["_helper_dep.py", f"{unique}.py"]
    (dep_source / "_helper_dep.py").write_text('VALUE = "one"\n')
    deploy(conn, source_dir=dep_source)


# storlets 18.0.0 never refreshes a dependency already in its node cache;
# s2aio's gateway drops a storlet's cached dependencies when it fetches the storlet.
def test_changed_dependency_reaches_the_running_storlet(conn, container, dep_source, unique,
                                                        cleanup):
    cleanup[0].append(("storlet", f"{unique}.py"))
    (dep_source / "_helper_dep.py").write_text('VALUE = "first"\n')
    deploy(conn, source_dir=dep_source)
    assert invoke(conn, container, f"{unique}.py").startswith(b"first ")
    (dep_source / "_helper_dep.py").write_text('VALUE = "second"\n')
    deploy(conn, source_dir=dep_source)
    try:
        assert invoke(conn, container, f"{unique}.py").startswith(b"second ")
    finally:
        (dep_source / "_helper_dep.py").write_text('VALUE = "one"\n')
        deploy(conn, source_dir=dep_source)


def test_upload_storlet_api(conn, container, source_dir, unique, cleanup):
    cleanup[0].append(("storlet", f"{unique}.py"))
    source = write_storlet(source_dir, unique, cls="Cell", prefix=b"cell:").read_text()
    assert upload_storlet(conn, source, name=f"{unique}.py", main_class=f"{unique}.Cell") is True
    assert upload_storlet(conn, source, name=f"{unique}.py", main_class=f"{unique}.Cell") is False
    assert invoke(conn, container, f"{unique}.py") == b"cell:payload"
    with pytest.raises(DeployError, match="no class 'Other'"):
        upload_storlet(conn, source, name=f"{unique}.py", main_class=f"{unique}.Other")
    with pytest.raises(DeployError, match="does not exist: upload it first"):
        upload_storlet(conn, source, name=f"{unique}.py", main_class=f"{unique}.Cell",
                       dependencies=["nope.zip"])


def _assert_one_clear_line(result, *fragments, secrets=()):
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storlets-deploy: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    for secret in secrets:
        assert secret not in result.stdout + result.stderr


def test_bad_credentials_fail_without_leaking(s2aio, swift_env, tmp_path):
    wrong_key = f"wrong-{uuid.uuid4().hex}"
    result = run_cli([], {**swift_env, env_name(s2aio, "key"): wrong_key})
    _assert_one_clear_line(result, "authentication failed (401)",
                           f"as {shown_user(s2aio)} at {s2aio.auth_url}", secrets=[wrong_key])

    bad_token = f"AUTH_tk{uuid.uuid4().hex}"
    token_env = {"OS_STORAGE_URL": s2aio.storage_url("test"), "OS_AUTH_TOKEN": bad_token}
    result = run_cli(["--check"], token_env)
    _assert_one_clear_line(result, "authentication failed (401)", secrets=[bad_token])
    verbose = run_cli(["--check", "-v"], token_env)  # debug logging on: still no secret
    assert verbose.returncode == 1 and "authentication failed (401)" in verbose.stderr
    assert "DEBUG" in verbose.stderr and bad_token[:10] not in verbose.stdout + verbose.stderr

    token_file = tmp_path / "token"
    token_file.write_text(bad_token + "\n")
    token_file.chmod(0o600)
    result = run_cli(["--token-file", str(token_file), "--storage-url", s2aio.storage_url("test")],
                     {})
    _assert_one_clear_line(result, "(401)", secrets=[bad_token])


def test_forbidden_and_missing_account(s2aio):
    other = s2aio.connection("test2")
    _url, token2 = other.get_auth()
    result = run_cli([], {"OS_STORAGE_URL": s2aio.storage_url("test"), "OS_AUTH_TOKEN": token2})
    _assert_one_clear_line(result, "forbidden (403)", secrets=[token2])

    admin = s2aio.connection("admin")
    _url, admin_token = admin.get_auth()
    gone = s2aio.storage_url("test").rsplit("/", 1)[0] + f"/AUTH_gone{uuid.uuid4().hex[:8]}"
    # A deleted account (swiftclient has no account PUT/DELETE; the proxy allows them
    # for a reseller admin): an account that never existed would be auto-created.
    for method in ("PUT", "DELETE"):
        requests.request(method, gone, headers={"X-Auth-Token": admin_token}, timeout=10)
    result = run_cli([], {"OS_STORAGE_URL": gone, "OS_AUTH_TOKEN": admin_token})
    _assert_one_clear_line(result, "account not found", secrets=[admin_token])


def test_enabling_the_account_needs_a_reseller_admin(s2aio, source_dir, unique):
    admin, user = s2aio.connection("admin"), s2aio.connection("test2")
    url2 = s2aio.storage_url("test2")
    write_storlet(source_dir, unique)
    _u, admin_token = admin.get_auth()
    admin_settings = s2aio.settings("admin")
    try:
        swiftclient.post_account(url2, admin_token, {"X-Account-Meta-Storlet-Enabled": "False"})
        result = run_cli(["--source", str(source_dir)], s2aio.env("test2"))
        _assert_one_clear_line(result, "not enabled for storlets", "--admin-user")

        env = {**s2aio.env("test2"), "STORLETS_ADMIN_USER": admin_settings.user,
               "STORLETS_ADMIN_KEY": admin_settings.key}
        if admin_settings.project_name:  # keystone: the admin's own project
            env["STORLETS_ADMIN_PROJECT_NAME"] = admin_settings.project_name
        result = run_cli(["--source", str(source_dir)], env)
        assert result.returncode == 0, result.stderr
        assert f"enabled storlets on {url2}" in result.stderr
        assert admin_settings.key not in result.stdout + result.stderr
        assert user.head_account()["x-account-meta-storlet-enabled"] == "True"
    finally:
        swiftclient.post_account(url2, admin_token, {"X-Account-Meta-Storlet-Enabled": "True"})
        try:
            user.delete_object("storlet", f"{unique}.py")
        except swiftclient.ClientException:
            pass
