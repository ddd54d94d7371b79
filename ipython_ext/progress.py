"""Upload progress: a file wrapper that reports bytes read, and two reporters.

The reporter is a plain callable ``(done, total) -> None`` so the Swift layer
does not know about terminals or notebooks. ``TextProgress`` writes a one-line
bar to a stream (``\\r`` rewrites it); ``HtmlProgress`` updates one display in
Jupyter. Both throttle themselves, so a 1 GB upload costs ~100 updates.
"""
from __future__ import annotations

import sys
import time
from typing import IO, Callable, TextIO

# Uploads below this size finish before a bar would help.
PROGRESS_MIN_BYTES = 4 << 20
BAR_WIDTH = 30
MIN_INTERVAL_S = 0.2

Reporter = Callable[[int, int], None]


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - loop always returns


class ProgressReader:
    """Wraps a binary file; calls ``report(done, total)`` as it is read.

    ``seek``/``tell`` pass through so swiftclient can rewind on a retry.
    """

    def __init__(self, fileobj: IO[bytes], total: int, report: Reporter) -> None:
        self._file = fileobj
        self._total = total
        self._report = report
        self._start = fileobj.tell()

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._report(self._file.tell() - self._start, self._total)
        return data

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)


class _Throttled:
    """Calls ``_show`` at most every ``MIN_INTERVAL_S``, and always at the end."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < MIN_INTERVAL_S:
            return
        self._last = now
        self._show(done, total)

    def _show(self, done: int, total: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def bar_text(label: str, done: int, total: int) -> str:
    frac = 1.0 if total <= 0 else min(done / total, 1.0)
    filled = int(frac * BAR_WIDTH)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return f"{label} [{bar}] {frac:4.0%} {human_bytes(done)}/{human_bytes(total)}"


class TextProgress(_Throttled):
    """A text bar on ``stream`` (stderr by default), finished by a newline."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        super().__init__(label)
        self._stream = stream

    def _show(self, done: int, total: int) -> None:
        stream = self._stream or sys.stderr
        end = "\n" if done >= total else ""
        stream.write("\r" + bar_text(self.label, done, total) + end)
        stream.flush()


class HtmlProgress(_Throttled):
    """An HTML ``<progress>`` element updated in place in a notebook."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self._handle = None

    def _show(self, done: int, total: int) -> None:
        from IPython.display import HTML, display

        from .render import escape

        html = HTML(f"<div><progress value='{done}' max='{max(total, 1)}'></progress> "
                    f"<code>{escape(bar_text(self.label, done, total))}</code></div>")
        if self._handle is None:
            self._handle = display(html, display_id=True)
        else:
            self._handle.update(html)


def reporter_for(label: str, total: int, *, html: bool) -> Reporter | None:
    """A reporter for an upload of ``total`` bytes, or None if it is small."""
    if total < PROGRESS_MIN_BYTES:
        return None
    return HtmlProgress(label) if html else TextProgress(label)
