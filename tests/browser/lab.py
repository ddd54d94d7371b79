"""A JupyterLab on SwiftContentsManager for the browser tests, and a REST client for it.

The lab runs as a user gets it from ``make run``: JupyterLab 4 with the
swiftcontents server extension, nbdime and whatever labextensions the venv
holds (``make install`` puts the project's own there). Everything it writes
lives in one temporary home (config, data, runtime, settings, workspaces,
IPython), so a developer's own Jupyter set-up neither leaks in nor is touched.

The token reaches the server through an owner-only file (``JUPYTER_TOKEN_FILE``),
never argv or the environment (kernels inherit the environment), and the browser
logs in through the login form, so no URL carries it either.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

import requests

START_TIMEOUT_S = 120.0  # 1.5-3 s on a quiet machine; the shared 2 cores are rarely quiet
STOP_TIMEOUT_S = 30.0
REST_TIMEOUT_S = 120.0

# jupyter-collaboration is in the venv for the benchmarks (`make test`'s extras): most
# browser tests see the single-user JupyterLab; ``collaborative=True`` turns it on
# (saves then go through the collaboration server, not the contents PUT).
COLLABORATION_SERVER = ("jupyter_server_ydoc", "jupyter_collaboration")
COLLABORATION_LAB = ("@jupyter/collaboration-extension", "@jupyter/docprovider-extension")
# Without these JupyterLab asks about news and update checks in a toast over the UI.
NOTIFICATION_SETTINGS = "@jupyterlab/apputils-extension/notification.jupyterlab-settings"


class LabError(RuntimeError):
    """The lab under test did not start, stop or answer as expected."""


def server_config(container: str, collaborative: bool = False) -> dict[str, Any]:
    """``jupyter_server_config.json``: Swift contents, collaboration on or off, a quiet lab."""
    extensions = {"swiftcontents": True,
                  **{name: collaborative for name in COLLABORATION_SERVER}}
    return {
        "ServerApp": {"contents_manager_class": "swiftcontents.SwiftContentsManager",
                      "jpserver_extensions": extensions, "port_retries": 0,
                      "open_browser": False},
        "SwiftContentsManager": {"container": container},
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                   "extension_manager": "readonly"},
    }


def page_config(collaborative: bool = False) -> dict[str, Any]:
    """``labconfig/page_config.json``: the collaboration frontend as its server."""
    return {"disabledExtensions": {name: not collaborative for name in COLLABORATION_LAB}}


def user_settings() -> dict[str, Any]:
    """User settings files (relative path -> JSON) for ``JUPYTERLAB_SETTINGS_DIR``."""
    return {NOTIFICATION_SETTINGS: {"fetchNews": "false", "checkForUpdates": False}}


def lab_dirs(home: Path) -> dict[str, Path]:
    return {"JUPYTER_CONFIG_DIR": home / "config", "JUPYTER_DATA_DIR": home / "data",
            "JUPYTER_RUNTIME_DIR": home / "runtime", "JUPYTERLAB_SETTINGS_DIR": home / "settings",
            "JUPYTERLAB_WORKSPACES_DIR": home / "workspaces", "IPYTHONDIR": home / "ipython"}


def lab_env(base: Mapping[str, str], swift_env: Mapping[str, str], home: Path,
            token_file: Path, repo: Path) -> dict[str, str]:
    """The lab's environment: Swift credentials, the isolated dirs, the token by file."""
    env = {k: v for k, v in base.items()
           if not k.startswith(("JUPYTER", "OS_", "ST_")) and k != "IPYTHONDIR"}
    env.update(swift_env)
    env.update({k: str(v) for k, v in lab_dirs(home).items()})
    env["JUPYTER_TOKEN_FILE"] = str(token_file)
    env["PYTHONPATH"] = str(repo)
    return env


