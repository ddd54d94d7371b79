"""Deploy storlets and their dependencies into Swift (the public API).

``deploy`` makes Swift match the source directory (idempotent: an object whose
MD5 and headers already match is skipped), ``check`` lists differences without
changing anything, ``upload_storlet`` puts one storlet (used by the magics),
``enable_account`` lets a reseller admin switch storlets on for an account.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib.util
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable, Sequence

import swiftclient

from swiftproto import protocol, run_headers

from .discover import find_storlets, storlet_classes
from .errors import DeployError
from .objects import (Containers, DesiredObject, body_for_upload, differences, md5_hex, plan,
                      storlet_headers, storlet_object, validate_storlet_name)
from .swift import head_container, head_object, storage_url, swift_errors

__all__ = ["DeployReport", "Containers", "deploy", "check", "upload_storlet", "enable_account",
           "warm_storlets", "default_source_dir", "Progress"]

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

Progress = Callable[[str], None]
ENABLED_HEADER = protocol.ACCOUNT_ENABLED
# The warm-up input is empty: a warm-up only starts each storlet's daemon, and an
# empty input cannot leak. Storlets' input writer (under eventlet, in the proxy and
# the object server) flushes its buffered bytes when it closes; if the storlet already
# closed its end without reading (nbdiff without a checkpoint does), that write fails
# with EPIPE, which eventlet retries forever: a thread spinning for the life of the
# server. Even 65 bytes (a tiny notebook, well within a pipe buffer) lost that race at
# every concurrent warm-up; with no bytes there is no write to fail.
WARM_INPUT = b""
WARM_PREFIX = ".storlets-deploy-warm-"
WARM_WORKERS = 4


@dataclasses.dataclass
class DeployReport:
    """What a deploy did (or, with ``dry_run``, would do). Names are object names."""

    uploaded: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    warmed: list[str] = dataclasses.field(default_factory=list)
    created_containers: list[str] = dataclasses.field(default_factory=list)
    account_enabled: bool = False
    dry_run: bool = False


def _quiet(_line: str) -> None:
    pass


def default_source_dir() -> Path:
    """The installed ``storlets_apps`` package directory (found without importing it)."""
    spec = importlib.util.find_spec("storlets_apps")
    if spec is None or not spec.submodule_search_locations:
        raise DeployError("package storlets_apps is not installed; pass a source directory")
    return Path(list(spec.submodule_search_locations)[0])


def _desired(source_dir: Path | None, containers: Containers) -> list[DesiredObject]:
    source = Path(source_dir) if source_dir is not None else default_source_dir()
    storlets = find_storlets(source)
    if not storlets:
        raise DeployError(f"no storlets found in {source} (a storlet is a *.py file, not "
                          "starting with '_', with a class defining __call__(self, in_files, "
                          "out_files, params))")
    return plan(storlets, source, containers)


def _is_enabled(conn: swiftclient.Connection) -> bool:
    with swift_errors(conn, "reading the account"):
        headers = conn.head_account()
    return headers.get(ENABLED_HEADER.lower(), "").strip().lower() in ("true", "yes", "1", "on")


def enable_account(admin_conn: swiftclient.Connection, storage_url: str) -> None:
    """Enable storlets on the account at ``storage_url`` (needs a reseller admin).

    Under keystone the project's operator may do it too: pass its connection.
    """
    with swift_errors(admin_conn, "enabling storlets on the account"):
        _url, token = admin_conn.get_auth()
        swiftclient.post_account(storage_url, token, {ENABLED_HEADER: "True"})
    log.info("Enabled storlets on %s", storage_url)


def _ensure_enabled(conn, admin_conn, report: DeployReport, progress: Progress) -> None:
    if _is_enabled(conn):
        return
    url = storage_url(conn)
    if admin_conn is None:
        raise DeployError(f"the account {url} is not enabled for storlets: give reseller-admin "
                          "credentials (STORLETS_ADMIN_USER and STORLETS_ADMIN_KEY, or "
                          "--admin-user and --admin-key-file) or ask the operator to enable it")
    if report.dry_run:
        progress(f"would enable storlets on {url}")
        return
    enable_account(admin_conn, url)
    report.account_enabled = True
    progress(f"enabled storlets on {url}")


def _ensure_containers(conn, containers: Containers, report: DeployReport,
                       progress: Progress) -> None:
    for name in containers.all():
        if head_container(conn, name) is not None:
            continue
        report.created_containers.append(name)
        if report.dry_run:
            progress(f"would create container {name}")
            continue
        with swift_errors(conn, f"creating container {name}"):
            conn.put_container(name)
        progress(f"created container {name}")


def _put(conn: swiftclient.Connection, obj: DesiredObject, actual) -> int:
    """Upload ``obj`` over ``actual`` (its HEAD headers or None); returns the size sent."""
    body = body_for_upload(obj, actual)
    with swift_errors(conn, f"uploading {obj.path}"):
        conn.put_object(obj.container, obj.name, contents=body, etag=md5_hex(body),
                        headers=obj.headers)
    return len(body)


def _sync(conn, objects: Iterable[DesiredObject], report: DeployReport,
          progress: Progress) -> None:
    for obj in objects:
        actual = head_object(conn, obj.container, obj.name)
        reasons = differences(obj, actual)
        if not reasons:
            report.skipped.append(obj.name)
            progress(f"skipped   {obj.path} (unchanged)")
            continue
        report.uploaded.append(obj.name)
        if report.dry_run:
            progress(f"would upload {obj.path} ({reasons[0]})")
            continue
        size = _put(conn, obj, actual)
        progress(f"uploaded  {obj.path} ({size} bytes; {reasons[0]})")


def deploy(conn: swiftclient.Connection, *, source_dir: Path | str | None = None,
           warm: bool = False, dry_run: bool = False, progress: Progress | None = None,
           containers: Containers = Containers(),
           admin_conn: swiftclient.Connection | None = None) -> DeployReport:
    """Make Swift hold the storlets of ``source_dir`` and their dependencies.

    Unchanged objects are skipped; ``dry_run`` changes nothing; ``warm`` invokes
    each storlet once so that users' first calls do not pay the daemon start.
    """
    progress = progress or _quiet
    objects = _desired(source_dir, containers)  # local problems surface before any request
    report = DeployReport(dry_run=dry_run)
    _ensure_enabled(conn, admin_conn, report, progress)
    _ensure_containers(conn, containers, report, progress)
    _sync(conn, objects, report, progress)
    if warm and not dry_run:
        storlets = [o.name for o in objects if o.container == containers.storlet]
        report.warmed = warm_storlets(conn, storlets, containers=containers, progress=progress)
    return report


def check(conn: swiftclient.Connection, source_dir: Path | str | None = None, *,
          containers: Containers = Containers()) -> list[str]:
    """Differences between Swift and ``source_dir`` (empty when in sync)."""
    objects = _desired(source_dir, containers)
    found = [] if _is_enabled(conn) else ["account: storlets are not enabled"]
    found += [f"container {name}: missing" for name in containers.all()
              if head_container(conn, name) is None]
    for obj in objects:
        found += [f"{obj.path}: {reason}"
                  for reason in differences(obj, head_object(conn, obj.container, obj.name))]
    return found


def _warm_one(conn, container: str, obj_name: str, storlet: str) -> float:
    started = time.monotonic()
    for on_proxy in (False, True):
        with swift_errors(conn, f"warming {storlet}"):
            conn.get_object(container, obj_name, headers=run_headers(storlet, on_proxy=on_proxy))
    return time.monotonic() - started


def warm_storlets(conn: swiftclient.Connection, storlets: Sequence[str], *,
                  containers: Containers = Containers(),
                  progress: Progress | None = None) -> list[str]:
    """Invoke each storlet once on the object server and once on the proxy.

    The input is a temporary, empty object in the log container, removed afterwards:
    no object is left in any user container, and no storlet, whether it reads its
    input or not, can leave the engine's input writer spinning (see ``WARM_INPUT``).
    """
    progress = progress or _quiet
    obj_name = f"{WARM_PREFIX}{uuid.uuid4().hex}.ipynb"
    with swift_errors(conn, "uploading the warm-up input"):
        conn.put_object(containers.log, obj_name, contents=WARM_INPUT,
                        content_type="application/x-ipynb+json")
    warmed, failed = [], []
    url = storage_url(conn)

    def warm(storlet: str) -> float:
        # One connection per thread (a Connection is not thread-safe), same token.
        own = swiftclient.Connection(preauthurl=url, preauthtoken=conn.token, retries=conn.retries,
                                     timeout=conn.timeout, insecure=conn.insecure)
        try:
            return _warm_one(own, containers.log, obj_name, storlet)
        finally:
            own.close()

    try:
        # Daemon starts overlap: each costs ~1 s of the engine's own sleep.
        with concurrent.futures.ThreadPoolExecutor(WARM_WORKERS) as pool:
            futures = {storlet: pool.submit(warm, storlet) for storlet in storlets}
            for storlet, future in futures.items():
                try:
                    seconds = future.result()
                except DeployError as exc:
                    failed.append(f"{storlet}: {exc}")
                    progress(f"warm failed {storlet}: {exc}")
                    continue
                warmed.append(storlet)
                progress(f"warmed    {storlet} ({seconds:.2f} s)")
    finally:
        with swift_errors(conn, "removing the warm-up input"):
            conn.delete_object(containers.log, obj_name)
    if failed:
        raise DeployError("warm-up failed for " + "; ".join(failed))
    return warmed


def _storlet_source(path_or_source: str | bytes | os.PathLike) -> bytes:
    # A str with a newline is source code (a storlet is never one line); else a path.
    if isinstance(path_or_source, bytes):
        return path_or_source
    if isinstance(path_or_source, str) and "\n" in path_or_source:
        return path_or_source.encode()
    path = Path(path_or_source)
    if not path.is_file():
        raise DeployError(f"storlet file {path} does not exist")
    return path.read_bytes()


def _dependency_etags(conn, container: str, names: Sequence[str]) -> dict[str, str]:
    etags = {}
    for name in names:
        headers = head_object(conn, container, name)
        if headers is None:
            raise DeployError(f"dependency {container}/{name} does not exist: upload it first")
        etags[name] = headers.get("etag", "").strip('"')
    return etags


def upload_storlet(conn: swiftclient.Connection, path_or_source: str | bytes | os.PathLike, *,
                   name: str, main_class: str, dependencies: Sequence[str] = (),
                   container: str = "storlet", dependency_container: str = "dependency") -> bool:
    """Upload one storlet; ``dependencies`` name objects already in the dependency container.

    ``path_or_source``: a path, the source as bytes, or the source as a str
    (a str containing a newline). Returns False if Swift already had it as is.
    """
    validate_storlet_name(name, main_class)
    data = _storlet_source(path_or_source)
    classes = storlet_classes(data, name)
    if main_class.split(".")[1] not in classes:
        raise DeployError(f"{name}: no class {main_class.split('.')[1]!r} with "
                          "__call__(self, in_files, out_files, params)"
                          + (f" (found: {', '.join(classes)})" if classes else ""))
    if len(set(dependencies)) != len(dependencies) or name in dependencies:
        raise DeployError(f"{name}: dependency names must be unique and differ from the storlet's")
    etags = _dependency_etags(conn, dependency_container, dependencies)
    obj = storlet_object(container, name, data, storlet_headers(main_class, etags))
    actual = head_object(conn, container, name)
    if not differences(obj, actual):
        return False
    _put(conn, obj, actual)
    return True

