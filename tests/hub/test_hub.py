"""swiftcontents.hub without a hub: names, credentials files, the spawn hook."""
from __future__ import annotations

import json
import os
import string
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st
from tornado import web
from traitlets.config import Config

from swiftcontents import SwiftContentsError
from swiftcontents.hub import (AUX_SUFFIX, MAX_CONTAINER_BYTES, SwiftSpawnHook, check_template,
                               configure, container_for, escape_username, is_swift_variable,
                               load_credentials, parse_credentials, server_args,
                               server_environment, user_environment)

KEY = "s3cr3t-key-for-alice"
V1 = {"defaults": {"ST_AUTH": "http://127.0.0.1:8080/auth/v1.0"},
      "users": {"alice": {"ST_USER": "alice:alice", "ST_KEY": KEY},
                "bob": {"ST_USER": "bob:bob", "ST_KEY": "bobs-key"}}}
V3 = {"defaults": {"OS_AUTH_URL": "http://127.0.0.1:5000/v3", "OS_USER_DOMAIN_NAME": "Default",
                   "OS_PROJECT_DOMAIN_NAME": "Default"},
      "users": {"alice": {"OS_USERNAME": "alice", "OS_PASSWORD": KEY,
                          "OS_PROJECT_NAME": "nb-alice"}}}
SAFE = set(string.ascii_lowercase + string.digits + "-")


# -- names --------------------------------------------------------------------------
@pytest.mark.parametrize("name, escaped", [
    ("alice", "alice"), ("bob42", "bob42"), ("Mary-Jane", "-4dary-2d-4aane"),
    ("../x", "-2e-2e-2fx"), ("a_b", "a-5fb"), ("é", "-c3-a9"), ("a b", "a-20b"),
    ("{username}", "-7busername-7d"), ("a\x00b", "a-00b"),
])
def test_escape_keeps_lowercase_letters_and_digits_and_hex_escapes_the_rest(name, escaped):
    assert escape_username(name) == escaped


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=64), st.text(min_size=1, max_size=64))
def test_escape_is_injective_and_safe(a, b):
    ea, eb = escape_username(a), escape_username(b)
    assert set(ea) <= SAFE and set(eb) <= SAFE
    assert (ea == eb) == (a == b)
    # no user's container is another user's aux container ('_' never appears);
    # a name whose escape would not fit a container name is refused (400)
    try:
        ca, cb = container_for(a), container_for(b)
    except SwiftContentsError as exc:
        assert exc.status == 400 and "would pass" in exc.message
        return
    assert ca != cb + AUX_SUFFIX and len(ca.encode()) <= MAX_CONTAINER_BYTES


@pytest.mark.parametrize("name", ["", "x" * 65, "\ud800"])
def test_escape_refuses_empty_long_and_invalid_names(name):
    with pytest.raises(SwiftContentsError) as err:
        escape_username(name)
    assert err.value.status == 400


def test_container_for_uses_the_template_and_bounds_the_length():
    assert container_for("alice") == "nb-alice"
    assert container_for("alice", "team-{username}-notebooks") == "team-alice-notebooks"
    assert len(container_for("\U0001f600" * 16).encode()) <= MAX_CONTAINER_BYTES
    with pytest.raises(SwiftContentsError, match="would pass"):
        container_for("ab", "x" * MAX_CONTAINER_BYTES + "{username}")


@pytest.mark.parametrize("template", [
    "nb", "nb-{user}", "{username}-{username}", "a/{username}", "{username!r}x{}",
    "nb-{username", "nb\n{username}", "{0}{username}"])
def test_templates_must_name_username_once_and_nothing_else(template):
    with pytest.raises(SwiftContentsError):
        check_template(template)


def test_swift_variables_are_recognised_by_prefix():
    for name in ("ST_KEY", "OS_AUTH_TOKEN", "os_password", "SWIFTCLIENT_INSECURE",
                 "STORLETS_ADMIN_KEY", "S2AIO_STORAGE_URL"):
        assert is_swift_variable(name)
    for name in ("PATH", "JUPYTERHUB_API_TOKEN", "HOME", "LANG"):
        assert not is_swift_variable(name)


