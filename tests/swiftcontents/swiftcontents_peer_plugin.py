"""pytest plugin: run jupyter_server's own contents tests against SwiftContentsManager.

Loaded with ``-p swiftcontents_peer_plugin`` inside an extracted jupyter_server
sdist (see ``peer.py``). Swift credentials come from the environment
(``ST_AUTH``/``ST_USER``/``ST_KEY``, as ``s2aio env`` prints them).

What it changes, and nothing else:
- the contents-manager fixtures of those test modules build a SwiftContentsManager
  on a fresh container per test (their FileContentsManager parameters collapse to
  one run: the same Swift manager, so the duplicates are deselected);
- the server tests start jupyter_server with ``contents_manager_class =
  swiftcontents.SwiftContentsManager``;
- the helpers that create test directories/files on local disk (``_make_dir``,
  the ``contents`` fixture) and check for them there (``_check_created``) do the
  same in Swift;
- ``contents_dir`` (and ``tmp_path`` where a test makes its directories in it) is a
  ``SwiftDir``: the pathlib calls those tests make on it (``/``, ``joinpath``,
  ``mkdir``, ``write_text``, ``is_file``) write and look in the test's container
  directly, past the manager's refusal of hidden names, as the tests write past
  it on disk; ``pathlib.Path(str(...))`` of one (test_api) is one again;
- where a test patches the hidden-name check (``is_hidden``), Swift's check
  (``swiftcontents.paths.is_hidden``) gets the same patch;
- tests that read or write the local disk directly, or assert FileContentsManager
  internals, are skipped with the reason written in ``SKIPS``.
"""
from __future__ import annotations

import pathlib
import uuid
from typing import Any
from unittest import mock

import pytest
from nbformat import writes
from nbformat.v4 import new_notebook

from swiftcontents import SwiftContentsManager
from swiftcontents import paths as swift_paths
from swiftcontents.operations import map_parallel
from swiftcontents.store import Store

STORLETS = "auto"
LOCAL_DISK = "reads or writes the local disk directly (FileContentsManager's root_dir)"
SKIPS: dict[str, str] = {
    # test_manager.py
    "test_manager.py::test_copy_big_dir": (
        "builds a 100 MB tree of 10,000 files with os/shutil on local disk; the size "
        "limit itself is covered in tests/swiftcontents"),
    "test_manager.py::test_regression_is_hidden": (
        "asserts that FileContentsManager calls jupyter_core.paths.is_hidden (patched "
        "to raise); Swift paths are judged by name, never by that function"),
    "test_manager.py::test_created_timestamp": LOCAL_DISK + " (os.utime on the file)",
    "test_manager.py::test_created_uses_birthtime_on_macos": LOCAL_DISK + " (os.lstat)",
    "test_manager.py::test_created_timestamp_fallback_to_epoch": LOCAL_DISK + " (os.lstat)",
    "test_manager.py::test_created_uses_ctime_on_windows": LOCAL_DISK + " (os.lstat)",
    "test_manager.py::test_base_model_invalid_timestamp_fallback": LOCAL_DISK + " (os.lstat)",
    "test_manager.py::test_get_created_timestamp_*": "unit tests of filemanager._get_created_timestamp",
    "test_manager.py::test_nb_validation": (
        "counts nbformat.validate calls on save; a save here is validated once, in Swift by "
        "the nbvalidate storlet (or its in-process fallback), not by nbformat.validate: "
        "tests/swiftcontents/test_manager_integration.py::test_one_validation_per_save "
        "checks the same contract"),
}
# Fixtures whose parameters are FileContentsManager variants: which one to keep.
KEEP_PARAM = {
    "jp_contents_manager": lambda p: p[0].__name__ == "AsyncFileContentsManager" and p[1],
    "jp_large_contents_manager": lambda p: p.__name__ == "AsyncLargeFileManager",
    "contents_manager": lambda p: p[1].__name__ == "AsyncFileCheckpoints",
    "jp_argv": lambda p: p == "AsyncFileContentsManager",
}
FILE_MANAGER_FIXTURES = ("jp_file_contents_manager_class", "file_manager_with_notary")
# Tests whose ``tmp_path`` is the contents root they make directories in.
SWIFT_TMP_PATH = ("test_largefilemanager.py::test_save_in_subdirectory",)
# Tests that patch the hidden-name check: Swift's gets the same patch.
HIDDEN_CHECK_PATCHED = ("test_api.py::test_regression_is_hidden",)
SCHEME = "swift-peer:"  # str() of a SwiftDir
DIRS_MODULE = "tests.conftest"

