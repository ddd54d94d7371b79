"""The S2AIO object: create, start, check, stop one all-in-one from a data dir."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import pwd
import time
import urllib.error
import urllib.request
from pathlib import Path

from swiftproto.protocol import ACCOUNT_ENABLED, run_headers, storlet_object_headers

from . import cgroups, configs, mounts, procs
from .errors import S2AIOError
from .layout import LAYOUT_VERSION, Layout, SERVERS
from .native import prepare_native

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

DEFAULT_PORT = 8080

# name -> (account, tempauth user, key); the admin key is per data dir.
USERS = {
    "test": ("test", "test:tester", "testing"),
    "test2": ("test2", "test2:tester2", "testing2"),
    "tester3": ("test", "test:tester3", "testing3"),
}
STORLET_ACCOUNTS = ("test", "test2", "admin")
STORLET_CONTAINERS = ("storlet", "dependency", "log")
PROCESSES = ("logsink", "memcached") + SERVERS
INSTALL_HINTS = {
    "bwrap": "bubblewrap is not installed: run `apt-get install -y bubblewrap`",
    "memcached": "memcached is not installed: run `apt-get install -y memcached`",
    "prlimit": "prlimit is not installed: run `apt-get install -y util-linux`",
}
SANDBOX_PYTHON = "/usr/bin/python3"
SECCOMP_HINT = ("the sandbox's seccomp filter is built with libseccomp's Python bindings, "
                "which are missing: run `apt-get install -y python3-seccomp`")


ROOT_DATA_DIR = Path("/var/lib/s2aio")


def default_data_dir() -> Path:
    """``$S2AIO_DIR``; else, as root, /var/lib/s2aio (root's home is 0700, which the
    sandbox user could not traverse); else ~/.local/share/s2aio."""
    env = os.environ.get("S2AIO_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return ROOT_DATA_DIR
    return Path(os.path.expanduser("~")) / ".local" / "share" / "s2aio"


def untraversable_ancestor(path: Path, uid: int, gid: int) -> Path | None:
    """The first ancestor of ``path`` that ``uid``/``gid`` may not pass through."""
    for parent in reversed(path.resolve().parents):
        try:
            st = parent.stat()
        except FileNotFoundError:
            return None  # made later by s2aio, with a traversable mode
        except OSError:
            return parent
        if st.st_uid == uid:
            bit = 0o100
        elif st.st_gid == gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return parent
    return None


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Status:
    """What ``s2aio status`` reports; ``healthy`` when everything works."""

    processes: dict[str, bool]
    probe: str  # "ok" or what went wrong

    @property
    def running(self) -> bool:
        return any(self.processes.values())

    @property
    def healthy(self) -> bool:
        return all(self.processes.values()) and self.probe == "ok"


class S2AIO:
    """One Swift + storlets all-in-one whose every file lives in ``data_dir``."""

    def __init__(self, data_dir: str | os.PathLike | None = None, port: int | None = None,
                 gateway: configs.GatewaySettings | None = None):
        self.layout = Layout(Path(data_dir) if data_dir else default_data_dir())
        self._requested_port = port
        self._state: dict | None = None
        self.gateway = gateway or configs.GatewaySettings()

    # -- state -------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.layout.root

    def _load_state(self) -> dict | None:
        try:
            state = json.loads(self.layout.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise S2AIOError(f"{self.layout.state_file} is unreadable ({exc}); "
                             f"run `s2aio reset --data-dir {self.data_dir}`") from None
        if state.get("layout_version") != LAYOUT_VERSION:
            raise S2AIOError(
                f"{self.data_dir} was made by an incompatible s2aio version "
                f"(layout {state.get('layout_version')}, this one needs {LAYOUT_VERSION}); "
                f"run `s2aio reset --data-dir {self.data_dir}` to start afresh")
        return state

    @property
    def state(self) -> dict:
        if self._state is None:
            self._state = self._load_state()
            if self._state is None:
                raise S2AIOError(f"no s2aio in {self.data_dir}: run `s2aio start` first")
        return self._state

    @property
    def ports(self) -> configs.Ports:
        return configs.Ports(**self.state["ports"])

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.proxy}"

    @property
    def auth_url(self) -> str:
        return f"{self.proxy_url}/auth/v1.0"

    @property
    def logs_dir(self) -> Path:
        return self.layout.logs

    def _credentials(self, user: str) -> tuple[str, str, str]:
        if user == "admin":
            return ("admin", "admin:admin", self.state["admin_key"])
        try:
            return USERS[user]
        except KeyError:
            raise S2AIOError(f"unknown user {user!r}; use one of "
                             f"{', '.join(sorted(USERS) + ['admin'])}") from None

    def storage_url(self, user: str = "test") -> str:
        return f"{self.proxy_url}/v1/AUTH_{self._credentials(user)[0]}"

    def env(self, user: str = "test") -> dict[str, str]:
        _, name, key = self._credentials(user)
        return {"ST_AUTH": self.auth_url, "ST_USER": name, "ST_KEY": key,
                "S2AIO_STORAGE_URL": self.storage_url(user), "S2AIO_DIR": str(self.data_dir)}

    def settings(self, user: str = "test"):
        from swiftproto import SwiftSettings

        _, name, key = self._credentials(user)
        return SwiftSettings(mode="v1", auth_url=self.auth_url, user=name, key=key)

    def connection(self, user: str = "test", **kwargs):
        from swiftproto import connect

        return connect(self.settings(user), **kwargs)

    # -- creation ----------------------------------------------------------
    def _check_prerequisites(self) -> None:
        for tool, hint in INSTALL_HINTS.items():
            if shutil.which(tool) is None:
                raise S2AIOError(hint)
        if not os.path.exists(SANDBOX_PYTHON):
            raise S2AIOError("sandboxes run Debian's /usr/bin/python3, which is missing: "
                             "run `apt-get install -y python3`")
        done = subprocess.run([SANDBOX_PYTHON, "-I", "-c", "import seccomp"],
                              capture_output=True)
        if done.returncode != 0:
            raise S2AIOError(SECCOMP_HINT)

    def _sandbox_user(self) -> str:
        """The unprivileged host user sandboxes run as ("" = the servers' own user).

        When s2aio runs as root, a dedicated system user (no home, no shell,
        no password) is created once; sandboxes never run as root.
        """
        if os.geteuid() != 0:
            return ""
        name = self.gateway.sandbox_user
        try:
            pwd.getpwnam(name)
        except KeyError:
            done = subprocess.run(
                ["useradd", "--system", "--user-group", "--no-create-home",
                 "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                capture_output=True, text=True)
            if done.returncode not in (0, 9):  # 9: created meanwhile
                raise S2AIOError(f"cannot create the sandbox user {name!r}: "
                                 f"{done.stderr.strip()[-200:]}")
        entry = pwd.getpwnam(name)
        if entry.pw_uid == 0 or entry.pw_gid == 0:
            raise S2AIOError(f"the sandbox user {name!r} must not be root")
        # bubblewrap runs as that user and resolves its binds through the data
        # dir's path: every directory above it must let it pass.
        blocked = untraversable_ancestor(self.data_dir, entry.pw_uid, entry.pw_gid)
        if blocked is not None:
            raise S2AIOError(
                f"the storlets sandbox user {name!r} cannot reach {self.data_dir}: "
                f"{blocked} is closed to it (mode {blocked.stat().st_mode & 0o777:o}); "
                f"use a data dir under {ROOT_DATA_DIR.parent} or /tmp (--data-dir, S2AIO_DIR)")
        return name

    def _secure_dirs(self, sandbox_user: str) -> None:
        """0700 everywhere; with a sandbox user, its group may only *traverse*
        to its own dirs (run/log.sock, native/, sbox/*) and list nothing else."""
        lay = self.layout
        private = [lay.etc, lay.devices, lay.logs]
        shared = [lay.run, lay.native, lay.root / "sbox"]
        for where in ("proxy", "object"):
            root = lay.sandbox_root(where)
            shared += [root, root / "pipes", root / "storlets"]
            private += [root / "logs", root / "cache"]
        for path in private + shared:
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o700)
        os.chmod(lay.root, 0o700)
        if not sandbox_user:
            return
        gid = pwd.getpwnam(sandbox_user).pw_gid
        for path in [lay.root] + shared:
            os.chown(path, 0, gid)
            os.chmod(path, 0o750 if path == lay.native else 0o710)

    def _landlock(self) -> str:
        """"on" or "off" for the gateway config; "on" fails here, not at the first call."""
        from .confine import abi_version

        wanted = self.gateway.landlock
        if wanted == "off":
            return "off"
        if abi_version() >= 1:
            return "on"
        if wanted == "on":
            raise S2AIOError("landlock = on, but this kernel has no Landlock (Linux >= 5.13 "
                             "with landlock among its LSMs)")
        log.warning("this kernel has no Landlock: storlets sandboxes can write regular files "
                    "into their pipe dir")
        return "off"

    def _build_seccomp_filter(self) -> None:
        profile = Path(__file__).resolve().parent / "seccomp_profile.py"
        done = subprocess.run([SANDBOX_PYTHON, "-I", str(profile),
                               str(self.layout.seccomp_filter)], capture_output=True, text=True)
        if done.returncode != 0:
            raise S2AIOError(f"building the sandbox's seccomp filter failed: "
                             f"{done.stderr.strip()[-300:]}")

    def _init_data_dir(self) -> dict:
        root = self.data_dir
        if root.exists() and any(root.iterdir()) and not self.layout.state_file.exists():
            raise S2AIOError(f"{root} is not empty and is not an s2aio data dir; "
                             "choose another --data-dir")
        proxy = self._requested_port or DEFAULT_PORT
        taken = {proxy}
        ports = {"proxy": proxy}
        for name in ("account", "container", "object", "memcached", "syslog"):
            port = pick_free_port()
            while port in taken:
                port = pick_free_port()
            taken.add(port)
            ports[name] = port
        state = {"layout_version": LAYOUT_VERSION, "ports": ports,
                 "admin_key": secrets.token_urlsafe(18)}
        for path in (self.layout.etc, self.layout.devices / "d1", self.layout.run,
                     self.layout.logs):
            path.mkdir(parents=True, exist_ok=True)
        from .rings import build_ring

        for kind in ("account", "container", "object"):
            build_ring(self.layout.etc, kind, ports[kind])
        self._write_state(state)
        return state

    def _write_state(self, state: dict) -> None:
        tmp = self.layout.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.chmod(tmp, 0o600)  # holds the reseller admin key
        os.replace(tmp, self.layout.state_file)
        self._state = state

    def _write_configs(self, sandbox_user: str) -> None:
        lay, ports = self.layout, self.ports
        users = configs.Users(admin_key=self.state["admin_key"])
        gateway = dataclasses.replace(self.gateway, sandbox_user=sandbox_user,
                                      landlock=self._landlock())
        files = {
            lay.swift_conf: configs.swift_conf(),
            lay.server_conf("proxy"): configs.proxy_conf(lay, ports, users,
                                                         gateway.gateway_class),
            lay.internal_client_conf: configs.internal_client_conf(lay, ports),
            lay.gateway_conf("proxy"): configs.gateway_conf(lay, "proxy", gateway),
            lay.gateway_conf("object"): configs.gateway_conf(lay, "object", gateway),
        }
        for kind in ("account", "container", "object"):
            files[lay.server_conf(kind)] = configs.backend_conf(kind, lay, ports,
                                                                gateway.gateway_class)
        for path, text in files.items():
            path.write_text(text)
            os.chmod(path, 0o600)

    # -- processes ---------------------------------------------------------
    def _argv(self, name: str) -> list[str]:
        ports = self.ports
        if name == "logsink":
            return [sys.executable, "-m", "s2aio.logsink", str(ports.syslog),
                    str(self.layout.log_socket), str(self.layout.logs)]
        if name == "memcached":
            argv = ["memcached", "-l", "127.0.0.1", "-p", str(ports.memcached), "-U", "0",
                    "-m", "64"]
            if os.geteuid() == 0:
                argv += ["-u", "root"]
            return argv
        return [sys.executable, "-m", "s2aio.server", name, str(self.layout.server_conf(name))]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["S2AIO_SWIFT_CONF"] = str(self.layout.swift_conf)
        env["S2AIO_LIBSBUS"] = str(self.layout.libsbus)
        # The servers must import this very s2aio (its gateway), wherever it lives.
        pkg_parent = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
        return env

    def _health_url(self, name: str) -> str | None:
        if name in SERVERS:
            return f"http://127.0.0.1:{getattr(self.ports, name)}/healthcheck"
        return None

    def _process_up(self, name: str) -> bool:
        if procs.read_pid_file(self.layout.pid_file(name)) is None:
            return False
        url = self._health_url(name)
        if url is None:
            return True
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _wait_up(self, name: str, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if procs.exited_early(pid):
                raise S2AIOError(f"{name} exited at start: {self._log_tail(name)}")
            if self._process_up(name):
                return
            time.sleep(0.05)
        raise S2AIOError(f"{name} did not become healthy in {timeout:.0f} s: "
                         f"{self._log_tail(name)}")

    def _log_tail(self, name: str, lines: int = 8) -> str:
        try:
            text = (self.layout.logs / f"{name}.out").read_text(errors="replace")
        except OSError:
            return "(no output)"
        tail = [line for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or "(no output)"

    def running_processes(self) -> dict[str, bool]:
        return {name: procs.read_pid_file(self.layout.pid_file(name)) is not None
                for name in PROCESSES}

    def start(self, timeout: float = 30.0) -> bool:
        """Start everything; False if it was already running (and healthy)."""
        self._check_prerequisites()
        state = self._load_state()
        sandbox_user = self._sandbox_user()  # before anything is written
        if state is not None:
            self._state = state
            if self._requested_port and self._requested_port != state["ports"]["proxy"]:
                if any(self.running_processes().values()):
                    raise S2AIOError(
                        f"s2aio in {self.data_dir} already runs on port "
                        f"{state['ports']['proxy']}; stop it first to change the port")
                state["ports"]["proxy"] = self._requested_port
                self._write_state(state)
            running = self.running_processes()
            if all(running.values()) and all(self._process_up(n) for n in PROCESSES):
                return False
            if any(running.values()):
                self.stop()  # half-running: start clean
        else:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.data_dir, 0o700)
            self._init_data_dir()
        self._check_ports()
        self._secure_dirs(sandbox_user)
        prepare_native(self.layout.native)
        self._build_seccomp_filter()
        self._write_configs(sandbox_user)
        try:
            env = self._env()
            for name in PROCESSES:
                pid = procs.spawn(self._argv(name), self.layout.pid_file(name),
                                  self.layout.logs / f"{name}.out", env=env)
                if name in SERVERS:
                    continue
                self._wait_up(name, pid, timeout)
            for name in SERVERS:
                pid = procs.read_pid_file(self.layout.pid_file(name)) or -1
                self._wait_up(name, pid, timeout)
            self._bootstrap_accounts()
        except BaseException:
            self.stop()
            raise
        return True

    def _check_ports(self) -> None:
        ports = self.ports.as_dict()
        for name, port in ports.items():
            if not port_is_free(port):
                raise S2AIOError(
                    f"port {port} ({name}) is already in use on 127.0.0.1; free it or "
                    + ("choose another with --port" if name == "proxy"
                       else f"run `s2aio reset --data-dir {self.data_dir}`"))

    def stop(self) -> list[str]:
        """End every process this data dir started (servers and sandboxes)."""
        stopped = []
        run = self.layout.run
        names = [p.stem for p in run.glob("*.pid")] if run.exists() else []
        # Proxy first so no new request reaches a half-stopped backend.
        order = [n for n in reversed(PROCESSES) if n in names] + \
                [n for n in names if n not in PROCESSES]
        for name in order:
            if procs.stop_pid_file(run / f"{name}.pid"):
                stopped.append(name)
        # Safety net: a sandbox whose pid file was lost (e.g. a server killed
        # mid-restart) is still recognisable by this data dir's sandbox path.
        strays = procs.processes_mentioning(str(self.layout.root / "sbox") + "/")
        for pid in strays:
            procs.kill_group_or_process(pid)
        if strays:
            stopped.append(f"{len(strays)} stray sandbox process(es)")
        cgroups.remove_groups(cgroups.group_prefix(str(self.layout.root)))
        if mounts.unmount_all(str(self.layout.root / "sbox")):
            stopped.append("(some sandbox pipe mounts could not be unmounted)")
        return stopped

    def reset(self) -> None:
        """Stop and delete the whole data dir."""
        if self.layout.state_file.exists() or self.layout.run.exists():
            self.stop()
        if self.data_dir.exists():
            if not self.layout.state_file.exists() and any(self.data_dir.iterdir()):
                raise S2AIOError(f"{self.data_dir} is not an s2aio data dir; not deleting it")
            shutil.rmtree(self.data_dir)
        self._state = None

    # -- accounts ----------------------------------------------------------
    def _request(self, method: str, url: str, headers: dict[str, str],
                 data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def admin_token(self) -> str:
        status, headers, _ = self._request("GET", self.auth_url, {
            "X-Auth-User": "admin:admin", "X-Auth-Key": self.state["admin_key"]})
        if status // 100 != 2 or "X-Auth-Token" not in headers:
            raise S2AIOError(f"reseller admin login failed with HTTP {status}")
        return headers["X-Auth-Token"]

    def _bootstrap_accounts(self) -> None:
        token = self.admin_token()
        for account in STORLET_ACCOUNTS:
            base = f"{self.proxy_url}/v1/AUTH_{account}"
            status, _, body = self._request("PUT", base, {
                "X-Auth-Token": token, ACCOUNT_ENABLED: "True"})
            if status // 100 != 2:
                raise S2AIOError(f"enabling storlets on AUTH_{account} failed: HTTP {status}")
            for container in STORLET_CONTAINERS:
                status, _, _ = self._request("PUT", f"{base}/{container}", {"X-Auth-Token": token})
                if status // 100 != 2:
                    raise S2AIOError(f"creating AUTH_{account}/{container} failed: HTTP {status}")

    # -- status ------------------------------------------------------------
    def probe(self) -> str:
        """Deploy (once) and run the probe storlet end to end: "ok" or the problem."""
        token = self.admin_token()
        base = f"{self.proxy_url}/v1/AUTH_admin"
        source = (Path(__file__).parent / "s2aio_probe.py").read_bytes()
        status, _, _ = self._request("PUT", f"{base}/storlet/s2aio_probe.py", {
            "X-Auth-Token": token, **storlet_object_headers("s2aio_probe.ProbeStorlet")}, source)
        if status // 100 != 2:
            return f"uploading the probe storlet failed: HTTP {status}"
        self._request("PUT", f"{base}/s2aio", {"X-Auth-Token": token})
        status, _, _ = self._request("PUT", f"{base}/s2aio/probe", {"X-Auth-Token": token}, b"ping")
        if status // 100 != 2:
            return f"uploading the probe object failed: HTTP {status}"
        status, _, body = self._request("GET", f"{base}/s2aio/probe", {
            "X-Auth-Token": token, **run_headers("s2aio_probe.py")})
        if status == 200 and body == b"s2aio-probe-ok:ping":
            return "ok"
        return f"probe storlet answered HTTP {status}: {body[:200]!r}"

    def status(self) -> Status:
        self.state  # raises if there is no s2aio here
        processes = {name: self._process_up(name) for name in PROCESSES}
        if not all(processes.values()):
            return Status(processes, "not run: some processes are down")
        try:
            probe = self.probe()
        except S2AIOError as exc:
            probe = str(exc)
        return Status(processes, probe)
