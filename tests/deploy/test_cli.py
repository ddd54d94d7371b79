from __future__ import annotations

import socket

import pytest

from deploy.cli import admin_settings_from_args, build_parser, main, settings_from_args
from deploy.connection import SettingsError

V1 = {"ST_AUTH": "http://127.0.0.1:1/auth/v1.0", "ST_USER": "a:b", "ST_KEY": "k-secret"}
TOKEN = {"OS_STORAGE_URL": "http://127.0.0.1:1/v1/AUTH_a", "OS_AUTH_TOKEN": "tok-secret"}
V3 = {"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p-secret",
      "OS_PROJECT_NAME": "p"}


def settings(argv, env):
    return settings_from_args(build_parser().parse_args(argv), env)


def test_env_modes():
    assert settings([], V1).mode == "v1"
    assert settings([], TOKEN).token == "tok-secret"
    assert settings([], V3).mode == "v3"


def test_flags_override_env():
    s = settings(["--user", "c:d", "--key", "other"], V1)
    assert (s.mode, s.user, s.key, s.auth_url) == ("v1", "c:d", "other", V1["ST_AUTH"])
    # explicit credentials beat an exported token
    s = settings(["--auth-url", "http://127.0.0.1:2/auth/v1.0", "--user", "x:y", "--key", "z"], TOKEN)
    assert (s.mode, s.user) == ("v1", "x:y")
    s = settings(["--auth-version", "3", "--auth-url", "http://h/v3", "--user", "u", "--key", "k",
                  "--project-name", "p"], V1)
    assert (s.mode, s.auth_url, s.project_name) == ("v3", "http://h/v3", "p")
    s = settings(["--storage-url", "http://h/v1/AUTH_x", "--token", "t"], V1)
    assert (s.mode, s.storage_url) == ("token", "http://h/v1/AUTH_x")


def test_incomplete_settings():
    with pytest.raises(SettingsError, match="go together"):
        settings(["--token", "t"], {})
    with pytest.raises(SettingsError, match="missing: key"):
        settings(["--auth-url", "http://h/auth/v1.0", "--user", "a:b"], {})


def test_admin_settings():
    args = build_parser().parse_args([])
    user = settings([], V1)
    assert admin_settings_from_args(args, V1, user) is None
    admin = admin_settings_from_args(args, {**V1, "STORLETS_ADMIN_USER": "admin:admin",
                                            "STORLETS_ADMIN_KEY": "ak"}, user)
    assert (admin.mode, admin.auth_url, admin.user) == ("v1", V1["ST_AUTH"], "admin:admin")
    admin3 = admin_settings_from_args(build_parser().parse_args(["--admin-user", "adm", "--admin-key", "x"]),
                                      V3, settings([], V3))
    assert (admin3.mode, admin3.project_name) == ("v3", "admin")
    with pytest.raises(SettingsError, match="admin-auth-url"):
        admin_settings_from_args(build_parser().parse_args(["--admin-user", "a", "--admin-key", "b"]),
                                 TOKEN, settings([], TOKEN))


@pytest.mark.parametrize("argv, code", [(["--help"], 0), (["--check", "--dry-run"], 2),
                                        (["--no-such-flag"], 2), (["--auth-version", "2"], 2),
                                        (["--timeout", "x"], 2)])
def test_usage_exit_codes(argv, code, capsys):
    assert main(argv, env=V1) == code


def test_no_credentials_is_a_clear_failure(capsys):
    assert main([], env={}) == 1
    err = capsys.readouterr().err
    assert err.startswith("storlets-deploy: error: No Swift credentials found")
    assert len(err.strip().splitlines()) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when we return: nothing listens


@pytest.mark.parametrize("env", [
    {**V1, "ST_AUTH": "http://127.0.0.1:{port}/auth/v1.0"},
    {**TOKEN, "OS_STORAGE_URL": "http://127.0.0.1:{port}/v1/AUTH_a"},
])
def test_swift_down_is_one_line_without_secrets(env, capsys):
    port = _closed_port()
    env = {k: v.format(port=port) for k, v in env.items()}
    assert main(["--timeout", "5", "-v"], env=env) == 1
    out, err = capsys.readouterr()
    assert f"cannot reach Swift at http://127.0.0.1:{port}" in err and "connection refused" in err
    assert "k-secret" not in out + err and "tok-secret" not in out + err
    assert "Traceback" not in err


def test_bad_source_fails_before_any_request(tmp_path, capsys):
    assert main(["--source", str(tmp_path / "nope")], env=V1) == 1
    assert "does not exist" in capsys.readouterr().err
