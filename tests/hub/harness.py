"""A real JupyterHub + configurable-http-proxy for tests, on 127.0.0.1 free ports.

The hub loads ``examples/jupyterhub_config.py`` (so the example is what runs),
then a test config on top: SimpleLocalProcessSpawner and DummyAuthenticator
(every server runs as this process's Unix user: no OS isolation, tests only),
the state dir for everything the hub writes, and an API service ``hub-tests``
whose token creates users, starts servers and issues user tokens.

Only processes started here are ended here, by pid: the hub, and every process
below it (the proxy, the users' servers, their kernels) recorded before the hub
is asked to stop.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "jupyterhub_config.py"
BIN = Path(sys.executable).parent
CHP = BIN / "configurable-http-proxy"
JUPYTERHUB = BIN / "jupyterhub"
SERVICE = "hub-tests"
# Server extensions the tests need none of (JupyterLab's UI, nbdime, language
# servers, collaboration, terminals): not loading them halves a server's start.
# The README's spawn figure is measured with them (tests/hub/timing.py).
LEAN_ARGS = [f"--ServerApp.jpserver_extensions={name}=False" for name in (
    "jupyterlab", "nbdime", "jupyter_lsp", "jupyter_server_ydoc", "jupyter_server_fileid",
    "jupyter_server_terminals", "notebook_shim")]
HUB_ADMIN = "hubadmin"


class HubError(AssertionError):
    """The hub did not do what a test needs; the message carries its log's tail."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(url: str, method: str = "GET", token: str | None = None,
            body: object = None, timeout: float = 120) -> Response:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"token {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, dict(err.headers), err.read())


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """pid -> start time of every live process below ``root``."""
    parents: dict[int, int] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat:
                parents[int(entry.name)], starts[int(entry.name)] = stat
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = starts[pid]
                frontier.append(pid)
    return found


@dataclass
class Hub:
    state: Path
    credentials: Path
    hub_env: dict[str, str] = field(default_factory=dict)
    lean: bool = True
    url: str = ""
    service_token: str = ""
    proc: subprocess.Popen | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.state / "hub.log"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no hub log)"

    def _write_config(self, hub_port: int, api_port: int, env_keep: list[str]) -> Path:
        config = self.state / "hub_config.py"
        text = f"""
from swiftcontents.hub import configure
c = get_config()
load_subconfig({str(EXAMPLE)!r})
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{str(CHP)!r}]
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.admin_users = {{{HUB_ADMIN!r}}}
# Working dirs under the state dir, named by the escaped username.
configure(c, {str(self.credentials)!r}, home_root={str(self.state / "home")!r})
# The hub keeps these for servers; Swift ones must be dropped all the same.
c.Spawner.env_keep = {env_keep!r}
# Servers run as this process's user; as root, jupyter_server wants to be told.
c.Spawner.args = {(["--allow-root"] if os.geteuid() == 0 else []) + (LEAN_ARGS if self.lean else [])!r}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.services = [{{"name": {SERVICE!r}, "api_token": {self.service_token!r}}}]
c.JupyterHub.load_roles = [{{"name": {SERVICE!r}, "services": [{SERVICE!r}],
    "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"]}}]
c.JupyterHub.log_level = "INFO"
"""
        config.write_text(text)
        os.chmod(config, 0o600)  # holds the service token
        return config

    def start(self, timeout: float = 120) -> float:
        """Start hub + proxy; seconds until the hub's API answered through the proxy."""
        for tool in (JUPYTERHUB, CHP):
            if not tool.exists():
                raise HubError(f"{tool} is missing: run `make install` (the hub extra, and "
                               "configurable-http-proxy from npm)")
        self.state.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.service_token = secrets.token_hex(32)
        port, hub_port, api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{port}"
        env_keep = ["PATH", "LANG", *sorted(self.hub_env)]
        config = self._write_config(hub_port, api_port, env_keep)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ST_", "OS_"))},
               **self.hub_env, "SWIFTHUB_CREDENTIALS": str(self.credentials),
               "SWIFTHUB_STATE_DIR": str(self.state), "SWIFTHUB_BIND_URL": self.url,
               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(JUPYTERHUB), "-f", str(config)], cwd=self.state,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env)
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HubError(f"jupyterhub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if request(f"{self.url}/hub/api/", timeout=5).status == 200:
                    self.timings["hub_start"] = time.monotonic() - started
                    return self.timings["hub_start"]
            except OSError:
                pass
            time.sleep(0.2)
        raise HubError(f"the hub did not answer within {timeout} s:\n{self.log_tail()}")

    def api(self, method: str, path: str, body: object = None,
            token: str | None = None) -> Response:
        return request(f"{self.url}/hub/api/{path}", method, token or self.service_token, body)

    def add_user(self, name: str) -> None:
        resp = self.api("POST", f"users/{quote(name, safe='')}")
        if resp.status not in (201, 409):
            raise HubError(f"creating hub user {name!r}: HTTP {resp.status} {resp.text}")

    def user_token(self, name: str) -> str:
        resp = self.api("POST", f"users/{quote(name, safe='')}/tokens", {"note": "hub tests"})
        if resp.status != 201:
            raise HubError(f"a token for {name!r}: HTTP {resp.status} {resp.text}")
        return resp.json()["token"]

    def request_spawn(self, name: str) -> Response:
        return self.api("POST", f"users/{quote(name, safe='')}/server")

    def spawn(self, *names: str, timeout: float = 120) -> dict[str, float]:
        """Start the servers of ``names`` side by side; seconds until each was ready."""
        started = time.monotonic()
        for name in names:
            resp = self.request_spawn(name)
            if resp.status not in (201, 202):
                raise HubError(f"starting {name!r}'s server: HTTP {resp.status} {resp.text}\n"
                               f"{self.log_tail()}")
        ready: dict[str, float] = {}
        while time.monotonic() < started + timeout and len(ready) < len(names):
            for name in set(names) - set(ready):
                model = self.api("GET", f"users/{quote(name, safe='')}").json()
                server = model.get("servers", {}).get("")
                if server and server.get("ready"):
                    ready[name] = time.monotonic() - started
                elif not server and not model.get("pending"):
                    raise HubError(f"{name!r}'s server failed to start:\n{self.log_tail()}")
            time.sleep(0.2)
        if len(ready) < len(names):
            raise HubError(f"servers not ready within {timeout} s: "
                           f"{sorted(set(names) - set(ready))}\n{self.log_tail()}")
        self.timings.update({f"spawn {name}": took for name, took in ready.items()})
        return ready

    def server_url(self, name: str, path: str = "") -> str:
        return f"{self.url}/user/{quote(name, safe='')}/{path.lstrip('/')}"

    def stop(self, timeout: float = 60) -> list[int]:
        """Stop the hub (it stops the proxy and the servers), then end whatever of
        its descendants outlived it. Returns the pids that had to be killed."""
        if self.proc is None:
            return []
        below = descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        killed = []
        deadline = time.monotonic() + 10
        for pid, start in below.items():
            while time.monotonic() < deadline and _proc_stat(pid) and _proc_stat(pid)[1] == start:
                time.sleep(0.1)
            stat = _proc_stat(pid)
            if stat and stat[1] == start:  # the same process still, not a reused pid
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        self.proc = None
        return killed