# -- credentials --------------------------------------------------------------------
def test_a_v1_record_merges_over_the_defaults():
    env = user_environment(parse_credentials(json.dumps(V1)), "alice")
    assert env == {"ST_AUTH": V1["defaults"]["ST_AUTH"], "ST_USER": "alice:alice", "ST_KEY": KEY}


def test_a_v3_record_is_accepted():
    env = user_environment(parse_credentials(json.dumps(V3)), "alice")
    assert env["OS_PASSWORD"] == KEY and env["OS_PROJECT_NAME"] == "nb-alice"


def test_a_user_without_a_record_is_refused_with_403():
    with pytest.raises(SwiftContentsError) as err:
        user_environment(parse_credentials(json.dumps(V1)), "mallory", "FILE")
    assert err.value.status == 403 and "'mallory'" in err.value.message and "FILE" in err.value.message


@pytest.mark.parametrize("doc, expected", [
    ({"users": {"alice": {"ST_USER": "alice:alice", "ST_KEY": KEY}}}, "No Swift credentials found"),
    ({"users": {"alice": {"OS_AUTH_URL": "http://k/v3", "OS_USERNAME": "a",
                          "OS_PASSWORD": KEY}}}, "project name or id"),
    ({"users": {"alice": {"OS_STORAGE_URL": "http://s/v1/AUTH_a", "OS_AUTH_TOKEN": KEY}}},
     "not a Swift auth variable"),
    ({"users": {"alice": {"PATH": "/tmp"}}}, "not a Swift auth variable"),
    ({"users": {"alice": {"ST_KEY": KEY + "\n"}}}, "ST_KEY must be one line"),
    ({"users": {"alice": {"ST_KEY": 12345}}}, "ST_KEY must be one line"),
    ({"users": {"alice": "ST_KEY=" + KEY}}, "must be an object"),
    ({"users": []}, "'users' must map"),
    ({"defaults": {}}, "with 'users'"),
    ({"users": {}, "admin": {}}, "with 'users'"),
])
def test_bad_credentials_are_refused_without_showing_a_secret(doc, expected):
    with pytest.raises(SwiftContentsError) as err:
        user_environment(parse_credentials(json.dumps(doc)), "alice")
    assert expected in err.value.message
    assert KEY not in err.value.message


def test_duplicate_keys_and_bad_json_are_refused_without_echoing_the_text():
    with pytest.raises(SwiftContentsError, match="twice"):
        parse_credentials('{"users": {"alice": {"ST_KEY": "a", "ST_KEY": "%s"}}}' % KEY)
    with pytest.raises(SwiftContentsError) as err:
        parse_credentials('{"users": {"alice": {"ST_KEY": "%s"' % KEY)
    assert "not valid JSON" in err.value.message and KEY not in err.value.message


def test_the_credentials_file_must_be_private(tmp_path):
    path = tmp_path / "swift-users.json"
    path.write_text(json.dumps(V1))
    os.chmod(path, 0o640)
    with pytest.raises(SwiftContentsError, match="chmod 600"):
        load_credentials(path)
    os.chmod(path, 0o600)
    assert load_credentials(path)["users"]["alice"]["ST_KEY"] == KEY
    with pytest.raises(SwiftContentsError, match="cannot read"):
        load_credentials(tmp_path / "missing.json")


# -- the spawn hook -----------------------------------------------------------------
class FakeSpawner:
    """What the hook touches of a JupyterHub Spawner (unit test only)."""

    def __init__(self, name: str, home: bool = False) -> None:
        self.user = SimpleNamespace(name=name)
        self.env_keep = ["PATH", "OS_AUTH_TOKEN", "ST_KEY", "LANG"]
        self.environment = {"LANG": "C.UTF-8", "OS_STORAGE_URL": "http://admin", "ST_USER": "x"}
        self.args = ["--allow-root", "--SwiftContentsManager.container=stale"]
        self.home_dir = "/tmp/raw"
        self._home = home
        self.logged: list[str] = []
        self.log = SimpleNamespace(info=lambda msg, *a: self.logged.append(msg % a))

    def has_trait(self, name: str) -> bool:
        return name == "home_dir" and self._home


