"""Run a storlet locally the way the storlets engine runs it.

Used by the unit tests, by the IPython extension's ``--local`` mode and by
swiftcontents' fallbacks (the storlets' own code, in-process). It lives here,
outside ``storlets_apps``, so that ``storlets-deploy`` never uploads it::

    from swiftproto.harness import run_storlet
    result = run_storlet(ValidateStorlet, notebook_bytes, params={"mode": "report"})
    result.metadata, result.body, result.log

Faithful to the engine (storlets 18, ``storlets.agent.daemon``): every input
and output is a real ``os.pipe()`` wrapped in the agent's own
``StorletInputFile`` / ``StorletOutputFile`` / ``StorletLogger``; inputs are
fed by writer threads as the middleware does; parameters are strings; output
metadata is JSON read once, at most 4096 bytes, as the gateway reads it.

Where the engine only logs a warning or answers a bare 503, the harness raises
:class:`HarnessError` with the reason: writing before ``set_metadata``, setting
metadata twice, never setting it, leaving a file open, raising, metadata that
is not ``str -> str`` or is too large, running past ``timeout``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

from storlets.agent.daemon.files import StorletInputFile, StorletLogger, StorletOutputFile

from .errors import SwiftProtoError

__all__ = ["HarnessError", "LocalResult", "run_storlet"]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

MAX_METADATA_SIZE = 4096  # storlets.gateway.gateways.container.runtime reads this much
FEED_CHUNK = 64 * 1024
DEFAULT_TIMEOUT = 60.0

InputData = Union[bytes, bytearray, str, Path, Iterable[bytes]]


class HarnessError(SwiftProtoError):
    """The storlet broke a rule of the engine, raised, or timed out."""


@dataclasses.dataclass
class LocalResult:
    metadata: dict
    body: bytes
    log: str


class _CheckedOutputFile(StorletOutputFile):
    """The agent's output file, remembering rule violations even if caught."""

    def __init__(self, md_fd: int, obj_fd: int) -> None:
        super().__init__(md_fd, obj_fd)
        self.violations: list[str] = []

    def set_metadata(self, md: Any) -> None:
        if self.md_file.closed:
            self.violations.append("set_metadata called twice (or after close)")
        super().set_metadata(md)

    def write(self, buf: Any) -> None:
        if not self.md_file.closed:
            self.violations.append("write before set_metadata")
        super().write(buf)

    def writelines(self, seq: Any) -> None:
        if not self.md_file.closed:
            self.violations.append("writelines before set_metadata")
        super().writelines(seq)


def _chunks(data: InputData) -> Iterable[bytes]:
    if isinstance(data, (bytes, bytearray)):
        view = memoryview(bytes(data))
        return (bytes(view[i:i + FEED_CHUNK]) for i in range(0, len(view), FEED_CHUNK))
    if isinstance(data, (str, Path)):
        return _file_chunks(Path(data))
    return iter(data)


def _file_chunks(path: Path) -> Iterable[bytes]:
    with open(path, "rb") as f:
        while True:
            chunk = f.read(FEED_CHUNK)
            if not chunk:
                return
            yield chunk


def _feed(fd: int, data: InputData, errors: list[str]) -> None:
    """Write an input into its pipe; a storlet may stop reading early (EPIPE)."""
    try:
        with os.fdopen(fd, "wb") as pipe:
            for chunk in _chunks(data):
                if not isinstance(chunk, (bytes, bytearray)):
                    errors.append("input chunks must be bytes, got %s" % type(chunk).__name__)
                    return
                pipe.write(chunk)
    except BrokenPipeError:
        pass
    except OSError as exc:
        errors.append("feeding input failed: %s" % exc)


def _drain(fd: int, sink: list[bytes]) -> None:
    with os.fdopen(fd, "rb") as pipe:
        while True:
            chunk = pipe.read(FEED_CHUNK)
            if not chunk:
                return
            sink.append(chunk)


def _thread(target: Any, *args: Any) -> threading.Thread:
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def _instance(storlet: Any, slogger: StorletLogger) -> Any:
    if isinstance(storlet, type):
        return storlet(slogger)
    if callable(storlet):
        return storlet
    raise HarnessError("storlet must be a storlet class or instance, got %r" % (storlet,))


