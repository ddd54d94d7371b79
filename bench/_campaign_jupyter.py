"""A jupyter_server on ``SwiftContentsManager`` over an s2aio, driven over REST.

Private to the hostile-input and path-trick sections (``bench/_jupyter.py`` is the
load section's; this one stays small and separate so neither waits on the other).
The token travels in a 0600 file (``JUPYTER_TOKEN_FILE``) and Swift's credentials
in the environment: no secret on a command line.
"""
from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 90.0
REQUEST_TIMEOUT_S = 180.0
SECRET_VARIABLES = ("JUPYTER_TOKEN", "OS_AUTH_TOKEN", "OS_STORAGE_URL", "ST_AUTH", "ST_USER",
                    "ST_KEY")


class JupyterStartError(RuntimeError):
    """The server did not start; the message holds the end of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    status: int  # 0: no answer at all (connection reset, timeout)
    body: bytes
    seconds: float

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def message(self) -> str:
        """Jupyter's error ``message``, else the start of the body."""
        doc = self.json()
        if isinstance(doc, dict) and doc.get("message"):
            return str(doc["message"])
        return self.body[:300].decode("utf-8", "replace")


class Jupyter:
    """One running server process and an HTTP session (keep-alive) to it."""

    def __init__(self, swift_env: Mapping[str, str], container: str,
                 extra: tuple[str, ...] = ()) -> None:
        self.container = container
        self.home = Path(tempfile.mkdtemp(prefix="jupyter-camp-"))
        os.chmod(self.home, 0o700)
        token = secrets.token_hex(24)
        token_file = self.home / "token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
        env.update(swift_env)
        env.update(JUPYTER_CONFIG_DIR=str(self.home / "config"),
                   JUPYTER_DATA_DIR=str(self.home / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
                   JUPYTER_TOKEN_FILE=str(token_file),
                   PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p))
        argv = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
                "--ip=127.0.0.1", "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={self.home}",
                "--ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager",
                f"--SwiftContentsManager.container={container}",
                "--ServerApp.jpserver_extensions={'swiftcontents': True}",
                *(["--allow-root"] if os.geteuid() == 0 else []), *extra]
        with open(self.home / "server.log", "wb") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self._auth = f"token {token}"
        self._conn: http.client.HTTPConnection | None = None
        self.port = port
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.request("GET", "/api/status", timeout=5).status != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise JupyterStartError(f"jupyter_server did not start:\n{tail}")
            time.sleep(0.25)

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                quoted: bool = False, timeout: float = REQUEST_TIMEOUT_S) -> Reply:
        """``path`` is quoted here unless ``quoted``; then it goes on the wire byte for
        byte (http.client: no dot-segment removal or re-quoting, which requests/urllib3
        would do). ``raw`` is a request body sent as is (else ``body`` as JSON)."""
        data = raw if raw is not None else (
            None if body is None else json.dumps(body).encode("utf-8"))
        target = path if quoted else quote(path, safe="/?=&%")
        headers = {"Authorization": self._auth}
        if data is not None:
            headers["Content-Type"] = "application/json"
        began = time.perf_counter()
        for attempt in (1, 2):  # a keep-alive connection the server closed: once more
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                self._conn.timeout = timeout
                if self._conn.sock is not None:  # a kept-alive socket keeps its first timeout
                    self._conn.sock.settimeout(timeout)
                self._conn.request(method, target, body=data, headers=headers)
                resp = self._conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as exc:
                self._close()
                if attempt == 2 or method not in ("GET", "HEAD"):
                    return Reply(0, f"{type(exc).__name__}: {exc}".encode(),
                                 time.perf_counter() - began)
                continue
            except (OSError, http.client.HTTPException) as exc:
                self._close()
                return Reply(0, f"{type(exc).__name__}: {exc}".encode(),
                             time.perf_counter() - began)
            if resp.will_close:
                self._close()
            return Reply(resp.status, payload, time.perf_counter() - began)
        raise AssertionError("unreachable")

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.home / "server.log").read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        self._close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.home, ignore_errors=True)
