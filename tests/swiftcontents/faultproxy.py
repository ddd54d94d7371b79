"""A loopback TCP forwarder that injects real network faults in front of Swift.

Requests are parsed (request line, headers, Content-Length body) so they can
be counted; responses are streamed back untouched. Modes:

- ``pass``: forward everything;
- ``503``: answer every request with ``503 Service Unavailable``;
- ``hang``: read requests and never answer (a timeout for the client);
- ``fail_after``: forward ``budget`` requests, then behave like ``503``;
- ``status``: answer requests whose method is in ``methods`` with ``status``
  (e.g. 507 Insufficient Storage, 413 Request Entity Too Large), forward the rest.
"""
from __future__ import annotations

import http
import socket
import threading

UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"


def status_response(status: int) -> bytes:
    """A minimal answer with ``status``, its reason as the body (as Swift's are)."""
    reason = http.HTTPStatus(status).phrase
    body = f"{reason} (injected by the fault proxy)".encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nX-Trans-Id: tx-faultproxy\r\n\r\n").encode() + body


class FaultProxy:
    def __init__(self, target_port: int, mode: str = "pass", budget: int = 0,
                 status: int = 503, methods: tuple[str, ...] = ("PUT",)) -> None:
        self.target_port = target_port
        self.mode = mode
        self.budget = budget
        self.status = status
        self.methods = methods
        self.forwarded = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._sock.close()
        for s in self._open:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self._open.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _canned(self, request: bytes) -> bytes | None:
        """The answer to give instead of forwarding ``request``; None to forward it."""
        if self.mode == "status":
            method = request.split(b" ", 1)[0].decode("latin-1")
            return status_response(self.status) if method in self.methods else None
        return None if self._should_forward() else UNAVAILABLE

    def _should_forward(self) -> bool:
        with self._lock:
            if self.mode == "pass":
                self.forwarded += 1
                return True
            if self.mode == "fail_after" and self.forwarded < self.budget:
                self.forwarded += 1
                return True
            return False

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        buf = b""
        try:
            while True:
                request, buf = _read_request(client, buf)
                if request is None:
                    return
                if self.mode == "hang":
                    continue
                canned = self._canned(request)
                if canned is not None:
                    client.sendall(canned)
                    continue
                if upstream is None:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port))
                    self._open.append(upstream)
                    threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
                upstream.sendall(request)
        except OSError:
            pass
        finally:
            client.close()
            if upstream is not None:
                upstream.close()


def _read_request(sock: socket.socket, buf: bytes) -> tuple[bytes | None, bytes]:
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None, b""
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            return None, b""
        rest += data
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
