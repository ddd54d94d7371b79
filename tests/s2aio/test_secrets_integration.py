"""What the session's s2aio exposes to other users: command lines, memcached, file modes."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from s2aio import procs
from s2aio.core import PROCESSES, USERS

pytestmark = pytest.mark.integration
LOOPBACK_V4 = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
TCP_LISTEN = "0A"


def _listening_addresses(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of the sockets that listen on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == TCP_LISTEN:
                found.append(address)
    return found


def test_memcached_listens_on_loopback_only(s2aio):
    pid = procs.read_pid_file(s2aio.layout.pid_file("memcached"))
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert argv[argv.index(b"-l") + 1] == b"127.0.0.1" and b"0" == argv[argv.index(b"-U") + 1]
    assert _listening_addresses(s2aio.ports.memcached) == [LOOPBACK_V4]


def test_no_process_command_line_holds_a_key(s2aio, deployed):
    keys = [s2aio.state["admin_key"].encode()] + [key.encode() for _, _, key in USERS.values()]
    pids = [procs.read_pid_file(s2aio.layout.pid_file(n)) for n in PROCESSES]
    assert all(pids)
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile
        leaked = [k for k in keys for arg in argv if arg == k or arg.endswith(b"=" + k)]
        assert not leaked, f"pid {pid} has a Swift key on its command line"


def test_swift_writes_owner_only_files(s2aio, conn, container):
    conn.put_object(container, "private.txt", b"not for other users")
    written = [p for top in ("devices", "logs") for p in (s2aio.data_dir / top).rglob("*")
               if p.is_file()]
    assert any(p.suffix == ".data" for p in written) and any(p.suffix == ".db" for p in written)
    loose = [f"{p} {stat.S_IMODE(p.stat().st_mode):04o}" for p in written
             if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert not loose
