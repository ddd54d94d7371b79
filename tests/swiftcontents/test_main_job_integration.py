"""The README's main job (the ``swift-notebooks`` command) against the session's s2aio:
the listing, then JupyterLab."""
from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pytest

from deploy.api import deploy
from tests.conftest import REPO, free_port

pytestmark = pytest.mark.integration
LAB_START_S = 120
# The installed entry point, as `make run` calls it (missing: the test fails).
MAIN_JOB = str(Path(sys.executable).with_name("swift-notebooks"))
VENV = Path(sys.executable).parent.parent


def test_main_job_deploys_seeds_and_lists_inside_swift(s2aio, deployed, conn):
    deploy(conn)  # earlier tests may have replaced a deployed object: put the set back
    result = subprocess.run(
        [MAIN_JOB, "--data-dir", str(s2aio.data_dir), "--no-lab"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    assert "0 uploaded" in result.stdout, result.stdout  # the set deploy() just put
    assert "notebooks/report.ipynb" in result.stdout and "Sales report" in result.stdout
    headers = conn.head_object("notebooks", "notebooks/report.ipynb")
    assert headers["x-object-meta-nb-valid"] == "yes"  # stamped by the storlet on upload
    assert "testing" not in result.stdout + result.stderr


def _status(url: str, token: str | None) -> int:
    req = urllib.request.Request(url + "/api/status")
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def _wait_for_lab(proc: subprocess.Popen, output: Path, port: int) -> str:
    """The token from the URL the main job printed, once the lab answers with it."""
    marker = f"http://127.0.0.1:{port}/lab?token="
    deadline = time.monotonic() + LAB_START_S
    while time.monotonic() < deadline and proc.poll() is None:
        text = output.read_text(errors="replace")
        if marker in text:
            token = text.split(marker, 1)[1].split()[0]
            try:
                if _status(f"http://127.0.0.1:{port}", token) == 200:
                    return token
            except OSError:
                pass
        time.sleep(0.3)
    pytest.fail(f"JupyterLab did not start:\n{output.read_text(errors='replace')[-3000:]}")


class Lab(NamedTuple):
    make: subprocess.Popen  # `make run`, leader of its own process group
    pid: int  # JupyterLab's (the main job exec'd it)
    token: str
    home: Path
    port: int
    env: dict


def _make_run(env: dict, out, *assignments: str) -> subprocess.Popen:
    """`make run VAR=...` in the repo with this venv; its install steps are taken as
    done (``-o``): the test runs inside the installed venv and must not re-install."""
    return subprocess.Popen(
        ["make", "-s", "-o", "system-deps", "-o", f"{VENV}/.installed-dev,s2aio", "run",
         f"VENV={VENV}", *assignments],
        cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _servers(home: Path) -> list[dict]:
    from jupyter_server.serverapp import list_running_servers

    return list(list_running_servers(str(home / "runtime")))


@pytest.fixture
def lab(s2aio, deployed, tmp_path_factory):
    """``make run LAB_PORT=N`` up to a running JupyterLab (terminal output in a file).

    An inherited ``JUPYTER_TOKEN`` must not win over the main job's token file.
    """
    home = tmp_path_factory.mktemp("jupyter-lab")  # scanned for secrets at session end
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_TOKEN": "inherited-decoy", "S2AIO_DIR": str(s2aio.data_dir)}
    output = home / "terminal.out"
    with open(output, "wb") as out:
        make = _make_run(env, out, f"PORT={s2aio.ports.proxy}", f"LAB_PORT={port}")
    pid = None
    try:
        token = _wait_for_lab(make, output, port)
        pid = next(s["pid"] for s in _servers(home) if s["port"] == port)
        yield Lab(make, pid, token, home, port, env)
    finally:
        _stop(make, pid)


def _stop(make: subprocess.Popen, pid: int | None = None) -> None:
    """End the process group this test started (make, the main job's JupyterLab ``pid``)
    and wait until both are gone."""
    try:
        os.killpg(make.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        make.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(make.pid, signal.SIGKILL)
        make.wait(30)
    deadline = time.monotonic() + 30
    while pid and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # JupyterLab shuts its kernels down and removes its info file


def test_lab_token_is_off_the_command_line_and_printed_once(lab, s2aio):
    # main_job exec'd JupyterLab: /proc/<pid>/cmdline is what `ps` shows anyone
    cmdline = Path(f"/proc/{lab.pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{lab.pid}/environ").read_bytes().split(b"\0")
    assert b"jupyterlab" in cmdline and lab.token.encode() not in cmdline
    assert f"--port={lab.port}".encode() in cmdline  # make run's LAB_PORT
    assert s2aio.state["admin_key"].encode() not in cmdline and b"testing" not in cmdline
    token_file = lab.home / "runtime" / f"s2aio-lab-{lab.port}.token"
    assert f"JUPYTER_TOKEN_FILE={token_file}".encode() in environ
    assert not [v for v in environ if v.startswith(b"JUPYTER_TOKEN=") or lab.token.encode() in v]
    assert token_file.read_text() == lab.token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert _status(f"http://127.0.0.1:{lab.port}", None) == 403
    # Jupyter's own token-bearing files (jpserver-*.json, -open.html) are owner-only there
    assert stat.S_IMODE((lab.home / "runtime").stat().st_mode) == 0o700
    _stop(lab.make, lab.pid)
    terminal = (lab.home / "terminal.out").read_text(errors="replace")
    assert terminal.count(lab.token) == 1  # the main job's line; JupyterLab shows ?token=...
    assert "?token=..." in terminal


def test_a_second_make_run_prints_the_running_labs_url(lab, s2aio):
    output = lab.home / "second.out"
    with open(output, "wb") as out:
        second = _make_run(lab.env, out, f"PORT={s2aio.ports.proxy}", f"LAB_PORT={lab.port}")
    assert second.wait(300) == 0, output.read_text(errors="replace")
    text = output.read_text(errors="replace")
    assert f"already runs for {s2aio.data_dir} (pid {lab.pid})" in text
    assert f"http://127.0.0.1:{lab.port}/lab?token={lab.token}" in text  # its own token
    assert len(re.findall(r"token=[0-9a-f]{32}", text)) == 1  # no other, new token
    assert [s["pid"] for s in _servers(lab.home)] == [lab.pid]  # nothing else started
    token_file = lab.home / "runtime" / f"s2aio-lab-{lab.port}.token"
    assert token_file.read_text() == lab.token
    assert _status(f"http://127.0.0.1:{lab.port}", lab.token) == 200
    # Another LAB_PORT: the running lab is still the answer, and the port is not taken.
    other = free_port()
    third = subprocess.run([MAIN_JOB, "--data-dir", str(s2aio.data_dir), "--lab-port",
                            str(other)], env=lab.env, capture_output=True, text=True,
                           timeout=300)
    assert third.returncode == 0, third.stderr
    assert f"--lab-port {other} ignored" in third.stdout and lab.token in third.stdout
    assert [s["pid"] for s in _servers(lab.home)] == [lab.pid]


def test_a_port_taken_by_another_program_is_a_clear_error(s2aio, deployed, tmp_path):
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([MAIN_JOB, "--data-dir", str(s2aio.data_dir), "--lab-port",
                                 str(port)], env=env, capture_output=True, text=True,
                                timeout=300)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr and "LAB_PORT" in result.stderr
    assert "token=" not in result.stdout + result.stderr  # no URL for a lab that never ran


def test_examples_are_seeded_only_into_an_empty_container(deployed, conn, container):
    from swiftcontents import main_job

    seeded = main_job.seed_notebooks(conn, container)
    assert "notebooks/report.ipynb" in seeded and len(seeded) >= 2
    # The user renames one example and deletes another: a later run must not undo that.
    conn.copy_object(container, "notebooks/report.ipynb", f"/{container}/my report.ipynb")
    conn.delete_object(container, "notebooks/report.ipynb")
    conn.delete_object(container, next(n for n in seeded if n != "notebooks/report.ipynb"))
    before = sorted(o["name"] for o in conn.get_container(container)[1])
    again = main_job.seed_notebooks(conn, container)
    assert sorted(o["name"] for o in conn.get_container(container)[1]) == before
    assert again == [n for n in before if n.endswith(".ipynb")]
    assert "notebooks/report.ipynb" not in again


def test_main_job_seeds_and_lists_names_that_need_quoting(deployed, conn, container,
                                                         tmp_path, monkeypatch):
    from swiftcontents import main_job
    from tests.names import QUOTED_NAMES

    source = tmp_path / "examples"
    (source / "q d").mkdir(parents=True)
    for name in QUOTED_NAMES:
        (source / "q d" / name).write_bytes((main_job.EXAMPLES / "notebooks" / "report.ipynb")
                                            .read_bytes())
    monkeypatch.setattr(main_job, "EXAMPLES", source)
    names = main_job.seed_notebooks(conn, container)
    assert names == sorted(f"q d/{n}" for n in QUOTED_NAMES)
    for name in names:  # the stamp parameter reached nbvalidate on every upload
        assert conn.head_object(container, name)["x-object-meta-nb-valid"] == "yes"
    rows = main_job.listing_rows(conn, names, container)
    assert [r["name"] for r in rows] == names
    assert all(r["title"] == "Sales report" for r in rows)
