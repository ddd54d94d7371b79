"""Which storlet and dependency names the engine may turn into host paths.

The storlets engine joins a storlet's object name, its main class and every
name of its ``X-Object-Meta-Storlet-Dependency`` into paths of the node's
cache and sandbox dirs. A name is safe when it is one plain path component:
not empty, at most 255 bytes of UTF-8, no ``/``, no ``..``, no NUL or other
control character, and not starting with ``.`` (no hidden files, no ``.``).
The deploy command refuses unsafe names before upload and s2aio's gateway
refuses them at upload and again before any path is built.
"""
from __future__ import annotations

from .errors import UnsafeNameError

MAX_NAME_BYTES = 255


def check_engine_name(name: object, what: str = "name") -> str:
    """``name`` if it is safe as one host path component, else ``UnsafeNameError``.

    ``what`` says which name it is ("storlet name", "dependency name", ...) in
    the message; the name itself is shown escaped (``repr``), never raw.
    """
    if not isinstance(name, str):
        raise UnsafeNameError(f"{what} must be text, not {type(name).__name__}")
    problem = _problem(name)
    if problem:
        shown = repr(name[:80]) + ("..." if len(name) > 80 else "")
        raise UnsafeNameError(f"{what} {shown} is refused: {problem}")
    return name


def _problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    if size > MAX_NAME_BYTES:
        return f"it is {size} bytes long (at most {MAX_NAME_BYTES})"
    if "/" in name or "\\" in name:
        return "it contains a slash"
    if ".." in name:
        return "it contains '..'"
    if name.startswith("."):
        return "it starts with '.'"
    if "\x00" in name:
        return "it contains a NUL byte"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "it contains a control character"
    return None
