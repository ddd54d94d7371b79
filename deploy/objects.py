"""What the deployed objects should look like: bodies and headers (pure).

Header names and rules follow storlets' registration checks for Python
storlets (``validate_storlet_registration`` / ``validate_dependency_registration``).
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Iterable, Mapping

from swiftproto import protocol
from swiftproto import (UnsafeNameError, check_engine_name, dependency_object_headers,
                        storlet_object_headers)

from .dependencies import Dependency, build_dependency
from .discover import StorletSpec
from .errors import DeployError

__all__ = ["Containers", "DesiredObject", "storlet_headers", "dependency_headers",
           "dependency_digest", "plan", "differences", "validate_storlet_name",
           "storlet_object", "body_for_upload"]

STORLET_META = protocol.STORLET_META.lower()  # keys of a HEAD's (lower-cased) headers
# Our own (non-engine) header: a digest of the storlet's dependencies. The engine
# reloads a storlet only when the storlet object changes, so a changed dependency
# must change the storlet object too (a new PUT, hence a new timestamp).
DIGEST_HEADER = "x-object-meta-deploy-dependency-digest"
DEPENDENCY_VERSION_LENGTH = 12
PYTHON_PAD = b"\n"


@dataclasses.dataclass(frozen=True)
class Containers:
    """Container names (the engine's defaults unless the cluster configures others)."""

    storlet: str = "storlet"
    dependency: str = "dependency"
    log: str = "log"

    def all(self) -> tuple[str, str, str]:
        return (self.storlet, self.dependency, self.log)


@dataclasses.dataclass(frozen=True)
class DesiredObject:
    """One object to have in Swift: where, what bytes, which headers."""

    container: str
    name: str
    data: bytes = dataclasses.field(repr=False)
    headers: dict[str, str]
    # Bytes that may be appended without changing meaning (a newline after Python
    # source). See ``body_for_upload``: the engine only notices a changed storlet
    # whose size changed.
    reload_pad: bytes = b""

    @property
    def md5(self) -> str:
        return md5_hex(self.data)

    @property
    def path(self) -> str:
        return f"{self.container}/{self.name}"

    @property
    def accepted_md5s(self) -> frozenset[str]:
        """ETags that mean "this content is deployed" (with or without the pad)."""
        md5s = {self.md5}
        if self.reload_pad:
            md5s.add(md5_hex(self.data + self.reload_pad))
        return frozenset(md5s)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def validate_storlet_name(name: str, main_class: str) -> None:
    """The engine's rules for a Python storlet object name and main class."""
    try:
        check_engine_name(name, "storlet object name")
    except UnsafeNameError as exc:
        raise DeployError(str(exc)) from None
    if not name.endswith(".py"):
        raise DeployError(f"storlet object name {name!r} must be a file name ending in .py")
    parts = main_class.split(".")
    if len(parts) != 2 or parts[0] != name[:-3] or not all(p.isidentifier() for p in parts):
        raise DeployError(f"main class {main_class!r} must be '{name[:-3]}.ClassName' "
                          f"for storlet {name!r} (the engine supports no submodules)")


def dependency_digest(etags: Mapping[str, str]) -> str:
    """A digest of dependency names and their MD5s (order-independent)."""
    text = "".join(f"{name}:{etags[name]}\n" for name in sorted(etags))
    return md5_hex(text.encode())


def storlet_headers(main_class: str, dependencies: Mapping[str, str]) -> dict[str, str]:
    """Headers of a Python storlet object; ``dependencies`` maps name -> MD5."""
    headers = storlet_object_headers(main_class, dependencies)
    if dependencies:
        headers["X-Object-Meta-Deploy-Dependency-Digest"] = dependency_digest(dependencies)
    return headers


def storlet_object(container: str, name: str, source: bytes,
                   headers: dict[str, str]) -> DesiredObject:
    return DesiredObject(container, name, source, headers, reload_pad=PYTHON_PAD)


def dependency_headers(dep: Dependency) -> dict[str, str]:
    return dependency_object_headers(md5_hex(dep.data)[:DEPENDENCY_VERSION_LENGTH],
                                     dep.permissions)


def _collect_dependencies(storlets: Iterable[StorletSpec]) -> dict[str, str]:
    """name -> spec over all storlets; one name must mean one thing."""
    wanted: dict[str, tuple[str, str]] = {}
    for storlet in storlets:
        for name, spec in storlet.dependencies.items():
            seen = wanted.setdefault(name, (spec, storlet.name))
            if seen[0] != spec:
                raise DeployError(f"dependency {name!r} is {seen[0]!r} in {seen[1]} but "
                                  f"{spec!r} in {storlet.name}: use different names")
    storlet_names = {s.name for s in storlets}
    clash = storlet_names.intersection(wanted)
    if clash:
        raise DeployError(f"dependency names {sorted(clash)} are also storlet names")
    return {name: spec for name, (spec, _) in sorted(wanted.items())}


def plan(storlets: list[StorletSpec], source_dir: Path,
         containers: Containers = Containers()) -> list[DesiredObject]:
    """Dependencies first (a storlet never names a missing one), then storlets."""
    deps = {name: build_dependency(name, spec, source_dir)
            for name, spec in _collect_dependencies(storlets).items()}
    objects = [DesiredObject(containers.dependency, d.name, d.data, dependency_headers(d))
               for d in deps.values()]
    for storlet in storlets:
        validate_storlet_name(storlet.name, storlet.main_class)
        etags = {name: md5_hex(deps[name].data) for name in storlet.dependencies}
        objects.append(storlet_object(containers.storlet, storlet.name, storlet.path.read_bytes(),
                                      storlet_headers(storlet.main_class, etags)))
    return objects


def _managed(key: str) -> bool:
    return key.startswith(STORLET_META) or key == DIGEST_HEADER


def differences(desired: DesiredObject, actual: Mapping[str, str] | None) -> list[str]:
    """Why the object in Swift (its HEAD headers, or None if missing) differs."""
    if actual is None:
        return ["missing"]
    actual = {k.lower(): v for k, v in actual.items()}
    reasons = []
    if actual.get("etag", "").strip('"') not in desired.accepted_md5s:
        reasons.append("content differs")
    want = {k.lower(): v for k, v in desired.headers.items()}
    for key in sorted(set(want) | {k for k in actual if _managed(k)}):
        if want.get(key) != actual.get(key):
            reasons.append(f"{key} is {actual.get(key)!r}, want {want.get(key)!r}")
    return reasons


def body_for_upload(desired: DesiredObject, actual: Mapping[str, str] | None) -> bytes:
    """The bytes to PUT, padded when the size would not change.

    storlets 18 refreshes a node's copy of a storlet only when the new object's
    size differs (its mtime test is the wrong way round), so a same-size edit
    would keep running the old code. One pad byte changes the size.
    """
    if actual is None or not desired.reload_pad:
        return desired.data
    try:
        old_size = int({k.lower(): v for k, v in actual.items()}.get("content-length", -1))
    except ValueError:
        return desired.data
    return desired.data + desired.reload_pad if old_size == len(desired.data) else desired.data
