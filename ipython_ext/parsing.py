"""Parsing of magic arguments: ``path:/c/o`` paths, parameters, names.

Pure functions; every user mistake raises ``StorletMagicError`` with a message
that says how to write it instead.
"""
from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

from swiftproto.redact import TOKEN_VALUE

from .errors import StorletMagicError

PATH_PREFIX = "path:"
PATH_FORM = "path:/<container>/<object>"
# Swift limits (swift.common.constraints defaults).
MAX_CONTAINER_NAME = 256
MAX_OBJECT_NAME = 1024
_RANGE_RE = re.compile(r"^(?:bytes=)?(\d*)-(\d*)$")
# A magic's line and a cell are kept in the notebook and in IPython's history:
# no secret may be written there. Names of options and variables that hold one:
_SECRET_WORD = r"[\w-]*(?:key|pass|token|secret|credential)[\w-]*"
_SECRET_OPTION = re.compile(r"(?i)(?:^|\s)-{1,2}%s(?:=|\s|$)" % _SECRET_WORD)
_SECRET_ASSIGNMENT = re.compile(r"(?i)(?:^|[\s'\"])%s=" % _SECRET_WORD)
_SECRET_NAME = re.compile(r"(?i)^%s$" % _SECRET_WORD)
_TOKEN_VALUE = TOKEN_VALUE
SECRET_HOW = ("set it in the environment that starts Jupyter (e.g. eval \"$(s2aio env)\"), "
              "or run %storlet_auth --env-file FILE (a chmod 600 file) or "
              "%storlet_auth --ask (asks without echo; nothing is stored)")


class SwiftPath(NamedTuple):
    """An object in the current account."""

    container: str
    obj: str

    def __str__(self) -> str:
        return f"/{self.container}/{self.obj}"


def unquote_token(text: str) -> str:
    """``text`` without one pair of surrounding quotes.

    IPython splits a magic's line at spaces but keeps the quotes that group
    words (``'path:/c/b c.ipynb'``): they are the only way to name an object
    or give a value with a space.
    """
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse_swift_path(text: str | None, option: str = "--input") -> SwiftPath:
    """``path:/container/object`` -> ``SwiftPath``."""
    text = unquote_token(text) if text else text
    if not text:
        raise StorletMagicError(f"{option} is required: add {option} {PATH_FORM}")
    if not text.startswith(PATH_PREFIX):
        raise StorletMagicError(
            f"{option} must look like {PATH_FORM}, got {text!r}")
    return split_container_object(text[len(PATH_PREFIX):], option)


def split_container_object(text: str, option: str = "path") -> SwiftPath:
    """``/container/object`` or ``container/object`` -> ``SwiftPath``."""
    container, sep, obj = text.lstrip("/").partition("/")
    if not sep or not container or not obj:
        raise StorletMagicError(
            f"{option} needs a container and an object, like {PATH_FORM}; got {text!r}")
    if len(container) > MAX_CONTAINER_NAME or len(obj) > MAX_OBJECT_NAME:
        raise StorletMagicError(f"{option}: container or object name too long: {text!r}")
    if "\x00" in text:
        raise StorletMagicError(f"{option}: names cannot contain NUL characters")
    return SwiftPath(container, obj)


def parse_input(text: str | None, option: str = "--input") -> SwiftPath | Path:
    """A Swift object (``path:/c/o``) or an existing local file."""
    if not text:
        raise StorletMagicError(
            f"{option} is required: add {option} {PATH_FORM} or a local file path")
    if text.startswith(PATH_PREFIX):
        return parse_swift_path(text, option)
    return local_file(text, option)


def local_file(text: str | None, option: str = "--input") -> Path:
    """An existing, readable local regular file."""
    if not text:
        raise StorletMagicError(f"{option} is required: add {option} /path/to/local/file")
    path = Path(text).expanduser()
    if not path.is_file():
        hint = " (Swift objects are written path:/<container>/<object>)" \
            if "/" in text and not path.parent.exists() else ""
        raise StorletMagicError(f"{option}: no such local file {text!r}{hint}")
    return path


