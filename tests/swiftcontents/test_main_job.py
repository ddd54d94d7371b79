"""The main job's pure parts: no token on the command line; no Swift server, a clear error."""
from __future__ import annotations

import stat

from jupyter_server.auth.identity import IdentityProvider

from swiftcontents import main_job
from swiftcontents.main_job import lab_argv, lab_env, write_token_file

TOKEN = "0123456789abcdef0123456789abcdef"
SWIFT_ENV = {"ST_AUTH": "http://127.0.0.1:1/auth/v1.0", "ST_USER": "test:tester",
             "ST_KEY": "testing"}


def test_lab_command_line_holds_no_secret():
    argv = lab_argv(8888)
    assert argv[1:3] == ["-m", "jupyterlab"] and "--port=8888" in argv
    assert not [a for a in argv if "token" in a.lower() or "testing" in a or "password" in a]


def test_lab_env_passes_the_token_by_file(tmp_path):
    base = {"PATH": "/bin", "JUPYTER_TOKEN": "inherited", "OS_AUTH_TOKEN": "t",
            "OS_STORAGE_URL": "http://elsewhere/v1/AUTH_x"}
    env = lab_env(base, SWIFT_ENV, tmp_path / "lab.token")
    assert env["JUPYTER_TOKEN_FILE"] == str(tmp_path / "lab.token")
    # an inherited JUPYTER_TOKEN would beat the file; a URL + token would beat ST_*
    assert not {"JUPYTER_TOKEN", "OS_AUTH_TOKEN", "OS_STORAGE_URL"} & set(env)
    assert env["ST_USER"] == "test:tester" and env["PATH"] == "/bin"
    assert TOKEN not in "".join(env.values())


def test_token_file_is_owner_only_and_replaced(tmp_path):
    runtime = tmp_path / "runtime"
    path = write_token_file("first", 8888, runtime)
    again = write_token_file(TOKEN, 8888, runtime)
    assert again == path and path.read_text() == TOKEN  # no newline: read as is
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    assert [p.name for p in runtime.iterdir()] == [path.name]  # no temporary left


def test_jupyter_server_reads_the_token_file(tmp_path, monkeypatch):
    path = write_token_file(TOKEN, 8888, tmp_path)
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTER_TOKEN_FILE", str(path))
    provider = IdentityProvider()
    assert provider.token == TOKEN
    assert provider.token_generated is False  # so jupyter logs "?token=..." only


def test_without_the_server_parts_the_main_job_says_which_extra(monkeypatch, capsys):
    find_spec = main_job.importlib.util.find_spec
    monkeypatch.setattr(main_job.importlib.util, "find_spec",
                        lambda name: None if name == "swift" else find_spec(name))
    assert main_job.main(["--no-lab"]) == 1
    err = capsys.readouterr().err
    assert "swift not installed" in err and "pip install 'swift-notebooks[s2aio]'" in err
