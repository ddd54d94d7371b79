"""Build the bytes of storlet dependencies from their specs.

``package:NAME``  a zip of an installed pure-Python package or module, importable
                  from the zip root (the storlet puts the zip on ``sys.path``)
``file:PKG/REL``  a data file inside an installed package (e.g. a JSON schema)
``repo:REL``      a file of the storlets source directory (e.g. ``_nbcommon.py``)
``derived:NAME``  bytes computed here by a library the sandbox does not have, from
                  the list :data:`DERIVED` (e.g. nbformat's adjusted schema)

Bytes are deterministic (sorted entries, fixed timestamps and modes, no
``__pycache__``) so that an unchanged dependency keeps its MD5/ETag between runs
and machines with the same package version.
"""
from __future__ import annotations

import dataclasses
import importlib.machinery
import importlib.util
import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Callable

from .discover import parse_dependency_spec
from .errors import DeployError

__all__ = ["DERIVED", "Dependency", "build_dependency", "zip_package", "package_dirs"]

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o644
ZIP_UNIX = 3
COMPILED_SUFFIXES = frozenset(importlib.machinery.EXTENSION_SUFFIXES) | {".so", ".pyd", ".dylib", ".dll"}
SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})


@dataclasses.dataclass(frozen=True)
class Dependency:
    """A dependency ready to upload."""

    name: str
    spec: str
    data: bytes
    permissions: str | None = None  # octal string such as "0755", only for executables


def _find_spec(package: str):
    try:
        return importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None


def package_dirs(package: str) -> tuple[list[Path], Path | None]:
    """(package directories, single-module file) of an installed package."""
    spec = _find_spec(package)
    if spec is None:
        raise DeployError(f"package {package!r} is not installed here "
                          f"(pip install {package.split('.')[0]}) ")
    if spec.submodule_search_locations:
        return [Path(p) for p in spec.submodule_search_locations], None
    if spec.origin and spec.has_location:
        return [], Path(spec.origin)
    raise DeployError(f"package {package!r} has no files on disk (built-in or frozen)")


def _is_compiled(path: Path) -> bool:
    return any(path.name.endswith(sfx) for sfx in COMPILED_SUFFIXES)


def _package_files(package: str) -> list[tuple[str, Path]]:
    """(archive name, file) pairs for everything a package needs, sorted."""
    dirs, module = package_dirs(package)
    if module is not None:
        files = [(module.name, module)]
    else:
        prefix = package.replace(".", "/")
        files = []
        for root in dirs:
            for path in root.rglob("*"):
                rel = path.relative_to(root)
                if (not path.is_file() or SKIPPED_DIRS.intersection(rel.parts)
                        or path.suffix in SKIPPED_SUFFIXES):
                    continue
                files.append((f"{prefix}/{rel.as_posix()}", path))
    compiled = [arc for arc, path in files if _is_compiled(path)]
    if compiled:
        raise DeployError(f"package {package!r} contains compiled extensions "
                          f"({', '.join(sorted(compiled)[:3])}); a storlet can only use "
                          "pure-Python packages: pick a pure-Python alternative")
    return sorted(dict(files).items())


def zip_package(package: str) -> bytes:
    """A deterministic zip of ``package`` importable from the zip root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname, path in _package_files(package):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
            info.create_system = ZIP_UNIX
            info.external_attr = (stat.S_IFREG | ZIP_FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


def _inside(base: Path, rel: str, what: str) -> Path:
    """``base/rel`` resolved, refusing anything that escapes ``base``."""
    base = base.resolve()
    path = (base / rel).resolve()
    if path != base and base not in path.parents:
        raise DeployError(f"{what}: {rel!r} points outside {base}")
    if not path.is_file():
        raise DeployError(f"{what}: {path} does not exist or is not a file")
    return path


def _permissions(path: Path) -> str | None:
    # Only executables need a mode: the engine defaults dependencies to 0600.
    mode = path.stat().st_mode
    return "0755" if mode & stat.S_IXUSR else None


def _file_in_package(target: str, spec: str) -> Path:
    package, _, rel = target.partition("/")
    dirs, _module = package_dirs(package)
    if not dirs:
        raise DeployError(f"{spec}: {package!r} is a module, not a package with data files")
    for base in dirs:
        if (base / rel).is_file():
            return _inside(base, rel, spec)
    raise DeployError(f"{spec}: no file {rel!r} in package {package!r} ({dirs[0]})")


def nbformat_schemas() -> bytes:
    """Every schema nbformat validates with, chosen and adjusted by nbformat itself.

    ``{"nbformat": version, "latest_v4_minor": N, "schemas": {"3.0" | "4.0".."4.N" |
    "4.future": {"name": file, "schema": ...}}}``: for each version, the schema
    ``get_validator`` compiles; for "4.future" (a minor past nbformat's latest)
    the schema with nbformat's own adjustments (``additionalProperties``
    relaxed, unknown cell and output types allowed), never a re-creation.
    """
    try:
        import nbformat
        from nbformat import v3, v4, validator
    except ImportError:
        raise DeployError("derived:nbformat-schemas needs nbformat (pip install nbformat)") from None
    schemas = {}
    for module in (v3, v4):
        for (major, minor), name in module.nbformat_schema.items():
            if major is not None:
                schemas[f"{major}.{minor}"] = {
                    "name": name, "schema": validator.get_validator(major, minor)._schema}
    schemas["4.future"] = {"name": v4.nbformat_schema[(None, None)],
                           "schema": validator.get_validator(4, v4.nbformat_minor + 1)._schema}
    bundle = {"nbformat": nbformat.__version__, "latest_v4_minor": v4.nbformat_minor,
              "schemas": schemas}
    return json.dumps(bundle, sort_keys=True, separators=(",", ":")).encode("utf-8")


DERIVED: dict[str, Callable[[], bytes]] = {
    "nbformat-schemas": nbformat_schemas,
}


def _derived(target: str, spec: str) -> bytes:
    if target not in DERIVED:
        raise DeployError(f"{spec}: unknown derivation; known: {', '.join(sorted(DERIVED))}")
    return DERIVED[target]()


def build_dependency(name: str, spec: str, source_dir: Path) -> Dependency:
    """Build the dependency ``name`` described by ``spec``."""
    kind, target = parse_dependency_spec(spec)
    if kind == "package":
        return Dependency(name, spec, zip_package(target))
    if kind == "derived":
        return Dependency(name, spec, _derived(target, spec))
    path = _file_in_package(target, spec) if kind == "file" else _inside(Path(source_dir), target, spec)
    return Dependency(name, spec, path.read_bytes(), _permissions(path))