def refuse_secret_line(line: str, magic: str) -> None:
    """No key, password or token in a magic's line (never echoed back)."""
    if _SECRET_OPTION.search(line) or _SECRET_ASSIGNMENT.search(line) or \
            _TOKEN_VALUE.search(line):
        raise StorletMagicError(
            f"{magic} takes no key, password or token (remove it from the cell: a magic's "
            f"line is saved in the notebook and in IPython's history). Instead, {SECRET_HOW}")


def refuse_secret_settings(changes: Mapping[str, str | None], where: str) -> None:
    """No secret variable set in a cell (names only in the message, never values)."""
    names = sorted(name for name, value in changes.items() if value is not None and (
        _SECRET_NAME.match(name) or _TOKEN_VALUE.search(value)))
    if names:
        raise StorletMagicError(
            f"{where} sets {', '.join(names)}: a cell is saved in the notebook and in "
            f"IPython's history, so secrets are refused there (delete that line from the "
            f"cell). Instead, {SECRET_HOW}")


def parse_module_class(text: str) -> tuple[str, str]:
    """``module.Class`` -> ``(module, Class)``; storlets allow no sub-modules."""
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isidentifier() for p in parts):
        raise StorletMagicError(
            f"the storlet must be named module.Class (one dot, e.g. mystorlet.MyStorlet), "
            f"got {text!r}")
    return parts[0], parts[1]


def storlet_object_name(name: str) -> str:
    """The storlet object's name: ``identity`` and ``identity.py`` both name ``identity.py``."""
    name = name.strip()
    if not name or "/" in name:
        raise StorletMagicError(
            f"--storlet takes a storlet object name like identity.py, got {name!r}")
    if name.endswith((".py", ".jar")):
        return name
    return f"{name}.py"


def parse_dependencies(text: str | None) -> tuple[str, ...]:
    """``-d a.py,b.zip`` -> names of objects in the dependency container."""
    if not text:
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if "/" in name:
            raise StorletMagicError(
                f"-d takes dependency object names (comma separated, no '/'), got {name!r}")
    if len(set(names)) != len(names):
        raise StorletMagicError(f"-d lists a dependency twice: {text!r}")
    return names


def check_variable_name(name: str | None, option: str = "-o") -> str:
    """A valid Python identifier to store a result in."""
    if not name:
        raise StorletMagicError(f"{option} is required: add {option} VARIABLE_NAME")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise StorletMagicError(
            f"{option} must be a Python variable name (letters, digits, _), got {name!r}")
    return name


def params_from_namespace(namespace: Mapping[str, Any], name: str) -> dict[str, str]:
    """``-i NAME``: the user's dict of storlet parameters."""
    if name not in namespace:
        raise StorletMagicError(
            f"-i {name}: no variable named {name!r}; define it first, e.g. {name} = {{'key': 'value'}}")
    value = namespace[name]
    if not isinstance(value, Mapping):
        raise StorletMagicError(
            f"-i {name}: must be a dict of parameters, got {type(value).__name__}")
    return check_params({str(k): v for k, v in value.items()})


def parse_param_pairs(pairs: Iterable[str] | None) -> dict[str, str]:
    """``--param key=value`` (repeatable) -> dict."""
    params: dict[str, str] = {}
    for pair in map(unquote_token, pairs or ()):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise StorletMagicError(f"--param takes key=value, got {pair!r}")
        params[key.strip()] = value
    return check_params(params)


def check_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as strings; keys cannot hold ':' (the header separator)."""
    checked: dict[str, str] = {}
    for key, value in params.items():
        if not key or ":" in key or any(c in key for c in "\r\n"):
            raise StorletMagicError(
                f"parameter name {key!r} is not allowed: use a non-empty name without ':' or newlines")
        text = value if isinstance(value, str) else str(value)
        if any(c in text for c in "\r\n"):
            raise StorletMagicError(f"parameter {key!r}: values cannot contain newlines")
        checked[key] = text
    return checked


def parse_range(text: str | None) -> str | None:
    """``--range 0-99`` (or ``bytes=0-99``) -> ``bytes=0-99``."""
    if not text:
        return None
    match = _RANGE_RE.match(text.strip())
    if not match or not (match.group(1) or match.group(2)):
        raise StorletMagicError(f"--range takes FIRST-LAST bytes like 0-1023, got {text!r}")
    first, last = match.groups()
    if first and last and int(first) > int(last):
        raise StorletMagicError(f"--range {text!r}: the first byte is after the last")
    return f"bytes={first}-{last}"
