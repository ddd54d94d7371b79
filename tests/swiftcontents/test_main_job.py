"""The main job's pure parts: no token on the command line; no Swift server, a clear error."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from jupyter_server.auth.identity import IdentityProvider

from swiftcontents import main_job
from swiftcontents.main_job import lab_argv, lab_env, write_token_file
from tests.conftest import REPO

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


# -- a second run finds the running lab -------------------------------------------

def test_lab_record_is_one_per_data_dir_and_holds_no_token(tmp_path):
    runtime = tmp_path / "runtime"
    a = main_job.lab_record_path(tmp_path / "a", runtime)
    assert a == main_job.lab_record_path(tmp_path / "x" / ".." / "a", runtime)
    assert a != main_job.lab_record_path(tmp_path / "b", runtime) and a.parent == runtime
    main_job.write_lab_record(a, 4242, 8899, tmp_path / "a")
    assert main_job.read_lab_record(a) == (4242, 8899) and "token" not in a.read_text()
    assert stat.S_IMODE(a.stat().st_mode) == 0o600
    for garbage in ("", "[1]", '{"pid": "1", "port": 1}', '{"pid": -3, "port": 1}',
                    '{"pid": 3}', "{"):
        a.write_text(garbage)
        assert main_job.read_lab_record(a) is None


def _server_info(runtime, pid: int, port: int = 8899) -> dict:
    info = {"url": f"http://127.0.0.1:{port}/", "port": port, "pid": pid, "token": TOKEN,
            "base_url": "/", "hostname": "127.0.0.1", "secure": False, "sock": "",
            "root_dir": "/", "password": False, "version": "2"}
    (runtime / f"jpserver-{pid}.json").write_text(json.dumps(info))
    return info


def test_running_lab_is_the_recorded_pid_with_its_own_token(tmp_path):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    record = main_job.lab_record_path(tmp_path / "d", runtime)
    assert main_job.running_lab(record, runtime, wait_s=0) is None  # no record
    _server_info(runtime, os.getppid(), port=9000)  # another live server, not ours
    main_job.write_lab_record(record, os.getpid(), 8899, tmp_path / "d")
    assert main_job.running_lab(record, runtime, wait_s=0) is None
    _server_info(runtime, os.getpid(), port=8898)  # the pid, but not the lab's port
    assert main_job.running_lab(record, runtime, wait_s=0) is None
    _server_info(runtime, os.getpid())  # a live pid: this process stands in for the lab
    info = main_job.running_lab(record, runtime, wait_s=0)
    assert info["pid"] == os.getpid()
    assert main_job.lab_url(info) == f"http://127.0.0.1:8899/lab?token={TOKEN}"


def test_a_dead_lab_is_not_running(tmp_path):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(proc.stdout)  # exited: its server info file is stale
    record = main_job.lab_record_path(tmp_path / "d", runtime)
    main_job.write_lab_record(record, dead, 8899, tmp_path / "d")
    _server_info(runtime, dead)
    assert main_job.running_lab(record, runtime, wait_s=0) is None


@pytest.mark.parametrize("text", ["0", "65536", "-1", "x", ""])
def test_ports_out_of_range_are_usage_errors(text, capsys):
    with pytest.raises(SystemExit) as exc:
        main_job.main(["--no-lab", "--lab-port", text])
    assert exc.value.code == 2 and "a port is a number from 1 to 65535" in capsys.readouterr().err


def test_make_run_passes_the_ports_and_treats_empty_as_default():
    def run_line(*assignments: str) -> str:
        out = subprocess.run(["make", "-n", "-o", "system-deps", "-o",
                              ".venv/.installed-dev,s2aio", "run", *assignments],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
        return next(line for line in out.splitlines() if "swift-notebooks" in line)
    assert run_line("LAB_PORT=18999", "PORT=18080").split()[1:] == [
        "--port", "18080", "--lab-port", "18999"]
    assert run_line("LAB_PORT=", "PORT=").split()[1:] == []
    assert run_line().split()[1:] == ["--port", "8080", "--lab-port", "8888"]
