from __future__ import annotations

import os
import re
import socket
from typing import Callable

import pytest

from deploy.cli import admin_settings_from_args, build_parser, main, settings_from_args
from swiftproto import SettingsError

V1 = {"ST_AUTH": "http://127.0.0.1:1/auth/v1.0", "ST_USER": "a:b", "ST_KEY": "k-secret"}
TOKEN = {"OS_STORAGE_URL": "http://127.0.0.1:1/v1/AUTH_a", "OS_AUTH_TOKEN": "tok-secret"}
V3 = {"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p-secret",
      "OS_PROJECT_NAME": "p"}


def settings(argv, env):
    return settings_from_args(build_parser().parse_args(argv), env)


@pytest.fixture
def secret_file(tmp_path) -> Callable[..., str]:
    """Write ``text`` to a new file with ``mode`` (0600 by default); its path."""
    def write(text: str, mode: int = 0o600) -> str:
        path = tmp_path / f"secret-{len(list(tmp_path.iterdir()))}"
        path.write_text(text)
        os.chmod(path, mode)
        return str(path)
    return write


def test_env_modes():
    assert settings([], V1).mode == "v1"
    assert settings([], TOKEN).token == "tok-secret"
    assert settings([], V3).mode == "v3"


def test_flags_and_secret_files_override_env(secret_file):
    s = settings(["--user", "c:d", "--key-file", secret_file("other\n")], V1)
    assert (s.mode, s.user, s.key, s.auth_url) == ("v1", "c:d", "other", V1["ST_AUTH"])
    # explicit credentials beat an exported token
    s = settings(["--auth-url", "http://127.0.0.1:2/auth/v1.0", "--user", "x:y",
                  "--key-file", secret_file("z")], TOKEN)
    assert (s.mode, s.user, s.key) == ("v1", "x:y", "z")
    s = settings(["--auth-version", "3", "--auth-url", "http://h/v3", "--user", "u",
                  "--key-file", secret_file("k\n"), "--project-name", "p"], V1)
    assert (s.mode, s.auth_url, s.project_name, s.key) == ("v3", "http://h/v3", "p", "k")
    s = settings(["--storage-url", "http://h/v1/AUTH_x", "--token-file", secret_file("t\n")], V1)
    assert (s.mode, s.storage_url, s.token) == ("token", "http://h/v1/AUTH_x", "t")


def test_secret_file_is_its_first_line(secret_file):
    s = settings(["--key-file", secret_file("pass word\r\nsecond line\n")], V1)
    assert s.key == "pass word"  # inner spaces kept, the line ending and the rest dropped


def test_incomplete_settings(secret_file):
    with pytest.raises(SettingsError, match="needs a token"):
        settings(["--token-file", secret_file("t")], {})
    with pytest.raises(SettingsError, match="needs a token"):
        settings(["--storage-url", "http://h/v1/AUTH_x"], {})
    with pytest.raises(SettingsError, match="missing: key"):
        settings(["--auth-url", "http://h/auth/v1.0", "--user", "a:b"], {})


@pytest.mark.parametrize("flag", ["--key", "--token", "--admin-key"])
@pytest.mark.parametrize("form", ["separate", "joined"])
def test_secret_flags_are_usage_errors(flag, form, capsys):
    argv = [flag, "s3cr3t-value"] if form == "separate" else [f"{flag}=s3cr3t-value"]
    assert main(argv, env=V1) == 2
    out, err = capsys.readouterr()
    assert f"argument {flag}: takes no secret on the command line" in err
    assert f"{flag}-file FILE" in err  # says what to do instead
    assert {"--key": "ST_KEY", "--token": "OS_AUTH_TOKEN",
            "--admin-key": "STORLETS_ADMIN_KEY"}[flag] in err
    assert "s3cr3t" not in out + err


def test_help_offers_files_not_secret_flags(capsys):
    assert main(["--help"], env={}) == 0
    out = capsys.readouterr().out
    for option in ("--key-file FILE", "--token-file FILE", "--admin-key-file FILE"):
        assert option in out
    assert not re.search(r"--(key|token|admin-key)\b(?!-file)", out)
    assert "secrets never go on the command line" in out


@pytest.mark.parametrize("option", ["--key-file", "--admin-key-file", "--token-file"])
def test_readable_secret_file_is_refused(option, secret_file, capsys):
    path = secret_file("s3cr3t-value\n", mode=0o644)
    argv = [option, path] + (["--storage-url", "http://h/v1/AUTH_x"] if option == "--token-file"
                             else ["--admin-user", "a:b"])
    assert main(argv, env=V1) == 1
    err = capsys.readouterr().err
    assert "group or others may read it (mode 0644)" in err and f"chmod 600 {path}" in err
    assert "s3cr3t" not in err


def test_missing_or_empty_secret_file_fails_clearly(secret_file, tmp_path, capsys):
    assert main(["--key-file", str(tmp_path / "nope")], env=V1) == 1
    assert "cannot read" in capsys.readouterr().err
    assert main(["--key-file", secret_file("\nkey-on-line-2")], env=V1) == 1
    err = capsys.readouterr().err
    assert "the first line must hold the password or key" in err and "line-2" not in err


def test_admin_settings(secret_file):
    args = build_parser().parse_args([])
    user = settings([], V1)
    assert admin_settings_from_args(args, V1, user) is None
    admin = admin_settings_from_args(args, {**V1, "STORLETS_ADMIN_USER": "admin:admin",
                                            "STORLETS_ADMIN_KEY": "ak"}, user)
    assert (admin.mode, admin.auth_url, admin.user) == ("v1", V1["ST_AUTH"], "admin:admin")
    key_file = secret_file("x\n")
    admin3 = admin_settings_from_args(
        build_parser().parse_args(["--admin-user", "adm", "--admin-key-file", key_file]),
        V3, settings([], V3))
    assert (admin3.mode, admin3.project_name, admin3.key) == ("v3", "admin", "x")
    with pytest.raises(SettingsError, match="admin-auth-url"):
        admin_settings_from_args(
            build_parser().parse_args(["--admin-user", "a", "--admin-key-file", key_file]),
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


def test_key_from_a_file_never_printed(secret_file, capsys):
    port = _closed_port()
    env = {k: v for k, v in V1.items() if k != "ST_KEY"}
    env["ST_AUTH"] = f"http://127.0.0.1:{port}/auth/v1.0"
    assert main(["--timeout", "5", "-v", "--key-file", secret_file("file-s3cr3t\n")], env=env) == 1
    out, err = capsys.readouterr()
    assert "connection refused" in err and "file-s3cr3t" not in out + err


def test_bad_source_fails_before_any_request(tmp_path, capsys):
    assert main(["--source", str(tmp_path / "nope")], env=V1) == 1
    assert "does not exist" in capsys.readouterr().err
