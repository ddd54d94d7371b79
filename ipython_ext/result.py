"""What the invoking magics hand back: ``StorletResult`` (and friends).

``StorletResult`` keeps upstream's surface (``status``, ``headers``,
``iter_content()``, ``content``) and adds rich display: ``_repr_html_`` in
Jupyter, ``__repr__``/``_repr_pretty_`` in a terminal. The body is streamed
and read at most once: a preview buffers the first bytes, later reads replay
them and continue the stream.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping

from storlets_apps import _nbcommon

from . import render

PREVIEW_BYTES = 64 << 10


class StorletResult:
    """One storlet invocation's outcome (GET, PUT, COPY or local run)."""

    def __init__(self, status: int, headers: Mapping[str, str],
                 body: Iterable[bytes] | bytes | None = None, *,
                 action: str = "GET", storlet: str = "", target: str = "",
                 log: str | None = None) -> None:
        self.status = int(status)
        self.headers = {k.lower(): v for k, v in dict(headers).items()}
        self.action = action
        self.storlet = storlet
        self.target = target
        self.log = log
        self._buffer: list[bytes] = []
        self._rest: Iterator[bytes] | None
        if body is None:
            self._rest = None
        elif isinstance(body, (bytes, bytearray)):
            self._buffer = [bytes(body)]
            self._rest = None
        else:
            self._rest = iter(body)

    # -- upstream surface -------------------------------------------------
    def __iter__(self) -> Iterator[bytes]:
        return self.iter_content()

    def iter_content(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The body in chunks; replays what was already read (it is kept)."""
        def chunks() -> Iterator[bytes]:
            index = 0
            while True:
                if index < len(self._buffer):
                    yield self._buffer[index]
                    index += 1
                elif not self._read_more():
                    return
        return _rechunk(chunks(), chunk_size) if chunk_size else chunks()

    def _read_more(self) -> bool:
        if self._rest is None:
            return False
        chunk = next(self._rest, None)
        if chunk is None:
            self._rest = None
            return False
        self._buffer.append(chunk)
        return True

    @property
    def content(self) -> bytes:
        """The whole body (read once, then kept)."""
        for _ in self.iter_content():
            pass
        return b"".join(self._buffer)

    # -- conveniences -----------------------------------------------------
    @property
    def transaction_id(self) -> str | None:
        return self.headers.get("x-trans-id") or self.headers.get("x-openstack-request-id")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def metadata(self) -> dict[str, str]:
        """User metadata (``X-Object-Meta-*``), as the storlet set it."""
        prefix = "x-object-meta-"
        return {k[len(prefix):]: v for k, v in self.headers.items() if k.startswith(prefix)}

    @property
    def validation(self) -> dict[str, Any] | None:
        """The typed validation stamp (nbvalidate ``mode=stamp``) in the headers, if any:
        ``{"valid": True|False|None, "error_count": int|None, ...}``."""
        return _nbcommon.parse_stamp(self.headers)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def peek(self, size: int = PREVIEW_BYTES) -> bytes:
        """The first ``size`` bytes, without losing them for later reads."""
        while sum(len(b) for b in self._buffer) < size and self._read_more():
            pass
        return b"".join(self._buffer)[:size]

    def _view(self) -> render.View:
        body = None if not self._buffer and self._rest is None else self.peek()
        complete = self._rest is None
        return render.View(
            title=" ".join(filter(None, (self.action, self.target,
                                         f"with {self.storlet}" if self.storlet else ""))),
            status=self.status, headers=self.headers, body=body,
            complete=complete, storlet=self.storlet, log=self.log)

    # -- display ----------------------------------------------------------
    def _repr_html_(self) -> str:
        return render.result_html(self._view())

    def __repr__(self) -> str:
        return render.result_text(self._view())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("StorletResult(...)" if cycle else repr(self))


def _rechunk(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending


class StorletTable:
    """``%storlets``: the deployed storlets as a table."""

    COLUMNS = ("name", "main", "language", "size", "last_modified", "dependencies")

    def __init__(self, rows: list[dict[str, Any]], container: str) -> None:
        self.rows = rows
        self.container = container

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]

    def names(self) -> list[str]:
        return [row["name"] for row in self.rows]

    def _repr_html_(self) -> str:
        return render.table_html(self.rows, self.COLUMNS,
                                 caption=f"storlets in container {self.container!r}")

    def __repr__(self) -> str:
        return render.table_text(self.rows, self.COLUMNS,
                                 caption=f"storlets in container {self.container!r}")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


class StorletLog(str):
    """A storlet's log text, shown one entry per line (HTML block in Jupyter)."""

    storlet: str = ""

    @classmethod
    def of(cls, text: str, storlet: str) -> "StorletLog":
        log = cls(text)
        log.storlet = storlet
        return log

    def _repr_html_(self) -> str:
        return render.log_html(self.storlet, str(self))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(render.log_lines(str(self), self.storlet))