def lab_argv(port: int) -> list[str]:
    """The command line: no secret in it (``ps`` shows it to every user)."""
    return [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", *(["--allow-root"] if os.geteuid() == 0 else [])]


def _private_dirs(path: Path) -> None:
    """``path`` and its missing parents, each 0700 (``mkdir(parents=True)`` gives
    the parents the umask's mode)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700)


def _write_private(path: Path, text: str) -> None:
    _private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def write_home(home: Path, container: str, token: str, collaborative: bool = False) -> Path:
    """Lay out the lab's home; return the token file's path."""
    dirs = lab_dirs(home)
    for path in dirs.values():
        _private_dirs(path)
    config = dirs["JUPYTER_CONFIG_DIR"]
    _write_private(config / "jupyter_server_config.json",
                   json.dumps(server_config(container, collaborative)))
    _write_private(config / "labconfig" / "page_config.json",
                   json.dumps(page_config(collaborative)))
    for rel, settings in user_settings().items():
        _write_private(dirs["JUPYTERLAB_SETTINGS_DIR"] / rel, json.dumps(settings))
    token_file = dirs["JUPYTER_RUNTIME_DIR"] / "lab.token"
    _write_private(token_file, token)  # jupyter_server reads the whole file: no newline
    return token_file


class Rest:
    """The lab's REST API with the token in a header (never in a URL)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, self.url + quote(path, safe="/?=&%"),
                                    json=body, timeout=REST_TIMEOUT_S)

    def json(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.request(method, path, body)
        if resp.status_code >= 300:
            raise LabError(f"{method} {path}: {resp.status_code} {resp.text[:500]}")
        return resp.json() if resp.content else None

    def contents(self, path: str, content: bool = True) -> dict:
        return self.json("GET", f"/api/contents/{path}?content={int(content)}")

    def mkdir(self, path: str) -> dict:
        return self.json("PUT", f"/api/contents/{path}", {"type": "directory"})

    def put_notebook(self, path: str, nb: Mapping) -> dict:
        return self.json("PUT", f"/api/contents/{path}", {"type": "notebook", "content": nb})

    def checkpoints(self, path: str) -> list[dict]:
        return self.json("GET", f"/api/contents/{path}/checkpoints")

    def create_checkpoint(self, path: str) -> dict:
        return self.json("POST", f"/api/contents/{path}/checkpoints")

    def shutdown_kernels(self) -> None:
        """Kernels the UI started cost ~50 MB each: end them between tests."""
        for session in self.json("GET", "/api/sessions"):
            self.request("DELETE", f"/api/sessions/{session['id']}")
        for kernel in self.json("GET", "/api/kernels"):
            self.request("DELETE", f"/api/kernels/{kernel['id']}")


@dataclass
class Lab:
    url: str
    token: str = field(repr=False)  # pytest prints reprs in assertion failures
    container: str
    home: Path
    log: Path
    process: subprocess.Popen
    rest: Rest
    started: dt.datetime  # UTC: everything in its container is younger

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_lab(home: Path, port: int, container: str, swift_env: Mapping[str, str],
              repo: Path, collaborative: bool = False) -> Lab:
    """Start JupyterLab and wait until its API answers; LabError with its log if not."""
    token = secrets.token_hex(24)
    token_file = write_home(home, container, token, collaborative)
    env = lab_env(os.environ, swift_env, home, token_file, repo)
    log = home / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(lab_argv(port), env=env, cwd=home, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    lab = Lab(url, token, container, home, log, proc, Rest(url, token),
              dt.datetime.now(dt.timezone.utc))
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if lab.rest.request("GET", "/api/status").status_code == 200:
                return lab
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_lab(lab)
            raise LabError(f"JupyterLab did not start (exit {proc.returncode}); its log:\n"
                           + lab.log_text()[-4000:])
        time.sleep(0.25)


def stop_lab(lab: Lab) -> None:
    """``POST /api/shutdown`` (kernels too), then wait; end its process group if it hangs."""
    if lab.process.poll() is None:
        try:
            lab.rest.request("POST", "/api/shutdown")
        except requests.RequestException:
            pass
        try:
            lab.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(lab.process.pid, signal.SIGKILL)  # its own session: only what it started
            lab.process.wait(STOP_TIMEOUT_S)
    lab.rest.session.close()
