"""keystone mode's pure parts: configs, environment, state (no servers)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from s2aio import S2AIO, S2AIOError, cli, configs, keystone
from s2aio.layout import LAYOUT_VERSION, Layout, process_names

SERVICE = configs.KeystoneAuth(url="http://127.0.0.1:5000/v3", service_project="service",
                               service_user="swift", service_password="s3rvice-pw")
PORTS = configs.Ports(proxy=8080, account=1, container=2, object=3, memcached=4, syslog=5,
                      keystone=6)


def pipeline_of(conf: str) -> list[str]:
    return re.search(r"^pipeline = (.*)$", conf, re.M).group(1).split()


def test_keystone_pipeline_replaces_tempauth_and_keeps_the_filters_in_place(tmp_path):
    users = configs.Users(admin_key="k")
    tempauth = pipeline_of(configs.proxy_conf(Layout(tmp_path), PORTS, users))
    conf = configs.proxy_conf(Layout(tmp_path), PORTS, users, keystone=SERVICE)
    ks = pipeline_of(conf)
    assert "tempauth" not in ks and "s3api" not in ks
    # the same pipeline, with authtoken + keystoneauth where s3api + tempauth were
    at = tempauth.index("s3api")
    assert ks == tempauth[:at] + ["authtoken", "keystoneauth"] + tempauth[at + 2:]
    assert "[filter:tempauth]" not in conf
    authtoken = conf.split("[filter:authtoken]")[1].split("\n[")[0]
    assert "keystonemiddleware.auth_token:filter_factory" in authtoken
    assert "auth_url = http://127.0.0.1:5000/v3" in authtoken
    assert "password = s3rvice-pw" in authtoken and "username = swift" in authtoken
    assert "cache = swift.cache" in authtoken and "delay_auth_decision = True" in authtoken
    assert "interface = public" in authtoken  # bootstrap makes only a public endpoint
    keystoneauth = conf.split("[filter:keystoneauth]")[1].split("\n[")[0]
    assert "operator_roles = admin, member" in keystoneauth
    assert "reseller_admin_role = ResellerAdmin" in keystoneauth


def test_the_service_password_is_not_in_the_repr():
    assert "s3rvice-pw" not in repr(SERVICE)


def test_tempauth_config_is_unchanged_without_keystone(tmp_path):
    users = configs.Users(admin_key="k")
    conf = configs.proxy_conf(Layout(tmp_path), PORTS, users)
    assert pipeline_of(conf) == configs.PROXY_PIPELINE.split()
    assert "authtoken" not in conf and "user_test_tester = testing .admin" in conf


def test_keystone_conf_is_sqlite_fernet_cached(tmp_path):
    text = keystone.keystone_conf(tmp_path / "etc", tmp_path / "db" / "keystone.db")
    assert f"connection = sqlite:///{tmp_path}/db/keystone.db" in text
    assert "provider = fernet" in text
    assert f"key_repository = {tmp_path}/etc/fernet-keys" in text
    assert "backend = dogpile.cache.memory" in text and "password_hash_rounds = 4" in text


def test_keystone_runs_without_the_callers_os_settings(tmp_path):
    env = keystone.process_env({"PATH": "/bin", "OS_PASSWORD": "x", "OS_DEFAULT__DEBUG": "1",
                                "PYTHONPATH": "/somewhere"}, tmp_path)
    assert env == {"PATH": "/bin", "OS_KEYSTONE_CONFIG_DIR": str(tmp_path)}


def test_secrets_never_on_keystones_command_lines(tmp_path):
    venv = tmp_path / "venv"
    for argv in (keystone.setup_argv(venv, "http://127.0.0.1:1/v3"),
                 keystone.serve_argv(venv, 5000)):
        assert argv[:2] == [str(venv / "bin" / "python"), "-I"]
        assert not any("pass" in a.lower() for a in argv)


def test_the_object_store_endpoint_names_the_project():
    assert keystone.object_store_url("http://127.0.0.1:8080") == \
        "http://127.0.0.1:8080/v1/AUTH_%(project_id)s"


def test_keystone_starts_before_the_servers():
    names = process_names(1, "keystone")
    assert names.index("memcached") < names.index("keystone") < names.index("account")
    assert process_names(3, "keystone")[-1] == "proxy"
    assert "keystone" not in process_names(1)


def test_the_venv_is_ready_only_with_its_stamp(tmp_path, monkeypatch):
    monkeypatch.setenv(keystone.VENV_ENV, str(tmp_path / "v"))
    assert keystone.default_venv() == tmp_path / "v"
    assert not keystone.venv_ready(tmp_path / "v")
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / keystone.READY_STAMP).write_text("keystone==0.1")  # older requirements
    assert not keystone.venv_ready(tmp_path / "v")
    (tmp_path / "v" / keystone.READY_STAMP).write_text("\n".join(keystone.REQUIREMENTS))
    assert keystone.venv_ready(tmp_path / "v")


def keystone_data_dir(root: Path) -> Path:
    """A data dir as a set-up keystone-mode s2aio leaves it (state only)."""
    root.mkdir()
    state = {"layout_version": LAYOUT_VERSION, "auth": "keystone", "admin_key": "ak",
             "ports": {"proxy": 8080, "account": 1, "container": 2, "object": 3,
                       "memcached": 4, "syslog": 5, "keystone": 5001},
             "keystone": {"admin_password": "adm-pw", "service_password": "svc-pw",
                          "projects": {"test": "a" * 32, "test2": "b" * 32,
                                       "admin": "c" * 32, "service": "d" * 32}}}
    (root / "s2aio.json").write_text(json.dumps(state))
    return root


def test_env_and_settings_are_keystone_v3(tmp_path):
    aio = S2AIO(keystone_data_dir(tmp_path / "d"))
    assert aio.auth == "keystone" and "keystone" in aio.processes
    env = aio.env("test")
    assert env["OS_AUTH_URL"] == "http://127.0.0.1:5001/v3"
    assert (env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"]) == \
        ("tester", "testing", "test")
    assert env["S2AIO_STORAGE_URL"] == "http://127.0.0.1:8080/v1/AUTH_" + "a" * 32
    assert not any(k.startswith("ST_") for k in env)
    assert aio.env("admin")["OS_PASSWORD"] == "adm-pw"
    assert aio.storage_url("test2").endswith("b" * 32)
    member = aio.settings("tester3")
    assert (member.mode, member.user, member.project_name) == ("v3", "tester_member", "test")
    with pytest.raises(S2AIOError, match="unknown user"):
        aio.env("nobody")


def test_cli_env_prints_os_exports_and_unsets_tempauth(tmp_path, capsys):
    data = keystone_data_dir(tmp_path / "d")
    assert cli.main(["env", "--data-dir", str(data), "--user", "test2"]) == 0
    out = capsys.readouterr().out
    assert "export OS_USERNAME=tester2\n" in out and "export OS_PASSWORD=testing2\n" in out
    assert "export OS_IDENTITY_API_VERSION=3\n" in out
    assert out.rstrip().endswith("unset ST_AUTH ST_USER ST_KEY OS_AUTH_TOKEN OS_STORAGE_URL")


def test_the_auth_mode_is_fixed_when_the_data_dir_is_made(tmp_path):
    data = keystone_data_dir(tmp_path / "d")
    with pytest.raises(S2AIOError, match="made with --auth keystone"):
        S2AIO(data, auth="tempauth")._check_auth_mode(json.loads((data / "s2aio.json").read_text()))
    with pytest.raises(S2AIOError, match="--auth must be one of"):
        S2AIO(tmp_path / "x", auth="ldap")
    assert S2AIO(tmp_path / "new").auth == "tempauth"
    assert S2AIO(tmp_path / "new2", auth="keystone").auth == "keystone"


def test_a_directory_that_is_no_virtualenv_is_never_deleted(tmp_path):
    venv = tmp_path / "mine"
    venv.mkdir()
    (venv / "notes.txt").write_text("keep me")
    with pytest.raises(S2AIOError, match="is not a virtualenv"):
        keystone.ensure_venv(venv)
    assert (venv / "notes.txt").read_text() == "keep me"