def _check_metadata(raw: bytes) -> dict:
    if not raw:
        raise HarnessError("the storlet never called set_metadata on its output "
                           "(the engine answers 503)")
    if len(raw) > MAX_METADATA_SIZE:
        raise HarnessError("output metadata is %d bytes of JSON; the engine reads at most %d"
                           % (len(raw), MAX_METADATA_SIZE))
    md = json.loads(raw)
    if not isinstance(md, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in md.items()):
        raise HarnessError("output metadata must be a dict of str to str (they become "
                           "HTTP headers), got %r" % (md,))
    return md


def _storlet_name(storlet: Any) -> str:
    cls = storlet if isinstance(storlet, type) else type(storlet)
    return "%s.%s" % (cls.__module__.rpartition(".")[2], cls.__name__)


def run_storlet(
    storlet: Any,
    data: InputData,
    *,
    params: Mapping[str, Any] | None = None,
    metadata: Mapping[str, str] | None = None,
    extra: Sequence[tuple[InputData, Mapping[str, str]]] = (),
    dependencies_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> LocalResult:
    """Run ``storlet`` (a class, built with a logger, or an instance) on ``data``.

    ``data`` and each ``extra`` input are bytes, a file path or an iterable of
    bytes chunks; ``metadata`` is the input's user metadata (keys without
    ``X-Object-Meta-``). Parameter values are passed as strings, as the engine
    does. ``dependencies_dir`` (where the storlet's dependencies are) is put on
    ``sys.path`` for the run. Raises :class:`HarnessError`.
    """
    inputs = [(data, dict(metadata or {}))] + [(d, dict(m or {})) for d, m in extra]
    str_params = {str(k): str(v) for k, v in (params or {}).items()}
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    feed_errors: list[str] = []
    threads = []
    in_files = []
    for source, md in inputs:
        read_fd, write_fd = os.pipe()
        in_files.append(StorletInputFile(md, read_fd))
        threads.append(_thread(_feed, write_fd, source, feed_errors))
    md_read, md_write = os.pipe()
    data_read, data_write = os.pipe()
    log_read, log_write = os.pipe()
    out = _CheckedOutputFile(md_write, data_write)
    md_sink: list[bytes] = []
    body_sink: list[bytes] = []
    log_sink: list[bytes] = []
    drains = [_thread(_drain, md_read, md_sink), _thread(_drain, data_read, body_sink),
              _thread(_drain, log_read, log_sink)]
    outcome: dict[str, BaseException] = {}
    slogger = StorletLogger(_storlet_name(storlet), log_write)

    def invoke() -> None:
        try:
            _instance(storlet, slogger)(in_files, [out], str_params)
        except BaseException as exc:  # reported to the caller below
            outcome["error"] = exc

    added_path = _push_path(dependencies_dir)
    try:
        worker = _thread(invoke)
        worker.join(timeout)
        if worker.is_alive():
            raise HarnessError("the storlet did not finish within %gs (the engine cancels "
                               "it and answers 503)" % timeout)
    finally:
        _pop_path(added_path)
        not_closed = [f for f in in_files + [out] if not f.closed]
        for f in not_closed + [slogger]:
            if not f.closed:
                f.close()
        for t in drains + threads:
            t.join(5)
    log = b"".join(log_sink).decode("utf-8", "replace")
    if "error" in outcome:
        exc = outcome["error"]
        raise HarnessError("the storlet raised %s: %s (the engine answers a bare 503)"
                           % (type(exc).__name__, exc)) from exc
    if out.violations:
        raise HarnessError("the storlet broke the engine's rules: " + "; ".join(out.violations))
    if not_closed:
        raise HarnessError("the storlet left %d file(s) open (inputs and outputs must be "
                           "closed)" % len(not_closed))
    if feed_errors:
        raise HarnessError(feed_errors[0])
    result = LocalResult(_check_metadata(b"".join(md_sink)), b"".join(body_sink), log)
    logger.debug("storlet %s: %d bytes out", _storlet_name(storlet), len(result.body))
    return result


def _push_path(folder: str | os.PathLike[str] | None) -> str | None:
    if folder is None:
        return None
    path = os.fspath(folder)
    if not os.path.isdir(path):
        raise HarnessError("dependencies_dir %s is not a directory" % path)
    sys.path.insert(0, path)
    return path


def _pop_path(path: str | None) -> None:
    if path is not None and path in sys.path:
        sys.path.remove(path)