_state: dict[str, Any] = {"container": None, "containers": []}


def _store(container: str | None = None) -> Store:
    store = Store(None, container or _state["container"])
    store.ensure_containers()
    return store


def _manager(**kw: Any) -> SwiftContentsManager:
    return SwiftContentsManager(container=_state["container"], storlets=STORLETS, **kw)


class SwiftDir:
    """A path in the test's container with the pathlib calls the tests make on their
    contents root: objects and directory markers written directly (never through
    the manager, so hidden names are written as the tests write them to disk)."""

    def __init__(self, rel: str = "") -> None:
        self.rel = rel.strip("/")

    def __truediv__(self, other: Any) -> "SwiftDir":
        return self.joinpath(other)

    def joinpath(self, *parts: Any) -> "SwiftDir":
        return SwiftDir("/".join(p for p in (self.rel, *map(str, parts)) if p.strip("/")))

    def __str__(self) -> str:
        return SCHEME + self.rel

    def __repr__(self) -> str:
        return f"SwiftDir({self.rel!r})"

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        parts = self.rel.split("/")
        store = _store()
        for i in range(1 if parents else len(parts), len(parts) + 1):
            store.make_dir("/".join(parts[:i]))

    def write_bytes(self, data: bytes) -> int:
        _store().write(self.rel, data, None)
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))

    def is_file(self) -> bool:
        return _store().head(self.rel) is not None

    def is_dir(self) -> bool:
        return _store().dir_exists(self.rel) and _store().head(self.rel) is None


class _PathlibInSwift:
    """``pathlib`` for a test module: ``Path(str(a SwiftDir))`` is that SwiftDir."""

    def __getattr__(self, name: str) -> Any:
        return getattr(pathlib, name)

    @staticmethod
    def Path(*parts: Any) -> Any:  # noqa: N802 (pathlib's name)
        first = str(parts[0]) if parts else ""
        if first.startswith(SCHEME):
            return SwiftDir(first[len(SCHEME):]).joinpath(*parts[1:])
        return pathlib.Path(*parts)


# -- replacements (same argument names as the fixtures they replace) ---------------
def _jp_contents_manager(request: Any, tmp_path: Any) -> SwiftContentsManager:
    return _manager()


def _contents_manager(request: Any, contents: Any) -> SwiftContentsManager:
    return _manager()


def _jp_argv(request: Any) -> list[str]:
    return ["--ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager",
            f"--SwiftContentsManager.container={_state['container']}",
            f"--SwiftContentsManager.storlets={STORLETS}"]


def _contents(contents_dir: Any) -> dict[str, Any]:
    """The sdist's ``contents`` fixture, written to Swift instead of contents_dir."""
    import importlib

    dirs = importlib.import_module(DIRS_MODULE).dirs
    store = _store()
    paths: dict[str, Any] = {"notebooks": [], "textfiles": [], "blobs": [],
                             "contents_dir": contents_dir}
    writes_: list[tuple[str, bytes, str]] = []
    for d, name in dirs:
        prefix = f"{d}/" if d else ""
        writes_ += [(f"{prefix}{name}.ipynb", writes(new_notebook(), version=4).encode(), "notebooks"),
                    (f"{prefix}{name}.txt", f"{name} text file".encode(), "textfiles"),
                    (f"{prefix}{name}.blob", name.encode() + b"\xff", "blobs")]
    for d in {d for d, _ in dirs if d}:
        parts = d.split("/")
        for i in range(1, len(parts) + 1):
            store.make_dir("/".join(parts[:i]))
    map_parallel(lambda w: store.write(w[0], w[1], None), writes_)
    from pathlib import PurePosixPath
    for path, _, kind in writes_:
        paths[kind].append(PurePosixPath(path))
    paths["all"] = list(paths.values())
    return paths


def _contents_dir(tmp_path: Any, jp_serverapp: Any) -> SwiftDir:
    return SwiftDir()


