"""The gateway's side of an SBus request, in Python: no libsbus, no ctypes.

Upstream's client sends through libsbus: every send constructs ``SBus()``, which
loads the library with ``CDLL`` and sets the ctypes signatures of four of its
functions, then builds the message in C; it reads the answer 16 bytes at a time
until the server closes the reply pipe. Here the same message is sent with
``socket.sendmsg``, so that upstream's servers (daemon factory and storlet
daemons, which receive with libsbus) read it as they read libsbus's::

    one datagram on an AF_UNIX SOCK_DGRAM socket, to the server's socket path:
    int n_fds | int metadata_len | int params_len    (C ints, native order)
    metadata JSON (only when there are fds) | params JSON | one NUL byte
    the fds in one SCM_RIGHTS control message

The answer is one small JSON document that the server writes into the pipe
whose write end is the first fd (``SBUS_FD_SERVICE_OUT``), in one ``write()``
below ``PIPE_BUF`` (so it arrives whole), then closes. It is parsed as soon as
it is whole, without waiting for the close.
"""
from __future__ import annotations

import array
import errno
import json
import os
import socket
import struct

# What libsbus's receiver copies into its buffer (MAX_MSG_LENGTH in sbus.c); a
# longer datagram would reach the server cut short.
MAX_MESSAGE = 4096
# libsbus's header: three C ints in the machine's own order.
HEADER = struct.Struct("=iii")
ANSWER_CHUNK = 4096


class SBusWireError(OSError):
    """A request that cannot be sent (too long, or no server at that path)."""


def encode(params_json: str, metadata_json: str, fds: list[int]) -> bytes:
    """The datagram libsbus's ``sbus_send_msg`` builds for these JSON texts."""
    params = params_json.encode("utf-8")
    metadata = metadata_json.encode("utf-8") if fds else b""
    message = HEADER.pack(len(fds), len(metadata), len(params)) + metadata + params + b"\0"
    if len(message) > MAX_MESSAGE:
        raise SBusWireError(errno.EMSGSIZE, f"an SBus message of {len(message)} bytes "
                            f"exceeds the {MAX_MESSAGE} bytes its server reads")
    return message


def decode(message: bytes) -> tuple[int, str, str]:
    """(n_fds, metadata JSON, params JSON) of a datagram: what libsbus's receiver reads."""
    n_fds, md_len, params_len = HEADER.unpack_from(message)
    body = message[HEADER.size:]
    return (n_fds, body[:md_len].decode("utf-8"),
            body[md_len:md_len + params_len].decode("utf-8"))


def send(path: str, message: bytes, fds: list[int]) -> None:
    """One datagram to the server at ``path``; green, it waits while the server's
    queue is full (a connected datagram socket polls writable when there is room)."""
    import eventlet.patcher
    from eventlet.hubs import trampoline

    raw = eventlet.patcher.original("socket")
    sock = raw.socket(raw.AF_UNIX, raw.SOCK_DGRAM | raw.SOCK_NONBLOCK | raw.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        ancillary = ([(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
                     if fds else [])
        while True:
            try:
                sock.sendmsg([message], ancillary)
                return
            except BlockingIOError:
                trampoline(sock.fileno(), write=True)
    finally:
        sock.close()


def parse_answer(text: bytes) -> dict | None:
    """The server's answer once it is whole, else None."""
    try:
        answer = json.loads(text)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def read_answer(fd: int) -> bytes:
    """The answer on the reply pipe ``fd``: read once it is readable, and again only
    if it is not whole yet (then until the server closes its end)."""
    import eventlet.patcher
    from eventlet.hubs import trampoline

    read = eventlet.patcher.original("os").read
    os.set_blocking(fd, False)
    answer = b""
    while True:
        try:
            chunk = read(fd, ANSWER_CHUNK)
        except BlockingIOError:
            trampoline(fd, read=True)
            continue
        if not chunk:
            return answer
        answer += chunk
        if parse_answer(answer) is not None:
            return answer
