"""A tiny syslog sink: Swift logs over UDP, sandboxes over a unix socket.

There is no /dev/log on these machines. Swift servers log to
``127.0.0.1:<port>`` (``log_udp_port``) and every storlets sandbox has this
sink's unix socket mounted as its /dev/log; lines land in
``logs/swift.log`` and ``logs/sandbox.log`` of the data dir.

Sandboxes run untrusted code, so every datagram is treated as hostile:
control characters are escaped the syslog way (``"\\n"`` -> ``#012``), so one
datagram is always exactly one line; a message is capped at
``MAX_MESSAGE`` bytes; and a log file is rotated to ``<name>.1`` (replacing
the older one) before a write would take it past ``max_bytes``, so each log
uses less than twice that on disk.

Usage: ``python -m s2aio.logsink UDP_PORT UNIX_SOCKET LOG_DIR [MAX_BYTES]``.
"""
from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import sys
import time

MAX_MESSAGE = 4096
MAX_LOG_BYTES = 32 * 1024 * 1024
TRUNCATED = b"...[truncated]"

_PRI = re.compile(rb"^<\d{1,3}>")
# A control byte (escaped, kept whole) or a run of anything else (may be cut).
_TOKEN = re.compile(rb"([\x00-\x1f\x7f])|[^\x00-\x1f\x7f]+")


def escape(body: bytes, limit: int = MAX_MESSAGE) -> bytes:
    """Control bytes -> ``#`` + 3 octal digits; at most ``limit`` bytes of that,
    then ``TRUNCATED`` if anything was left out (escapes are never split)."""
    out = bytearray()
    for m in _TOKEN.finditer(body):
        ctrl = m.group(1)
        tok = b"#%03o" % ctrl[0] if ctrl else m.group()
        room = limit - len(out)
        if len(tok) > room:
            if not ctrl:
                out += tok[:room]
            return bytes(out) + TRUNCATED
        out += tok
    return bytes(out)


def format_line(payload: bytes) -> bytes:
    """Strip the syslog priority, escape and cap the message, add a timestamp,
    end with one newline: one datagram, one line."""
    body = escape(_PRI.sub(b"", payload.rstrip(b"\x00\n")))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S").encode()
    return stamp + b" " + body + b"\n"


class RotatingLog:
    """An owner-only (0600) append-only file kept at most ``max_bytes`` long:
    a write that would pass that first renames it to ``<path>.1``."""

    def __init__(self, path: str, max_bytes: int = MAX_LOG_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        self.path, self.max_bytes = path, max_bytes
        self.fd = self._open()
        self.size = os.fstat(self.fd).st_size

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)
        return fd

    def write(self, line: bytes) -> None:
        """Append ``line``; on an OS error (disk full, ...) the line is dropped."""
        if len(line) > self.max_bytes:  # only with a tiny limit
            line = line[:self.max_bytes - 1] + b"\n"
        try:
            if self.size + len(line) > self.max_bytes and self.size:
                self.rotate()
            self.size += os.write(self.fd, line)
        except OSError:
            pass

    def rotate(self) -> None:
        os.replace(self.path, self.path + ".1")
        fd = self._open()
        os.close(self.fd)
        self.fd, self.size = fd, 0


def serve(udp_port: int, unix_path: str, log_dir: str,
          max_bytes: int = MAX_LOG_BYTES) -> None:
    os.makedirs(log_dir, exist_ok=True)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", udp_port))
    if os.path.exists(unix_path):
        os.unlink(unix_path)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unix.bind(unix_path)
    os.chmod(unix_path, 0o666)  # sandboxed daemons may run as another uid
    outputs = {
        udp: RotatingLog(os.path.join(log_dir, "swift.log"), max_bytes),
        unix: RotatingLog(os.path.join(log_dir, "sandbox.log"), max_bytes),
    }
    sel = selectors.DefaultSelector()
    for sock in outputs:
        sel.register(sock, selectors.EVENT_READ)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        for key, _ in sel.select():
            payload = key.fileobj.recv(65536)
            outputs[key.fileobj].write(format_line(payload))


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(f"usage: {sys.argv[0]} UDP_PORT UNIX_SOCKET LOG_DIR [MAX_BYTES]")
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3],
          int(sys.argv[4]) if len(sys.argv) == 5 else MAX_LOG_BYTES)
