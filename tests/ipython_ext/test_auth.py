"""``%storlet_auth`` in a real InteractiveShell: secrets never in a line, a cell or output.

No servers: auth is pointed at a closed port, so the magic runs up to the request
and fails there with a one-line error (what it did before that is asserted).
"""
from __future__ import annotations

import getpass
import os
import socket

import pytest
from IPython.core.error import StdinNotImplementedError, UsageError

from ipython_ext.swiftio import Session, translate
from swiftproto import SettingsError, SwiftSettings

from .conftest import AUTH_VARS

SECRET = "s3cr3t-Value"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when we return: nothing listens


@pytest.fixture
def v1_without_key(monkeypatch) -> str:
    """ST_AUTH (a closed port) and ST_USER set, no key anywhere in the environment."""
    for name in AUTH_VARS + ("STORLETS_ADMIN_KEY",):
        monkeypatch.delenv(name, raising=False)
    url = f"http://127.0.0.1:{_closed_port()}/auth/v1.0"
    monkeypatch.setenv("ST_AUTH", url)
    monkeypatch.setenv("ST_USER", "test:tester")
    return url


@pytest.fixture
def typed(monkeypatch) -> list[str]:
    """getpass answers SECRET; the prompts it was given are recorded."""
    prompts: list[str] = []

    def fake_getpass(prompt: str = "Password: ", stream=None) -> str:
        prompts.append(prompt)
        return SECRET
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    return prompts


def _usage_error(ip, line: str, cell: str | None = None) -> str:
    with pytest.raises(UsageError) as info:
        if cell is None:
            ip.run_line_magic("storlet_auth", line)
        else:
            ip.run_cell_magic("storlet_auth", line, cell)
    return str(info.value)


@pytest.mark.parametrize("line", [
    f"--key {SECRET}", f"--password={SECRET}", f"--os-password {SECRET}", f"--token {SECRET}",
    f"--admin-key {SECRET}", f"ST_KEY={SECRET}", f"OS_PASSWORD='{SECRET}'",
    "--env-file f AUTH_tk0123456789abcdef0123456789abcdef",
])
def test_a_secret_on_the_line_is_refused_without_echo(ip, v1_without_key, typed, line, capsys):
    message = _usage_error(ip, line)
    assert "takes no key, password or token" in message
    assert "--env-file FILE" in message and "--ask" in message  # says how instead
    out, err = capsys.readouterr()
    assert SECRET not in message + out + err and "AUTH_tk01" not in message
    assert typed == [] and "ST_KEY" not in os.environ  # refused before doing anything


def test_other_arguments_are_refused_without_echo(ip, v1_without_key, typed):
    message = _usage_error(ip, SECRET)  # a bare key pasted as an argument
    assert "takes only --env-file FILE and --ask" in message and SECRET not in message


def test_a_secret_in_the_cell_is_refused_by_name(ip, v1_without_key, typed, capsys):
    cell = f"export ST_AUTH=http://elsewhere/auth/v1.0\nexport ST_KEY='{SECRET}'\n"
    message = _usage_error(ip, "", cell)
    assert "sets ST_KEY" in message and "delete that line" in message
    assert SECRET not in message + "".join(capsys.readouterr())
    assert os.environ["ST_AUTH"] == v1_without_key  # nothing of the cell was applied
    assert typed == []


def test_missing_key_is_asked_with_getpass(ip, v1_without_key, typed, capsys):
    message = _usage_error(ip, "")
    assert "cannot reach auth v1" in message  # it went on to authenticate
    assert typed == ["ST_KEY for test:tester (not echoed, not stored): "]
    assert os.environ["ST_KEY"] == SECRET  # in the process environment only
    assert SECRET not in message + "".join(capsys.readouterr())


def test_ask_replaces_a_key_from_the_environment(ip, v1_without_key, typed, monkeypatch):
    monkeypatch.setenv("ST_KEY", "old-key")
    _usage_error(ip, "--ask")
    assert len(typed) == 1 and os.environ["ST_KEY"] == SECRET


def test_cell_gives_settings_and_the_key_is_asked(ip, v1_without_key, typed):
    url = f"http://127.0.0.1:{_closed_port()}/auth/v1.0"
    _usage_error(ip, "", f"export ST_AUTH={url}\nexport ST_USER=test2:tester2\n")
    assert os.environ["ST_AUTH"] == url
    assert typed == ["ST_KEY for test2:tester2 (not echoed, not stored): "]


def test_keystone_asks_for_os_password(ip, monkeypatch, typed):
    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OS_AUTH_URL", f"http://127.0.0.1:{_closed_port()}/v3")
    monkeypatch.setenv("OS_USERNAME", "u")
    monkeypatch.setenv("OS_PROJECT_NAME", "p")
    _usage_error(ip, "")
    assert typed[0].startswith("OS_PASSWORD for u") and os.environ["OS_PASSWORD"] == SECRET


@pytest.mark.parametrize("failure", [StdinNotImplementedError, EOFError])
def test_frontend_without_input_says_what_to_do(ip, v1_without_key, monkeypatch, failure):
    def no_input(prompt: str = "", stream=None) -> str:
        raise failure("no stdin")
    monkeypatch.setattr(getpass, "getpass", no_input)
    message = _usage_error(ip, "")
    assert "ST_KEY is not set and this frontend cannot ask for it" in message
    assert "--env-file FILE" in message and "ST_KEY" not in os.environ


def test_env_file_must_be_private(ip, v1_without_key, typed, tmp_path):
    env_file = tmp_path / "s2aio.env"
    env_file.write_text(f"export ST_KEY='{SECRET}'\n")
    env_file.chmod(0o644)
    message = _usage_error(ip, f"--env-file {env_file}")
    assert "group or others may read it (mode 0644)" in message and "chmod 600" in message
    assert SECRET not in message and "ST_KEY" not in os.environ
    env_file.chmod(0o600)
    message = _usage_error(ip, f"--env-file {env_file}")
    assert "cannot reach" in message and SECRET not in message
    assert os.environ["ST_KEY"] == SECRET and typed == []  # the file's key: nothing asked


def test_settings_and_errors_never_show_secrets():
    settings = SwiftSettings(mode="v1", auth_url="http://h/auth/v1.0", user="a:b", key=SECRET)
    token = SwiftSettings(mode="token", storage_url="http://h/v1/AUTH_a", token=SECRET)
    for shown in (repr(settings), str(settings), repr(token), settings.describe(),
                  token.describe()):
        assert SECRET not in shown
    session = Session({"ST_AUTH": "http://h/auth/v1.0", "ST_USER": "a:b", "ST_KEY": SECRET})
    session.connection()  # builds the settings (no request yet)
    assert SECRET not in repr(session) + repr(session.settings)
    session.close()
    error = translate(SettingsError(f"boom {SECRET} AUTH_tk0123456789abcdef0123456789abcdef"),
                      "authenticating", settings)
    assert SECRET not in str(error) and "AUTH_tk0123" not in str(error)
