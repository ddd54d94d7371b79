"""Pure builders of contents models and codecs for file content (no I/O)."""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import mimetypes
from typing import Any

from storlets_apps import _nbcommon

from .errors import SwiftContentsError
from .store import EPOCH, Entry

NOTEBOOK_EXT = ".ipynb"
KNOWN_NBFORMATS = (1, 2, 3, 4)  # the nbformat.v1 ... v4 modules that read and write them


def kind_of(path: str) -> str:
    return "notebook" if path.endswith(NOTEBOOK_EXT) else "file"


def base_model(path: str, last_modified: dt.datetime = EPOCH) -> dict[str, Any]:
    """The keys every model carries (as FileContentsManager's ``_base_model``).

    Swift keeps no creation time, so ``created`` is the last write.
    """
    return {
        "name": path.rpartition("/")[2], "path": path,
        "last_modified": last_modified, "created": last_modified,
        "content": None, "format": None, "mimetype": None, "size": None,
        "writable": True, "hash": None, "hash_algorithm": None, "type": None,
    }


def parse_model_time(path: str, value: Any) -> dt.datetime:
    """A model's ``last_modified``: a datetime, or its ISO text as the REST API sends it."""
    if isinstance(value, dt.datetime):
        when = value
    else:
        try:
            when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise SwiftContentsError(400, (
                f"Invalid last_modified {value!r} in the model for {path}: "
                "use the ISO 8601 time the contents API gave")) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def dir_model(path: str, last_modified: dt.datetime = EPOCH) -> dict[str, Any]:
    """A directory's model; its time is its marker's (or its newest object's)."""
    model = base_model(path, last_modified)
    model["type"] = "directory"
    return model


def entry_model(path: str, entry: Entry, type_: str | None = None) -> dict[str, Any]:
    """A model without content, from a HEAD or a listing row (they agree exactly)."""
    if entry.is_dir:
        return dir_model(path, entry.last_modified)
    model = base_model(path, entry.last_modified)
    model["type"] = type_ or kind_of(path)
    model["size"] = entry.size
    if model["type"] == "file":
        model["mimetype"] = mimetypes.guess_type(path)[0]
    return model


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _field(where: str, obj: dict, name: str, types: tuple[type, ...], what: str) -> str | None:
    if name not in obj:
        return f"{where}: missing field '{name}'"
    if not isinstance(obj[name], types) or isinstance(obj[name], bool):
        return f"{where}: field '{name}' must be {what}, not {_kind(obj[name])}"
    return None


def notebook_json(nb: Any) -> str:
    """``nbformat.writes(nb)`` without its validation: the same JSON text, in the
    notebook's own version. (Validation happens once per save, as it is stored.)"""
    import nbformat

    major, _ = nbformat.reader.get_version(nb)
    return nbformat.versions[major].writes_json(nb)


def notebook_shape_problem(content: Any) -> str | None:
    """What in a notebook model's ``content`` would break signing or writing it
    (nbformat v4), naming the cell and the field; None if its shape is sound.

    Only the fields the signer and writer rely on: a notebook that is merely invalid
    (say a markdown cell without ``source``) is still saved, with a validation message,
    as FileContentsManager does.
    """
    if not isinstance(content, dict):
        return f"the notebook must be an object, not {_kind(content)}"
    problem = (_field("notebook", content, "nbformat", (int,), "an integer")
               or _version_problem(content)
               or _field("notebook", content, "metadata", (dict,), "an object")
               or _field("notebook", content, "cells", (list,), "a list"))
    if problem or content["nbformat"] < 4:
        return problem
    for i, cell in enumerate(content["cells"]):
        if not isinstance(cell, dict):
            return f"cell {i} must be an object, not {_kind(cell)}"
        problem = (_field(f"cell {i}", cell, "cell_type", (str,), "a string")
                   or _field(f"cell {i}", cell, "metadata", (dict,), "an object"))
        if not problem and cell["cell_type"] == "code":
            problem = _code_cell_problem(f"cell {i} (code)", cell)
        if problem:
            return problem
    return None


def _version_problem(content: dict) -> str | None:
    """nbformat only reads and writes the versions it has a module for, and asserts
    (a 500 otherwise) that ``nbformat_minor`` is an integer."""
    if content["nbformat"] not in KNOWN_NBFORMATS:
        return (f"notebook: nbformat {content['nbformat']} is not a known version "
                f"({', '.join(map(str, KNOWN_NBFORMATS))}; 4 is current)")
    if "nbformat_minor" in content:
        minor = content["nbformat_minor"]
        if not isinstance(minor, int) or isinstance(minor, bool) or minor < 0:
            return (f"notebook: field 'nbformat_minor' must be a non-negative integer, "
                    f"not {_kind(minor)}")
    return None


def check_encodable(text: str, nb: Any) -> None:
    """Raise ValueError if a notebook read from ``text`` holds a lone UTF-16 surrogate
    (valid JSON, not Unicode text: signing and sending it fail); the storlets' own check."""
    try:
        _nbcommon.check_unicode(text, nb)
    except _nbcommon.NotebookProblem as exc:
        raise ValueError(f"{exc.detail}; fix the escape and save again") from None


def _code_cell_problem(where: str, cell: dict) -> str | None:
    problem = _field(where, cell, "outputs", (list,), "a list")
    if problem:
        return problem
    for j, output in enumerate(cell["outputs"]):
        if not isinstance(output, dict):
            return f"{where}: output {j} must be an object, not {_kind(output)}"
        problem = _field(f"{where}, output {j}", output, "output_type", (str,), "a string")
        if problem:
            return problem
    return None


def decode_file(path: str, data: bytes, fmt: str | None) -> tuple[str, str]:
    """(content, format) as FileContentsManager returns them."""
    if fmt in (None, "text"):
        try:
            return data.decode("utf-8"), "text"
        except UnicodeError:
            if fmt == "text":
                raise SwiftContentsError(400, f"{path} is not UTF-8 encoded") from None
    return base64.encodebytes(data).decode("ascii"), "base64"


def encode_file(path: str, content: Any, fmt: str | None) -> bytes:
    """Bytes to store for a file model's content."""
    if fmt not in ("text", "base64"):
        raise SwiftContentsError(400, "Must specify format of file contents as 'text' or 'base64'")
    try:
        if fmt == "text":
            return content.encode("utf-8")
        return base64.decodebytes(content.encode("ascii"))
    except (AttributeError, UnicodeError, binascii.Error, ValueError) as exc:
        raise SwiftContentsError(400, f"Encoding error saving {path}: {exc}") from None


def content_hash(algorithm: str, data: bytes) -> dict[str, str]:
    h = hashlib.new(algorithm)
    h.update(data)
    return {"hash": h.hexdigest(), "hash_algorithm": algorithm}


def default_mimetype(fmt: str) -> str:
    return "text/plain" if fmt == "text" else "application/octet-stream"


def guess_content_type(path: str) -> str:
    if path.endswith(NOTEBOOK_EXT):
        return "application/x-ipynb+json"
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def stamp_of(meta: dict[str, str]) -> dict[str, Any] | None:
    """The typed validation stamp in an object's metadata, if any (one vocabulary:
    ``storlets_apps._nbcommon``, the storlet's own helper)."""
    return _nbcommon.parse_stamp(meta)
