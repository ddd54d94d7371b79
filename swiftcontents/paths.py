"""Pure validation and splitting of API paths (``a/b/c.ipynb``, no leading ``/``).

Rejected with 400: ``..`` or ``.`` segments, absolute paths (after the API's own
outer slashes are stripped, a ``//`` or a backslash-rooted path remains),
NUL and other control characters, and object names whose checkpoints would pass Swift's
1,024-byte limit.
"""
from __future__ import annotations

import posixpath
import unicodedata

from .errors import SwiftContentsError

MAX_NAME_BYTES = 1024  # Swift's default max_object_name_length
# A file's checkpoints are named "checkpoints/<object name>/.~ckpt/<28-byte id>" in the
# aux container (checkpoints.py; a test keeps the two in step): 48 bytes more than the
# file's own name, which must leave room for them, or a save would write the file and
# then fail on its checkpoint.
CHECKPOINT_NAME_BYTES = 48
MAX_KEY_BYTES = MAX_NAME_BYTES - CHECKPOINT_NAME_BYTES  # 976


def _bad(path: str, why: str) -> SwiftContentsError:
    return SwiftContentsError(400, f"Invalid path {path!r}: {why}")


def normalize(path: str) -> str:
    """Strip the API's outer slashes and validate; '' is the root."""
    if not isinstance(path, str):
        raise SwiftContentsError(400, f"Invalid path {path!r}: not a string")
    stripped = path.strip("/")
    if not stripped:
        return ""
    if any(unicodedata.category(ch) == "Cc" for ch in stripped):
        raise _bad(path, "control characters (NUL, newline, ...) are not allowed")
    if stripped.startswith("\\") or (len(stripped) > 1 and stripped[1] == ":" and stripped[0].isalpha()):
        raise _bad(path, "absolute paths are not allowed")
    parts = stripped.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise _bad(path, "empty, '.' and '..' segments are not allowed")
    return stripped


def check_length(object_name: str, path: str) -> None:
    """Refuse an object name (the container prefix included) whose checkpoints would not
    fit Swift's 1,024-byte limit; say so before writing anything."""
    if len(object_name.encode("utf-8")) > MAX_KEY_BYTES:
        raise _bad(path, (
            f"longer than {MAX_KEY_BYTES} bytes with the container prefix (Swift's "
            f"{MAX_NAME_BYTES}-byte object name limit, less {CHECKPOINT_NAME_BYTES} for the "
            "names of its checkpoints); choose a shorter name"))


def split(path: str) -> tuple[str, str]:
    """('a/b', 'c.ipynb') for 'a/b/c.ipynb'; ('', 'x') for 'x'."""
    parent, _, name = path.rpartition("/")
    return parent, name


def join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def is_hidden(path: str) -> bool:
    """Hidden like jupyter_core's rule: any segment starting with '.'."""
    return any(part.startswith(".") for part in path.split("/") if part)


def is_within(path: str, directory: str) -> bool:
    return directory == "" or path == directory or path.startswith(directory + "/")


def rebase(path: str, old: str, new: str) -> str:
    """Move ``path`` from under ``old`` to under ``new``."""
    if path == old:
        return new
    return posixpath.join(new, path[len(old) + 1:]) if new else path[len(old) + 1:]