def _tmp_path(request: Any, tmp_path_factory: Any) -> Any:
    """A SwiftDir for the tests in ``SWIFT_TMP_PATH``; pytest's own elsewhere."""
    if any(_matches(key, request.node) for key in SWIFT_TMP_PATH):
        yield SwiftDir()
        return
    yield from _ORIGINAL["tmp_path"](request, tmp_path_factory)


def _check_created(jp_base_url: str) -> Any:
    import json

    import tornado

    def inner(r: Any, contents_dir: str, path: str, name: str, type: str = "notebook") -> None:
        fpath = path + "/" + name
        assert r.code == 201
        location = jp_base_url + "api/contents/" + tornado.escape.url_escape(fpath, plus=False)
        assert r.headers["Location"] == location
        model = json.loads(r.body.decode())
        assert model["name"] == name
        assert model["path"] == fpath
        assert model["type"] == type
        store = _store()
        api_path = fpath.strip("/")
        if type == "directory":
            assert store.dir_exists(api_path)
        else:
            assert store.head(api_path) is not None

    return inner


def _make_dir(cm: SwiftContentsManager, api_path: str) -> None:
    """test_manager's ``_make_dir`` (os.makedirs), as directory markers in Swift."""
    parts = api_path.strip("/").split("/")
    store = cm.store
    store.ensure_containers()
    for i in range(1, len(parts) + 1):
        store.make_dir("/".join(parts[:i]))


REPLACE = {
    "jp_contents_manager": _jp_contents_manager,
    "jp_large_contents_manager": _jp_contents_manager,
    "contents_manager": _contents_manager,
    "jp_argv": _jp_argv,
    "contents": _contents,
    "_check_created": _check_created,
    "contents_dir": _contents_dir,
    "tmp_path": _tmp_path,
}
_ORIGINAL: dict[str, Any] = {}  # fixture functions replaced, by name


def _matches(key: str, item: Any) -> bool:
    """'file.py::name' names one test function; a trailing '*' a name prefix."""
    name = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
    return name.startswith(key[:-1]) if key.endswith("*") else name == key


# -- hooks ------------------------------------------------------------------------
def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    keep, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(name in params and not rule(params[name]) for name, rule in KEEP_PARAM.items()):
            dropped.append(item)
            continue
        reason = next((r for key, r in SKIPS.items() if _matches(key, item)), None)
        if reason is None and any(f in item.fixturenames for f in FILE_MANAGER_FIXTURES):
            reason = ("tests FileContentsManager itself (root_dir, os paths, symlinks, "
                      "permissions, notary files on local disk)")
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> None:
    replacement = REPLACE.get(fixturedef.argname)
    module = str(getattr(fixturedef.func, "__module__", ""))
    if replacement is not None and "jupyter_server" not in module and fixturedef.func is not replacement:
        _ORIGINAL.setdefault(fixturedef.argname, fixturedef.func)
        fixturedef.func = replacement


@pytest.fixture(autouse=True)
def _swift_container(request: Any, monkeypatch: Any) -> None:
    """A fresh container per test; local-disk helpers of the module redirected."""
    _state["container"] = f"peer-{uuid.uuid4().hex[:12]}"
    _state["containers"].append(_state["container"])
    if hasattr(request.module, "_make_dir"):
        monkeypatch.setattr(request.module, "_make_dir", _make_dir)
    if hasattr(request.module, "pathlib"):
        monkeypatch.setattr(request.module, "pathlib", _PathlibInSwift())
    if any(_matches(key, request.node) for key in HIDDEN_CHECK_PATCHED):
        monkeypatch.setattr(swift_paths, "is_hidden", mock.Mock(
            side_effect=AssertionError("Should not call is_hidden if not important")))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    stats = terminalreporter.stats
    counts = {k: len(stats.get(k, [])) for k in ("passed", "failed", "error", "skipped", "deselected")}
    terminalreporter.write_line("SWIFTCONTENTS PEER SUITE: " + " ".join(f"{k}={v}" for k, v in counts.items()))
    reasons: dict[str, int] = {}
    for rep in stats.get("skipped", []):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, n in sorted(reasons.items()):
        terminalreporter.write_line(f"  skipped x{n}: {reason}")