@pytest.fixture
def creds_file(tmp_path):
    path = tmp_path / "swift-users.json"
    path.write_text(json.dumps(V1))
    os.chmod(path, 0o600)
    return path


def test_the_hook_sets_the_users_container_credentials_and_nothing_of_the_hub(creds_file):
    spawner = FakeSpawner("alice")
    SwiftSpawnHook(creds_file)(spawner)
    assert spawner.env_keep == ["PATH", "LANG"]
    assert spawner.environment == {"LANG": "C.UTF-8", "ST_AUTH": V1["defaults"]["ST_AUTH"],
                                   "ST_USER": "alice:alice", "ST_KEY": KEY}
    assert spawner.args == [
        "--allow-root", "--ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager",
        "--SwiftContentsManager.container=nb-alice", "--SwiftContentsManager.storlets=auto"]
    assert not any(KEY in arg for arg in spawner.args)
    assert spawner.logged and not any(KEY in line for line in spawner.logged)
    # A second spawn replaces its own arguments, never stacks them.
    SwiftSpawnHook(creds_file, storlets="off")(spawner)
    assert [a for a in spawner.args if "container=" in a] == ["--SwiftContentsManager.container=nb-alice"]
    assert "--SwiftContentsManager.storlets=off" in spawner.args


def test_the_hook_refuses_with_an_http_error_and_changes_nothing(creds_file):
    spawner = FakeSpawner("mallory")
    before = (list(spawner.args), dict(spawner.environment))
    with pytest.raises(web.HTTPError) as err:
        SwiftSpawnHook(creds_file)(spawner)
    assert err.value.status_code == 403 and "no Swift credentials" in err.value.log_message
    assert (spawner.args, spawner.environment) == before


def test_the_hook_names_working_dirs_by_the_escaped_username(creds_file, tmp_path):
    doc = json.loads(creds_file.read_text())
    doc["users"]["../bob"] = doc["users"]["bob"]
    creds_file.write_text(json.dumps(doc))
    spawner = FakeSpawner("../bob", home=True)
    SwiftSpawnHook(creds_file, home_root=tmp_path / "home")(spawner)
    assert spawner.home_dir == str(tmp_path / "home" / "-2e-2e-2fbob")
    assert (tmp_path / "home" / "-2e-2e-2fbob").is_dir()
    assert "--SwiftContentsManager.container=nb--2e-2e-2fbob" in spawner.args


def test_a_credentials_callable_is_checked_like_a_record_and_its_errors_are_not_echoed():
    spawner = FakeSpawner("alice")
    SwiftSpawnHook(lambda name: {"ST_AUTH": "http://a/auth/v1.0", "ST_USER": f"{name}:{name}",
                                 "ST_KEY": KEY})(spawner)
    assert spawner.environment["ST_USER"] == "alice:alice"

    def failing(name):
        raise RuntimeError(f"keystone said no to password {KEY}")
    with pytest.raises(web.HTTPError) as err:
        SwiftSpawnHook(failing)(FakeSpawner("alice"))
    assert "RuntimeError" in err.value.log_message and KEY not in err.value.log_message


def test_server_args_and_environment_are_pure():
    assert server_args(["--x", "--ServerApp.contents_manager_class=other"], "c", "on") == [
        "--x", "--ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager",
        "--SwiftContentsManager.container=c", "--SwiftContentsManager.storlets=on"]
    assert server_environment({"A": "1", "OS_AUTH_TOKEN": "t"}, {"ST_KEY": "k"}) == {
        "A": "1", "ST_KEY": "k"}


def test_configure_sets_the_hook_and_the_singleuser_command(creds_file):
    c = Config()
    hook = configure(c, creds_file, storlets="on")
    assert c.Spawner.pre_spawn_hook is hook and hook.storlets == "on"
    assert c.Spawner.cmd[0].endswith("jupyterhub-singleuser")
    c2 = Config()
    c2.Spawner.cmd = ["my-singleuser"]
    configure(c2, creds_file)
    assert c2.Spawner.cmd == ["my-singleuser"]
    with pytest.raises(SwiftContentsError):
        configure(Config(), creds_file, storlets="sometimes")
