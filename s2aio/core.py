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
import grp
import pwd
import time
import urllib.error
import urllib.request
from pathlib import Path

from swiftproto.protocol import ACCOUNT_ENABLED, run_headers, storlet_object_headers

from . import cgroups, configs, keystone, mounts, podman, procs
from .errors import S2AIOError
from .layout import (AUTH_MODES, BACKENDS, LAYOUT_VERSION, MAX_REPLICAS, Layout,
                     node_processes, parse_process, process_names)
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
PROCESSES = process_names(1)  # a one-replica s2aio's, in start order
INSTALL_HINTS = {
    "bwrap": "bubblewrap is not installed: run `apt-get install -y bubblewrap`",
    "memcached": "memcached is not installed: run `apt-get install -y memcached`",
    "prlimit": "prlimit is not installed: run `apt-get install -y util-linux`",
}
# Only needed with replicas: the account/container replicators push databases with it.
REPLICA_HINTS = {
    "rsync": "rsync is not installed (replicas need it): run `apt-get install -y rsync`",
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


def check_replicas(replicas: int) -> int:
    """A replica count s2aio can run: 1 (the quick default) up to MAX_REPLICAS nodes."""
    if isinstance(replicas, bool) or not isinstance(replicas, int) \
            or not 1 <= replicas <= MAX_REPLICAS:
        raise S2AIOError(f"--replicas must be a whole number from 1 to {MAX_REPLICAS} "
                         f"(3 shows quorum writes with one node down), not {replicas!r}")
    return replicas


def check_auth(auth: str) -> str:
    if auth not in AUTH_MODES:
        raise S2AIOError(f"--auth must be one of {', '.join(AUTH_MODES)}, not {auth!r}")
    return auth


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
                 gateway: configs.GatewaySettings | None = None, replicas: int | None = None,
                 gateway_mode: str | None = None, auth: str | None = None):
        self.layout = Layout(Path(data_dir) if data_dir else default_data_dir())
        self._requested_port = port
        # None: whatever the data dir runs ("bwrap" for a new one); see s2aio.podman.
        self._requested_mode = None if gateway_mode is None else podman.check_mode(gateway_mode)
        # None: whatever the data dir was made with (1 replica, tempauth for a new one).
        self._requested_replicas = None if replicas is None else check_replicas(replicas)
        self._requested_auth = None if auth is None else check_auth(auth)
        self._state: dict | None = None
        self.gateway = gateway or configs.GatewaySettings()
        self.image_build_s = 0.0  # podman mode: what the last start spent building its image

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

    def _made_with(self, key: str, requested, default):
        """The data dir's own setting ``key`` once it exists, else what was asked."""
        state = self._state if self._state is not None else self._load_state()
        if state is not None:
            self._state = state
            return state.get(key, default)
        return requested or default

    @property
    def replicas(self) -> int:
        """How many copies Swift keeps of everything (= nodes); the data dir's own
        count once it exists."""
        return int(self._made_with("replicas", self._requested_replicas, 1))

    @property
    def gateway_mode(self) -> str:
        """"bwrap" (s2aio's bubblewrap gateway) or "podman" (upstream's podman gateway)."""
        return self._made_with("gateway", self._requested_mode, "bwrap")

    @property
    def auth(self) -> str:
        """"tempauth" or "keystone"; the data dir's own mode once it exists."""
        return self._made_with("auth", self._requested_auth, "tempauth")

    @property
    def keystone(self) -> bool:
        return self.auth == "keystone"

    @property
    def nodes(self) -> tuple[int, ...]:
        """Node numbers, 1..replicas."""
        return tuple(range(1, self.replicas + 1))

    @property
    def processes(self) -> tuple[str, ...]:
        """Every process name of this s2aio, in start order."""
        names = process_names(self.replicas, self.auth)
        if self.gateway_mode == "podman":  # the API service, before the servers
            names = names[:2] + (podman.PROCESS,) + names[2:]
        return names

    def node(self, number: int) -> configs.Node | None:
        """Node ``number``'s ports (None with one replica: its servers use ``ports``)."""
        self._check_node(number)
        if self.replicas == 1:
            return None
        return configs.Node(number=number, **self.state["nodes"][number - 1])

    def _check_node(self, number: int) -> None:
        if isinstance(number, bool) or not isinstance(number, int) \
                or number not in self.nodes:
            raise S2AIOError(f"no node {number!r} here: this s2aio has node(s) "
                             f"{', '.join(map(str, self.nodes))}")

    def node_processes(self, number: int) -> tuple[str, ...]:
        self._check_node(number)
        return node_processes(number, self.replicas)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.proxy}"

    @property
    def auth_url(self) -> str:
        """tempauth's v1 URL, or keystone's identity API (v3)."""
        if self.keystone:
            return keystone.identity_url(self.ports.keystone)
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

    def _identity(self, user: str) -> keystone.Identity:
        """keystone mode: the keystone user behind s2aio's ``user``."""
        self._credentials(user)  # the same names, and the same error, as tempauth's
        if user == "admin":
            return keystone.Identity(keystone.ADMIN_PROJECT, keystone.ADMIN_USER,
                                     self.state["keystone"]["admin_password"], "admin")
        return keystone.IDENTITIES[user]

    def account(self, user: str = "test") -> str:
        """The Swift account of ``user``: ``AUTH_<account>``, or ``AUTH_<project id>``."""
        if self.keystone:
            project = self._identity(user).project
            try:
                return f"AUTH_{self.state['keystone']['projects'][project]}"
            except KeyError:
                raise S2AIOError(f"keystone's project {project!r} is not set up yet in "
                                 f"{self.data_dir}: run `s2aio start`") from None
        return f"AUTH_{self._credentials(user)[0]}"

    def storage_url(self, user: str = "test") -> str:
        return f"{self.proxy_url}/v1/{self.account(user)}"

    def env(self, user: str = "test") -> dict[str, str]:
        """Shell variables for ``user``: ST_* (tempauth) or OS_* (keystone v3)."""
        extra = {"S2AIO_STORAGE_URL": self.storage_url(user), "S2AIO_DIR": str(self.data_dir)}
        if self.keystone:
            who = self._identity(user)
            return {"OS_AUTH_URL": self.auth_url, "OS_IDENTITY_API_VERSION": "3",
                    "OS_USERNAME": who.user, "OS_PASSWORD": who.password,
                    "OS_PROJECT_NAME": who.project,
                    "OS_USER_DOMAIN_NAME": keystone.DOMAIN_NAME,
                    "OS_PROJECT_DOMAIN_NAME": keystone.DOMAIN_NAME, **extra}
        _, name, key = self._credentials(user)
        return {"ST_AUTH": self.auth_url, "ST_USER": name, "ST_KEY": key, **extra}

    def settings(self, user: str = "test"):
        from swiftproto import SwiftSettings

        if self.keystone:
            who = self._identity(user)
            return SwiftSettings(mode="v3", auth_url=self.auth_url, user=who.user,
                                 key=who.password, project_name=who.project,
                                 user_domain_name=keystone.DOMAIN_NAME,
                                 project_domain_name=keystone.DOMAIN_NAME)
        _, name, key = self._credentials(user)
        return SwiftSettings(mode="v1", auth_url=self.auth_url, user=name, key=key)

    def connection(self, user: str = "test", **kwargs):
        from swiftproto import connect

        return connect(self.settings(user), **kwargs)

    # -- creation ----------------------------------------------------------
    def _check_prerequisites(self) -> None:
        hints = dict(INSTALL_HINTS, **(REPLICA_HINTS if self.replicas > 1 else {}))
        if self.gateway_mode == "podman":
            podman.check_prerequisites()
            hints.pop("bwrap")
        for tool, hint in hints.items():
            if shutil.which(tool) is None:
                raise S2AIOError(hint)
        if self.keystone:
            keystone.ensure_venv()
        if self.gateway_mode == "podman":
            return  # the image brings its own Python; no seccomp filter of s2aio's
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
        for where in self._sandbox_wheres():
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

    def _sandbox_wheres(self) -> list[str]:
        """Sandbox roots: the proxy's, and each node's object server's. Upstream's
        podman gateway names a scope's container after the scope alone, so the proxy
        and the object server share one root (and container) per scope, as upstream
        deployments of both on one host do."""
        if self.gateway_mode == "podman":
            return [podman.PROCESS]
        return ["proxy"] + [self.layout.object_where(self._node_number(n)) for n in self.nodes]

    def _node_number(self, number: int) -> int | None:
        """``number`` for per-node paths; None with one replica (its paths have no node)."""
        return None if self.replicas == 1 else number

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
        replicas = self._requested_replicas or 1
        proxy = self._requested_port or DEFAULT_PORT
        taken = {proxy}

        def free_port() -> int:
            port = pick_free_port()
            while port in taken:
                port = pick_free_port()
            taken.add(port)
            return port

        ports = {"proxy": proxy}
        for name in ("account", "container", "object", "memcached", "syslog"):
            ports[name] = free_port()
        state = {"layout_version": LAYOUT_VERSION, "ports": ports,
                 "admin_key": secrets.token_urlsafe(18),
                 "gateway": self._requested_mode or "bwrap"}
        if self._requested_auth == "keystone":
            ports["keystone"] = free_port()
            # projects: name -> id, once keystone is set up
            state.update(auth="keystone", keystone={
                "admin_password": secrets.token_urlsafe(18),
                "service_password": secrets.token_urlsafe(18), "projects": {}})
        nodes = [{kind: ports[kind] for kind in BACKENDS}]
        if replicas > 1:
            # Node 1 keeps the ports above; every other node gets its own.
            ports["rsync"] = free_port()
            nodes += [{kind: free_port() for kind in BACKENDS} for _ in range(replicas - 1)]
            state.update(replicas=replicas, nodes=nodes, rsync_key=secrets.token_urlsafe(18))
        for path in (self.layout.etc, self.layout.run, self.layout.logs):
            path.mkdir(parents=True, exist_ok=True)
        for number in range(1, replicas + 1):
            node = None if replicas == 1 else number
            (self.layout.node_devices(node) / f"d{number}").mkdir(parents=True, exist_ok=True)
        from .rings import build_ring

        for kind in BACKENDS:
            build_ring(self.layout.etc, kind, [node[kind] for node in nodes])
        self._write_state(state)
        return state

    def _write_state(self, state: dict) -> None:
        tmp = self.layout.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.chmod(tmp, 0o600)  # holds the reseller admin key (keystone: passwords)
        os.replace(tmp, self.layout.state_file)
        self._state = state

    def _write_configs(self, sandbox_user: str) -> None:
        lay, ports = self.layout, self.ports
        users = configs.Users(admin_key=self.state["admin_key"])
        gateway = dataclasses.replace(self.gateway, sandbox_user=sandbox_user,
                                      landlock=self._landlock())
        if self.gateway_mode == "podman":
            gateway = dataclasses.replace(gateway, gateway_class=podman.GATEWAY_CLASS)

        def gateway_conf(where: str) -> str:
            if self.gateway_mode == "bwrap":
                return configs.gateway_conf(lay, where, gateway)
            return (configs.gateway_conf(lay, podman.PROCESS, gateway)
                    + podman.gateway_conf_extra(lay, gateway.memory_mb, gateway.processes))


        auth = None
        if self.keystone:
            auth = configs.KeystoneAuth(
                url=self.auth_url, service_project=keystone.SERVICE_PROJECT,
                service_user=keystone.SERVICE_USER,
                service_password=self.state["keystone"]["service_password"],
                operator_roles=keystone.OPERATOR_ROLES,
                reseller_admin_role=keystone.RESELLER_ROLE)
        files = {
            lay.swift_conf: configs.swift_conf(),
            lay.server_conf("proxy"): configs.proxy_conf(lay, ports, users,
                                                         gateway.gateway_class, self.replicas,
                                                         auth),
            lay.internal_client_conf: configs.internal_client_conf(lay, ports),
            lay.gateway_conf("proxy"): gateway_conf("proxy"),
        }
        for number in self.nodes:
            node = self.node(number)
            where = lay.object_where(node.number if node else None)
            files[lay.gateway_conf(where)] = gateway_conf(where)
            for kind in BACKENDS:
                files[lay.server_conf(kind, node.number if node else None)] = \
                    configs.backend_conf(kind, lay, ports, gateway.gateway_class, node)
            lay.recon_dir(node.number if node else None).mkdir(mode=0o700, exist_ok=True)
        if self.keystone:
            files[lay.keystone_etc / "keystone.conf"] = keystone.keystone_conf(
                lay.keystone_etc, lay.keystone_db)
        if self.replicas > 1:
            user = pwd.getpwuid(os.geteuid())
            group = grp.getgrgid(os.getegid()).gr_name
            nodes = [self.node(n) for n in self.nodes]
            files[lay.rsyncd_conf] = configs.rsyncd_conf(lay, ports, nodes, user.pw_name, group)
            files[lay.rsyncd_secrets] = f"s2aio:{self.state['rsync_key']}\n"
        for path, text in files.items():
            path.parent.mkdir(mode=0o700, exist_ok=True)
            # Atomic: running servers and rsync (which re-reads its config on each
            # connection) never see half a file when a partial start rewrites them.
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)

    # -- processes ---------------------------------------------------------
    def _argv(self, name: str) -> list[str]:
        ports, lay = self.ports, self.layout
        if name == "logsink":
            return [sys.executable, "-m", "s2aio.logsink", str(ports.syslog),
                    str(lay.log_socket), str(lay.logs)]
        if name == "memcached":
            argv = ["memcached", "-l", "127.0.0.1", "-p", str(ports.memcached), "-U", "0",
                    "-m", "64"]
            if os.geteuid() == 0:
                argv += ["-u", "root"]
            return argv
        if name == "rsync":
            return ["rsync", "--daemon", "--no-detach", f"--config={lay.rsyncd_conf}"]
        if name == podman.PROCESS:
            return podman.service_argv(lay)
        if name == "proxy":
            return [sys.executable, "-m", "s2aio.server", "proxy", str(lay.server_conf("proxy"))]
        if name == "keystone":
            return keystone.serve_argv(keystone.default_venv(), ports.keystone)
        number, kind = parse_process(name)
        if kind == "daemons":
            return [sys.executable, "-m", "s2aio.daemons"] + [
                str(lay.server_conf(k, number)) for k in BACKENDS]
        return [sys.executable, "-m", "s2aio.server", kind, str(lay.server_conf(kind, number))]

    def _env(self, name: str = "") -> dict[str, str]:
        if name == "keystone":
            return keystone.process_env(dict(os.environ), self.layout.keystone_etc)
        env = dict(os.environ)
        env.pop("RSYNC_PASSWORD", None)
        env["S2AIO_SWIFT_CONF"] = str(self.layout.swift_conf)
        env["S2AIO_LIBSBUS"] = str(self.layout.libsbus)
        # The servers must import this very s2aio (its gateway), wherever it lives.
        pkg_parent = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
        if parse_process(name)[1] == "daemons":
            # The replicators' rsync client reads it from here, never from argv.
            env["RSYNC_PASSWORD"] = self.state["rsync_key"]
        if name == podman.PROCESS:
            env = podman.service_env(self.layout, env)
        return env

    def _port_of(self, name: str) -> int | None:
        """The port process ``name`` listens on (None: the daemons runner)."""
        ports = self.ports
        shared = {"logsink": ports.syslog, "memcached": ports.memcached,
                  "rsync": ports.rsync, "proxy": ports.proxy, "keystone": ports.keystone}
        if name in shared:
            return shared[name]
        number, kind = parse_process(name)
        if kind not in BACKENDS:
            return None
        return getattr(ports, kind) if number is None else self.node(number).port(kind)

    def _health_url(self, name: str) -> str | None:
        if name == "keystone":
            return keystone.identity_url(self.ports.keystone)
        if name == "proxy" or parse_process(name)[1] in BACKENDS:
            return f"http://127.0.0.1:{self._port_of(name)}/healthcheck"
        return None

    def _process_up(self, name: str) -> bool:
        if procs.read_pid_file(self.layout.pid_file(name)) is None:
            return False
        if name == podman.PROCESS:
            return podman.service_answers(self.layout)
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
                for name in self.processes}

    def start(self, timeout: float = 30.0) -> bool:
        """Start what is not running; False if everything already ran (and was healthy).

        A data dir where only some processes are down (a killed proxy, a stopped
        node) gets just those back; the others keep running and serving.
        """
        state = self._load_state()
        if state is not None:
            self._state = state
            self._check_replica_count(state)
            self._switch_mode(state)
            self._check_auth_mode(state)
        if self.gateway_mode == "podman" and self.replicas > 1:
            raise S2AIOError("--gateway podman runs one replica (upstream's gateway names a "
                             "scope's container after the scope alone, one per host)")
        self._check_prerequisites()
        sandbox_user = self._sandbox_user()  # before anything is written
        if state is not None:
            if self._requested_port and self._requested_port != state["ports"]["proxy"]:
                if any(self.running_processes().values()):
                    raise S2AIOError(
                        f"s2aio in {self.data_dir} already runs on port "
                        f"{state['ports']['proxy']}; stop it first to change the port")
                state["ports"]["proxy"] = self._requested_port
                self._write_state(state)
            down = [name for name in self.processes if not self._process_up(name)]
            if not down:
                return False
        else:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.data_dir, 0o700)
            self._init_data_dir()
            down = list(self.processes)
        fresh = len(down) == len(self.processes)
        for name in down:  # e.g. alive but not answering its health check
            procs.stop_pid_file(self.layout.pid_file(name))
        self._check_ports(down)
        self._secure_dirs(sandbox_user)
        prepare_native(self.layout.native)
        if self.gateway_mode == "podman":
            self.image_build_s = podman.ensure_image()  # 0 when cached
            podman.prepare(self.layout)
        else:
            self._build_seccomp_filter()
        self._write_configs(sandbox_user)
        started = False
        try:
            if self.keystone and "keystone" in down:
                self._setup_keystone()
            self._start_processes(down, timeout)
            started = True
            if self.keystone:
                self._bootstrap_identities()
            self._bootstrap_accounts()
        except BaseException:
            # A fresh start leaves nothing behind; a partial one leaves the
            # processes that ran before it as they were. Processes restarted healthy
            # stay up even if the account check fails: a restarted memcached stays
            # error-limited in the proxy for up to 60 s (logins answer 503), and
            # stopping it again would keep every login failing for good.
            if fresh:
                self.stop()
            elif not started:
                for name in down:
                    procs.stop_pid_file(self.layout.pid_file(name))
            raise
        return True

    def _switch_mode(self, state: dict) -> None:
        """A stopped data dir may change its gateway (configs are written at every start)."""
        wanted = self._requested_mode
        if wanted is None or wanted == state.get("gateway", "bwrap"):
            return
        if self.running_count():
            raise S2AIOError(f"s2aio in {self.data_dir} runs with --gateway "
                             f"{state.get('gateway', 'bwrap')}; stop it first to change it")
        state["gateway"] = wanted
        self._write_state(state)

    def _check_replica_count(self, state: dict) -> None:
        have = int(state.get("replicas", 1))
        wanted = self._requested_replicas
        if wanted is not None and wanted != have:
            raise S2AIOError(
                f"{self.data_dir} was made with {have} replica(s); it cannot change to "
                f"{wanted}: start it without --replicas, or use another --data-dir (or "
                f"`s2aio reset --data-dir {self.data_dir}` first, which deletes its data)")

    def _check_auth_mode(self, state: dict) -> None:
        have = state.get("auth", "tempauth")
        wanted = self._requested_auth
        if wanted is not None and wanted != have:
            raise S2AIOError(
                f"{self.data_dir} was made with --auth {have}; it cannot change to "
                f"{wanted}: start it without --auth, or use another --data-dir (or "
                f"`s2aio reset --data-dir {self.data_dir}` first, which deletes its data)")

    def _setup_keystone(self) -> None:
        """keystone-manage's bring-up, once per data dir (before keystone serves)."""
        lay = self.layout
        if lay.keystone_db.exists() and self.state["keystone"].get("setup_done"):
            return
        lay.keystone_db.parent.mkdir(mode=0o700, exist_ok=True)
        lay.keystone_db.unlink(missing_ok=True)  # a setup that failed half way
        keystone.run_setup(keystone.default_venv(), lay.keystone_etc, self.auth_url,
                           self.state["keystone"]["admin_password"],
                           lay.logs / "keystone-setup.out", self._env("keystone"))
        self.state["keystone"]["setup_done"] = True
        self._write_state(self.state)

    def _bootstrap_identities(self) -> None:
        """Projects, users, roles once; the object-store endpoint follows the proxy's
        port (``--port`` may change it between runs)."""
        ks = self.state["keystone"]
        if ks.get("projects"):
            if ks.get("endpoint") != self.proxy_url:
                keystone.update_endpoint(self.auth_url, ks["admin_password"], self.proxy_url)
        else:
            ks["projects"] = keystone.ensure_identities(
                self.auth_url, ks["admin_password"], ks["service_password"], self.proxy_url)
        ks["endpoint"] = self.proxy_url
        self._write_state(self.state)

    def _start_processes(self, names: list[str], timeout: float) -> None:
        """Spawn ``names`` (in ``self.processes`` order) and wait until each is up.

        Shared helpers (log sink, memcached, rsync) must answer before the
        servers start; servers start together and are awaited together."""
        names = [n for n in self.processes if n in names]
        env_of = {name: self._env(name) for name in names}
        servers = []
        if "rsync" in names:
            # rsync creates its log with the umask; it may quote paths: owner-only.
            os.close(os.open(self.layout.logs / "rsyncd.log",
                             os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            os.chmod(self.layout.logs / "rsyncd.log", 0o600)
        for name in names:
            pid = procs.spawn(self._argv(name), self.layout.pid_file(name),
                              self.layout.logs / f"{name}.out", env=env_of[name])
            if self._health_url(name) is None and parse_process(name)[1] != "daemons":
                self._wait_up(name, pid, timeout)
            else:
                servers.append((name, pid))
        for name, pid in servers:
            self._wait_up(name, pid, timeout)

    def _check_ports(self, names: list[str] | None = None) -> None:
        for name in names if names is not None else self.processes:
            port = self._port_of(name)
            if port and not port_is_free(port):
                raise S2AIOError(
                    f"port {port} ({name}) is already in use on 127.0.0.1; free it or "
                    + ("choose another with --port" if name == "proxy"
                       else f"run `s2aio reset --data-dir {self.data_dir}`"))

    def stop_order(self) -> list[str]:
        """The processes with a pid file, in the order ``stop`` ends them (known ones
        from last started to first, then others: sandboxes, an older layout's)."""
        run = self.layout.run
        names = [p.stem for p in run.glob("*.pid")] if run.exists() else []
        known = process_names(self._known_replicas(), self._known_auth())
        return [n for n in reversed(known) if n in names] + \
            sorted(n for n in names if n not in known)

    def running_count(self) -> int:
        """How many of the processes with a pid file still run (what ``stop`` ends)."""
        return sum(procs.read_pid_file(self.layout.pid_file(name)) is not None
                   for name in self.stop_order())

    def stop(self) -> list[str]:
        """End every process this data dir started (servers, daemons, rsync, sandboxes).

        The proxy goes first, so no new request reaches a half-stopped backend; then
        everything else at once: each server's exit takes a fraction of a second, and
        one after another they took 10-16 s."""
        order = self.stop_order()
        first = [name for name in order if name == "proxy"]
        rest = [name for name in order if name != "proxy"]
        stopped = []
        for batch in (first, rest):
            ended = procs.stop_pid_files([self.layout.pid_file(name) for name in batch])
            stopped += [name for name in batch if self.layout.pid_file(name) in ended]
        stopped += self._stop_containers()
        stopped += self._stop_sandboxes(self.layout.root / "sbox", cgroups.group_prefix(
            str(self.layout.root)))
        return stopped

    def _stop_containers(self) -> list[str]:
        """The podman containers this data dir started (by its owner label only)."""
        if not podman.podman_root(self.layout).exists() or shutil.which("podman") is None:
            return []
        try:
            removed = podman.stop_containers(self.layout)
        except (S2AIOError, OSError, subprocess.SubprocessError) as exc:
            return [f"(podman containers not removed: {exc})"]
        # podman's overlay driver binds its dir onto itself; reset must delete it.
        if mounts.unmount_all(str(podman.podman_root(self.layout))):
            removed.append("(some podman mounts could not be unmounted)")
        return removed

    def _known_auth(self) -> str:
        try:
            return self.auth
        except S2AIOError:
            return "keystone"  # knows every name tempauth's has, and keystone

    def _known_replicas(self) -> int:
        try:
            return self.replicas
        except S2AIOError:  # an unreadable state file still lets stop end everything
            return 1

    def _stop_sandboxes(self, sbox: Path, cgroup_prefix: str) -> list[str]:
        """Safety net after the servers: a sandbox whose pid file was lost (e.g. a
        server killed mid-restart) is still recognisable by its sandbox path."""
        stopped = []
        strays = procs.processes_mentioning(str(sbox) + "/")
        for pid in strays:
            procs.kill_group_or_process(pid)
        if strays:
            stopped.append(f"{len(strays)} stray sandbox process(es)")
        cgroups.remove_groups(cgroup_prefix)
        if mounts.unmount_all(str(sbox)):
            stopped.append("(some sandbox pipe mounts could not be unmounted)")
        return stopped

    # -- nodes -------------------------------------------------------------
    def node_stop(self, number: int) -> list[str]:
        """Stop node ``number``: its servers, its daemons and its object server's
        storlets sandboxes (as a crashed or powered-off storage node would be)."""
        procs_of = self.node_processes(number)
        where = self.layout.object_where(self._node_number(number))
        sandboxes = sorted(self.layout.run.glob(f"sandbox-{where}-*.pid"))
        running = [p for p in sandboxes if procs.read_pid_file(p) is not None]
        # Daemons and servers first; a sandbox dies with its object server
        # (bubblewrap --die-with-parent), and is ended here if it did not.
        ended = procs.stop_pid_files([self.layout.pid_file(name) for name in procs_of])
        stopped = [name for name in reversed(procs_of) if self.layout.pid_file(name) in ended]
        procs.stop_pid_files(sandboxes)
        stopped += [p.stem for p in running]
        stopped += self._stop_sandboxes(
            self.layout.sandbox_root(where),
            f"{cgroups.group_prefix(str(self.layout.root))}{where}-")
        return stopped

    def node_start(self, number: int, timeout: float = 30.0) -> list[str]:
        """Start node ``number``'s processes that are down; the ones started."""
        names = self.node_processes(number)
        self._check_prerequisites()
        down = [name for name in names if not self._process_up(name)]
        if not down:
            return []
        for name in down:
            procs.stop_pid_file(self.layout.pid_file(name))
        self._check_ports(down)
        try:
            self._start_processes(down, timeout)
        except BaseException:
            for name in down:
                procs.stop_pid_file(self.layout.pid_file(name))
            raise
        return down

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
        """A token of the reseller admin (keystone: admin, with ResellerAdmin)."""
        if self.keystone:
            return keystone.issue_token(self.auth_url, keystone.ADMIN_USER,
                                        self.state["keystone"]["admin_password"],
                                        keystone.ADMIN_PROJECT)
        status, headers, _ = self._request("GET", self.auth_url, {
            "X-Auth-User": "admin:admin", "X-Auth-Key": self.state["admin_key"]})
        if status // 100 != 2 or "X-Auth-Token" not in headers:
            raise S2AIOError(f"reseller admin login failed with HTTP {status}")
        return headers["X-Auth-Token"]

    def _bootstrap_accounts(self) -> None:
        token = self.admin_token()
        for user in STORLET_ACCOUNTS:
            account = self.account(user)
            base = f"{self.proxy_url}/v1/{account}"
            status, _, body = self._request("PUT", base, {
                "X-Auth-Token": token, ACCOUNT_ENABLED: "True"})
            if status // 100 != 2:
                raise S2AIOError(f"enabling storlets on {account} failed: HTTP {status}")
            for container in STORLET_CONTAINERS:
                headers = {"X-Auth-Token": token}
                if self.keystone and user == "test" \
                        and container in keystone.MEMBER_READ_CONTAINERS:
                    # as storlets' devstack plugin: the member may run the storlets
                    headers["X-Container-Read"] = keystone.member_acl()
                status, _, _ = self._request("PUT", f"{base}/{container}", headers)
                if status // 100 != 2:
                    raise S2AIOError(f"creating {account}/{container} failed: HTTP {status}")

    # -- status ------------------------------------------------------------
    def probe(self) -> str:
        """Deploy (once) and run the probe storlet end to end: "ok" or the problem."""
        token = self.admin_token()
        base = self.storage_url("admin")
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
        processes = {name: self._process_up(name) for name in self.processes}
        if not all(processes.values()):
            return Status(processes, "not run: some processes are down")
        try:
            probe = self.probe()
        except S2AIOError as exc:
            probe = str(exc)
        return Status(processes, probe)
