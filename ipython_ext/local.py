"""``--local``: run a storlet in-process with the project's storlet harness.

The storlet source (a cell, or a deployed storlet fetched from Swift) is
written beside its dependencies, as the engine does, and run by
``swiftproto.harness.run_storlet`` with the engine's file rules (bytes,
metadata before body, set once). Nothing is deployed. The harness uses storlets'
own file classes (the ``storlets`` package, without a Swift server).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Mapping, Sequence

from .errors import StorletMagicError
from .parsing import parse_module_class
from .result import StorletLog, StorletResult

LOCAL_TIMEOUT_S = 60.0


def apply_range(data: bytes, byte_range: str | None) -> bytes:
    """What ``X-Storlet-Range: bytes=F-L`` hands the storlet."""
    if not byte_range:
        return data
    first, _, last = byte_range[len("bytes="):].partition("-")
    if not first:  # suffix range: the last N bytes
        return data[-int(last):] if int(last) else b""
    end = int(last) + 1 if last else len(data)
    return data[int(first):end]


def load_class(path: Path, main_class: str) -> type:
    """Import the storlet module at ``path`` (its folder on ``sys.path``) and return the class."""
    module_name, class_name = parse_module_class(main_class or "")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StorletMagicError(f"cannot load {path.name} as a Python module")
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get(module_name)
    sys.modules[module_name] = module  # dataclasses & co. look themselves up here
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise StorletMagicError(
            f"{path.name} does not import: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent))
        if saved is None:
            sys.modules.pop(module_name, None)
        else:
            sys.modules[module_name] = saved
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise StorletMagicError(f"{path.name} has no class {class_name}: check module.Class")
    return cls


def run(source: str, main_class: str, data: bytes, *, params: Mapping[str, str],
        metadata: Mapping[str, str], extra: Sequence[tuple[bytes, Mapping[str, str]]],
        dependencies_dir: Path, storlet: str, target: str) -> StorletResult:
    """Run ``main_class`` from ``source`` on ``data``; the result looks like a GET's."""
    from swiftproto.harness import HarnessError, run_storlet

    module, _ = parse_module_class(main_class or "")
    path = dependencies_dir / f"{module}.py"
    path.write_text(source, encoding="utf-8")
    cls = load_class(path, main_class)
    try:
        outcome = run_storlet(cls, data, params=dict(params), metadata=dict(metadata),
                              extra=list(extra), dependencies_dir=dependencies_dir,
                              timeout=LOCAL_TIMEOUT_S)
    except HarnessError as exc:
        raise StorletMagicError(f"local run of {storlet} failed: {exc}") from None
    headers = {("content-type" if k.lower() == "content-type" else f"x-object-meta-{k.lower()}"): v
               for k, v in outcome.metadata.items()}
    return StorletResult(200, headers, outcome.body, action="LOCAL", storlet=storlet,
                         target=target, log=StorletLog.of(outcome.log, storlet))
