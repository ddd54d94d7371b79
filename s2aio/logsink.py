"""A tiny syslog sink: Swift logs over UDP, sandboxes over a unix socket.

There is no /dev/log on these machines. Swift servers log to
``127.0.0.1:<port>`` (``log_udp_port``) and every storlets sandbox has this
sink's unix socket mounted as its /dev/log; lines land in
``logs/swift.log`` and ``logs/sandbox.log`` of the data dir.

Usage: ``python -m s2aio.logsink UDP_PORT UNIX_SOCKET LOG_DIR``.
"""
from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import sys
import time

_PRI = re.compile(rb"^<\d{1,3}>")


def format_line(payload: bytes) -> bytes:
    """Strip the syslog priority, add a timestamp, end with one newline."""
    body = _PRI.sub(b"", payload.rstrip(b"\x00\n"))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S").encode()
    return stamp + b" " + body + b"\n"


def serve(udp_port: int, unix_path: str, log_dir: str) -> None:
    os.makedirs(log_dir, exist_ok=True)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", udp_port))
    if os.path.exists(unix_path):
        os.unlink(unix_path)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unix.bind(unix_path)
    os.chmod(unix_path, 0o666)  # sandboxed daemons may run as another uid
    outputs = {
        udp: open(os.path.join(log_dir, "swift.log"), "ab", buffering=0),
        unix: open(os.path.join(log_dir, "sandbox.log"), "ab", buffering=0),
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
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])
