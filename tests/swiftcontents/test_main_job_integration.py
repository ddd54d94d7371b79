"""The README's main job (the ``swift-notebooks`` command) against the session's s2aio:
the listing, then JupyterLab."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from deploy.api import deploy
from tests.conftest import free_port

pytestmark = pytest.mark.integration
LAB_START_S = 120
# The installed entry point, as `make run` calls it (missing: the test fails).
MAIN_JOB = str(Path(sys.executable).with_name("swift-notebooks"))


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


@pytest.fixture
def lab(s2aio, deployed, tmp_path_factory):
    """``swift-notebooks`` up to a running JupyterLab (terminal output in a file).

    An inherited ``JUPYTER_TOKEN`` must not win over the main job's token file.
    """
    home = tmp_path_factory.mktemp("jupyter-lab")  # scanned for secrets at session end
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_TOKEN": "inherited-decoy"}
    output = home / "terminal.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            [MAIN_JOB, "--data-dir", str(s2aio.data_dir),
             "--lab-port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        token = _wait_for_lab(proc, output, port)
        yield proc, token, home, port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_lab_token_is_off_the_command_line_and_printed_once(lab, s2aio):
    proc, token, home, port = lab
    # main_job exec'd JupyterLab: same pid; /proc/<pid>/cmdline is what `ps` shows anyone
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
    assert b"jupyterlab" in cmdline and token.encode() not in cmdline
    assert s2aio.state["admin_key"].encode() not in cmdline and b"testing" not in cmdline
    token_file = home / "runtime" / f"s2aio-lab-{port}.token"
    assert f"JUPYTER_TOKEN_FILE={token_file}".encode() in environ
    assert not [v for v in environ if v.startswith(b"JUPYTER_TOKEN=") or token.encode() in v]
    assert token_file.read_text() == token and stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert _status(f"http://127.0.0.1:{port}", None) == 403
    # Jupyter's own token-bearing files (jpserver-*.json, -open.html) are owner-only there
    assert stat.S_IMODE((home / "runtime").stat().st_mode) == 0o700
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    terminal = (home / "terminal.out").read_text(errors="replace")
    assert terminal.count(token) == 1  # the main job's line; JupyterLab shows ?token=...
    assert "?token=..." in terminal


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
