"""A real jupyter_server on ``SwiftContentsManager`` over an s2aio, driven over REST.

Shared by the reliability sections (load, faults, paths, hostile, collab). The server
runs as its own process, exactly as the README launches it; its token goes through a
0600 file named by ``JUPYTER_TOKEN_FILE`` and Swift's credentials through the
environment, so no secret is ever on a command line. Two clients: ``Client``
(requests, a keep-alive session) and ``RawClient`` (http.client: a path goes on the
wire byte for byte, where requests/urllib3 would resolve ``..`` and re-quote it).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

import requests

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 90.0
REQUEST_TIMEOUT_S = 120.0
RAW_REQUEST_TIMEOUT_S = 180.0  # the raw client carries hostile bodies of tens of MB
SECRET_VARIABLES = ("JUPYTER_TOKEN", "OS_AUTH_TOKEN", "OS_STORAGE_URL", "ST_AUTH", "ST_USER",
                    "ST_KEY")  # never inherited: the server gets only ``swift_env``'s


class JupyterError(RuntimeError):
    """The Jupyter server could not start; the message holds the end of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    """One HTTP answer: status, parsed JSON (or None), raw body, elapsed seconds."""

    status: int
    body: bytes
    elapsed: float
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def message(self) -> str:
        """Jupyter's error message (``message``/``reason``), else the body's start."""
        doc = self.json()
        if isinstance(doc, dict) and doc.get("message"):
            return str(doc["message"])
        return self.body[:300].decode("utf-8", "replace")


class Client:
    """One user of the server: its own HTTP session (keep-alive), token in a header."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def request(self, method: str, path: str, body: Any = None,
                timeout: float = REQUEST_TIMEOUT_S) -> Reply:
        data = None if body is None else json.dumps(body)
        began = time.perf_counter()
        try:
            resp = self.session.request(method, self.url + quote(path, safe="/?=&%"),
                                        data=data, timeout=timeout)
        except requests.RequestException as exc:  # no answer at all: status 0
            return Reply(0, f"{type(exc).__name__}: {exc}".encode(),
                         time.perf_counter() - began)
        return Reply(resp.status_code, resp.content, time.perf_counter() - began,
                     dict(resp.headers))

    def close(self) -> None:
        self.session.close()


class RawClient:
    """One user of the server over http.client (keep-alive): ``request(..., quoted=True)``
    sends a path byte for byte (no dot-segment removal or re-quoting), ``raw`` a body as is."""

    def __init__(self, url: str, token: str, timeout: float = RAW_REQUEST_TIMEOUT_S) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.timeout = timeout
        self._auth = f"token {token}"
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                quoted: bool = False, timeout: float | None = None) -> Reply:
        """``path`` is quoted here unless ``quoted``; ``raw`` is a request body sent as
        is (else ``body`` as JSON). Status 0: no answer at all."""
        timeout = self.timeout if timeout is None else timeout
        data = raw if raw is not None else (
            None if body is None else json.dumps(body).encode("utf-8"))
        target = path if quoted else quote(path, safe="/?=&%")
        headers = {"Authorization": self._auth}
        if data is not None:
            headers["Content-Type"] = "application/json"
        began = time.perf_counter()
        for attempt in (1, 2):  # a keep-alive connection the server closed: once more
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            try:
                self._conn.timeout = timeout
                if self._conn.sock is not None:  # a kept-alive socket keeps its first timeout
                    self._conn.sock.settimeout(timeout)
                self._conn.request(method, target, body=data, headers=headers)
                resp = self._conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as exc:
                self.close()
                if attempt == 2 or method not in ("GET", "HEAD"):
                    return Reply(0, f"{type(exc).__name__}: {exc}".encode(),
                                 time.perf_counter() - began)
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                return Reply(0, f"{type(exc).__name__}: {exc}".encode(),
                             time.perf_counter() - began)
            if resp.will_close:
                self.close()
            return Reply(resp.status, payload, time.perf_counter() - began,
                         dict(resp.getheaders()))
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class JupyterServer:
    """A running jupyter_server process on Swift; ``stop()`` ends it and its files."""

    url: str
    token: str
    container: str
    proc: subprocess.Popen
    home: Path

    def client(self) -> Client:
        return Client(self.url, self.token)

    def raw_client(self) -> RawClient:
        return RawClient(self.url, self.token)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return (self.home / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:] or "(no log)"

    def stop(self, keep_home: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not keep_home:
            shutil.rmtree(self.home, ignore_errors=True)


def server_argv(port: int, home: Path, container: str, storlets: str,
                extensions: Mapping[str, bool], extra: tuple[str, ...] = ()) -> list[str]:
    """The server's command line: settings only, never a secret."""
    enabled = {"swiftcontents": True, **extensions}
    return [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
            "--ip=127.0.0.1", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={home}",
            "--ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager",
            f"--SwiftContentsManager.container={container}",
            f"--SwiftContentsManager.storlets={storlets}",
            f"--ServerApp.jpserver_extensions={enabled!r}",
            *(["--allow-root"] if os.geteuid() == 0 else []), *extra]


