"""Where every s2aio file lives inside one data dir (pure, no I/O)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

# Bumped when the on-disk layout changes incompatibly; an old data dir then
# asks for ``s2aio reset`` instead of starting half-broken.
LAYOUT_VERSION = 1

SERVERS = ("account", "container", "object", "proxy")
BACKENDS = ("account", "container", "object")
MAX_REPLICAS = 5
AUTH_MODES = ("tempauth", "keystone")


def node_prefix(node: int, replicas: int) -> str:
    """Process-name prefix of node ``node``: none with one replica (its servers keep
    the names a one-replica data dir always had), else ``n<N>-``."""
    return "" if replicas == 1 else f"n{node}-"


def node_processes(node: int, replicas: int) -> tuple[str, ...]:
    """Node ``node``'s processes, in start order: its three servers, then (with
    replicas) one process that runs Swift's replicators, updaters and auditors."""
    prefix = node_prefix(node, replicas)
    names = tuple(prefix + kind for kind in BACKENDS)
    return names if replicas == 1 else names + (prefix + "daemons",)


def process_names(replicas: int, auth: str = "tempauth") -> tuple[str, ...]:
    """Every process of one s2aio, in start order (``stop`` goes backwards)."""
    shared = ("logsink", "memcached") + (("rsync",) if replicas > 1 else ()) \
        + (("keystone",) if auth == "keystone" else ())
    nodes = tuple(name for n in range(1, replicas + 1) for name in node_processes(n, replicas))
    return shared + nodes + ("proxy",)


def parse_process(name: str) -> tuple[int | None, str]:
    """``"n2-object"`` -> ``(2, "object")``; a shared or one-replica name -> ``(None, name)``."""
    head, sep, kind = name.partition("-")
    if sep and head[:1] == "n" and head[1:].isdigit():
        return int(head[1:]), kind
    return None, name


@dataclasses.dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "s2aio.json"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def swift_conf(self) -> Path:
        return self.etc / "swift.conf"

    def server_conf(self, kind: str, node: int | None = None) -> Path:
        """A server's config; with replicas, each node's live in ``etc/n<N>/``."""
        if node is None:
            return self.etc / f"{kind}-server.conf"
        return self.etc / f"n{node}" / f"{kind}-server.conf"

    @property
    def rsyncd_conf(self) -> Path:
        return self.etc / "rsyncd.conf"

    @property
    def rsyncd_secrets(self) -> Path:
        return self.etc / "rsyncd.secrets"

    def node_devices(self, node: int | None = None) -> Path:
        """The ``devices`` dir of a node's servers (one device, ``d<N>``, inside)."""
        return self.devices if node is None else self.devices / f"n{node}"

    def recon_dir(self, node: int | None = None) -> Path:
        """Recon caches: one dir per node, so that two nodes' daemons never share a file."""
        return self.run if node is None else self.run / f"n{node}"

    @staticmethod
    def object_where(node: int | None = None) -> str:
        """The sandbox root name of a node's object server; the gateway derives its
        pid files and cgroup names from it, so two nodes never share one."""
        return "object" if node is None else f"object-n{node}"

    @property
    def keystone_etc(self) -> Path:
        """keystone.conf and keystone's fernet and credential key repositories."""
        return self.etc / "keystone"

    @property
    def keystone_db(self) -> Path:
        return self.root / "keystone" / "keystone.db"

    @property
    def internal_client_conf(self) -> Path:
        return self.etc / "internal-client.conf"

    def gateway_conf(self, where: str) -> Path:
        return self.etc / f"storlet-gateway-{where}.conf"

    @property
    def devices(self) -> Path:
        return self.root / "devices"

    @property
    def run(self) -> Path:
        return self.root / "run"

    def pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    @property
    def log_socket(self) -> Path:
        # Bound into each sandbox as /dev/log; short on purpose (AF_UNIX paths <= 107 bytes).
        return self.run / "log.sock"

    @property
    def seccomp_filter(self) -> Path:
        """The compiled seccomp filter bubblewrap loads into every sandbox."""
        return self.run / "seccomp.bpf"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def native(self) -> Path:
        """Mounted read-only at /usr/local/lib/storlets inside sandboxes."""
        return self.root / "native"

    @property
    def libsbus(self) -> Path:
        return self.native / "libsbus.so"

    def sandbox_root(self, where: str) -> Path:
        """Per execution server (proxy/object): pipes, storlets, logs, cache."""
        return self.root / "sbox" / where
