"""Where every s2aio file lives inside one data dir (pure, no I/O)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

# Bumped when the on-disk layout changes incompatibly; an old data dir then
# asks for ``s2aio reset`` instead of starting half-broken.
LAYOUT_VERSION = 1

SERVERS = ("account", "container", "object", "proxy")


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

    def server_conf(self, kind: str) -> Path:
        return self.etc / f"{kind}-server.conf"

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