def server_env(home: Path, swift_env: Mapping[str, str], token_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
    env.update(swift_env)
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_TOKEN_FILE=str(token_file),
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p))
    return env


def write_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)  # jupyter_server reads the whole file: no newline


def start_jupyter(swift_env: Mapping[str, str], container: str, *, storlets: str = "auto",
                  extensions: Mapping[str, bool] | None = None, extra: tuple[str, ...] = (),
                  home: Path | None = None, timeout: float = START_TIMEOUT_S) -> JupyterServer:
    """Start jupyter_server on Swift (credentials: ``swift_env``, e.g. ``aio.env("test")``,
    or ``{"OS_STORAGE_URL": ..., "OS_AUTH_TOKEN": ...}``) and wait until it answers.

    ``extensions``: server extensions besides swiftcontents (e.g. jupyter_server_ydoc);
    ``extra``: more command-line settings; ``home``: where the server's files (token,
    log, config, anything it writes relative to its cwd) go, a fresh temp dir by default.
    """
    home = home or Path(tempfile.mkdtemp(prefix="jupyter-rel-"))
    os.chmod(home, 0o700)
    token = secrets.token_hex(24)
    token_file = home / "token"
    write_secret(token_file, token)
    port = free_port()
    with open(home / "server.log", "wb") as log:
        proc = subprocess.Popen(
            server_argv(port, home, container, storlets, extensions or {}, extra),
            env=server_env(home, swift_env, token_file), cwd=home,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = JupyterServer(f"http://127.0.0.1:{port}", token, container, proc, home)
    client = server.client()
    deadline = time.monotonic() + timeout
    try:
        while client.request("GET", "/api/status", timeout=5).status != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = server.log_tail()
                server.stop()
                raise JupyterError(f"jupyter_server did not start:\n{tail}")
            time.sleep(0.25)
    finally:
        client.close()
    return server


def notebook(*markdown: str) -> dict[str, Any]:
    """A small nbformat-4 notebook (plain JSON, no nbformat import needed)."""
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "cells": [{"cell_type": "markdown", "id": f"c{i}", "metadata": {}, "source": text}
                      for i, text in enumerate(markdown)]}


def cell_sources(content: Any) -> list[str] | None:
    """The cells' sources of a notebook document, or None if it is not one."""
    try:
        return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                for c in content["cells"]]
    except (KeyError, TypeError):
        return None


# -- Swift, straight: the judge of what the server stored, and the clean-up ----------------
def read_object(conn: Any, container: str, name: str) -> tuple[dict[str, str], bytes] | None:
    """(headers, body) of an object read straight from Swift; None if it is missing."""
    from swiftclient.exceptions import ClientException

    try:
        return conn.get_object(container, name)
    except ClientException as exc:
        if exc.http_status == 404:
            return None
        raise


def drop_containers(conn: Any, containers: list[str]) -> None:
    """Delete each container with every object in it (best effort: a leftover test
    container harms nobody)."""
    from swiftclient.exceptions import ClientException

    for container in containers:
        try:
            _, rows = conn.get_container(container, full_listing=True)
            for row in rows:
                conn.delete_object(container, row["name"])
            conn.delete_container(container)
        except (ClientException, OSError):
            pass


def wipe_container(conn: Any, container: str) -> None:
    """Delete a server's container and its aux container with everything in them."""
    drop_containers(conn, [container, f"{container}_swiftcontents"])
