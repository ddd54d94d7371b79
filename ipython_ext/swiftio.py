"""Swift calls of the magics: one function per request, errors translated once.

Connections, storlet headers and the description of a Swift error come from
``swiftproto`` (the project's one place for them); every
``swiftclient.ClientException`` (and auth or network failure) becomes a one-line
``StorletMagicError`` with status and transaction id, with secrets redacted, in
``swift_errors``.
"""
from __future__ import annotations

import contextlib
import logging
import mimetypes
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import requests
import swiftclient
from swiftclient.exceptions import ClientException

from deploy import api as deploy_api
from deploy.errors import DeployError
from swiftproto import protocol
from swiftproto import (SettingsError, SwiftSettings, connect, dependency_object_headers,
                        describe_client_error, redact, settings_from_env)

from .errors import StorletMagicError
from .parsing import SwiftPath
from .progress import ProgressReader, Reporter
from .render import error_headers
from .result import StorletResult

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

STORLET_CONTAINER = "storlet"
DEPENDENCY_CONTAINER = "dependency"
LOG_CONTAINER = "log"
CHUNK = 64 << 10
DEPENDENCY_HEADER = protocol.DEPENDENCY.lower()  # keys of a HEAD's (lower-cased) headers


class Session:
    """A Swift connection for the current environment, rebuilt when it changes."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = env
        self.settings: SwiftSettings | None = None
        self._conn: swiftclient.Connection | None = None

    def connection(self) -> swiftclient.Connection:
        with swift_errors("reading Swift credentials", self):
            settings = settings_from_env(self._env)
        if self._conn is None or settings != self.settings:
            self.close()
            self.settings = settings
            self._conn = connect(settings)
            log.debug("Connecting to Swift: %s", settings.describe())
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_TRANSLATED = (ClientException, SettingsError, DeployError, requests.RequestException, OSError)
_HINTS = {401: " - check your credentials (ST_*/OS_* variables) and access to the storlet",
          403: " - this account may lack the rights (or storlets are not enabled on it)",
          404: " - check the container/object names",
          503: " - the storlet failed or the engine is unavailable; try --log"}


@contextlib.contextmanager
def swift_errors(action: str, session: Session | None) -> Iterator[None]:
    """Turn client, auth and network errors into one-line ``StorletMagicError``.

    The session's settings are read when an error happens: the first request
    of a block may be the one that created them.
    """
    try:
        yield
    except _TRANSLATED as exc:
        raise translate(exc, action, session.settings if session else None) from None


def translate(exc: Exception, action: str, settings: SwiftSettings | None) -> StorletMagicError:
    """The one-line, secret-free error for a client, auth or network failure."""
    if isinstance(exc, ClientException):
        hint = _HINTS.get(exc.http_status or 0, "")
        message = redact(f"{action} failed: {describe_client_error(exc)}{hint}", settings)
        return StorletMagicError(message, status=exc.http_status,
                                 transaction_id=exc.transaction_id)
    if isinstance(exc, (SettingsError, DeployError)):
        return StorletMagicError(redact(f"{action} failed: {exc}", settings))
    if isinstance(exc, OSError) and exc.filename:  # a local file, not the network
        return StorletMagicError(f"{action} failed: {exc.strerror or exc}: {exc.filename}")
    where = settings.describe() if settings else "Swift"
    return StorletMagicError(
        redact(f"{action} failed: cannot reach {where}: {type(exc).__name__}", settings))


# -- headers ----------------------------------------------------------------

def upload_headers(container: str, name: str) -> dict[str, str]:
    """Headers for ``%%uploadfile``: dependency objects need a version to be accepted."""
    ctype = mimetypes.guess_type(name)[0] or "text/plain"
    headers = {"Content-Type": ctype + ("; charset=utf-8" if ctype.startswith("text/") else "")}
    if container == DEPENDENCY_CONTAINER:
        headers.update(dependency_object_headers())
    return headers


# -- calls ------------------------------------------------------------------

def upload_storlet(conn: swiftclient.Connection, source: str, *, name: str, main_class: str,
                   dependencies: Sequence[str] = (), container: str = STORLET_CONTAINER) -> bool:
    """PUT a Python storlet's source with the storlet headers (the deploy command's way).

    Returns False if Swift already had this exact storlet.
    """
    return deploy_api.upload_storlet(conn, source.encode("utf-8"), name=name,
                                     main_class=main_class, dependencies=tuple(dependencies),
                                     container=container)


def missing_storlet(storlet: str, container: str = STORLET_CONTAINER) -> str:
    """What to tell a user who names a storlet that is not deployed."""
    return (f"storlet {storlet} is not deployed (no object {storlet} in container "
            f"'{container}' of this account): %storlets lists the deployed storlets; "
            f"deploy one with %%storletapp or storlets-deploy")


def storlet_exists(conn: swiftclient.Connection, storlet: str,
                   container: str = STORLET_CONTAINER) -> bool:
    """Whether ``container`` holds the storlet object (a HEAD as the user).

    The storlets middleware answers 401 both for a storlet that is missing and
    for one the user may not run; this tells the two apart.
    """
    try:
        conn.head_object(container, storlet)
    except ClientException as exc:
        if exc.http_status == 404:
            return False
        raise
    return True


def ensure_container(conn: swiftclient.Connection, container: str) -> bool:
    """Create ``container`` if a HEAD says it is missing; True if it was created.

    Checked before an upload, not after a failed one: Swift refuses a PUT into a
    missing container before reading its body, which a large streamed upload
    may see as a broken connection rather than a 404. Only a 404 creates: a user
    who may write into a container is not always allowed to HEAD or PUT one,
    and the object PUT then reports what is wrong.
    """
    try:
        conn.head_container(container)
    except ClientException as exc:
        if exc.http_status != 404:
            return False
        log.debug("Creating container %s for an upload", container)
        conn.put_container(container)
        return True
    return False


def upload_text(conn: swiftclient.Connection, path: SwiftPath, text: str) -> dict[str, Any]:
    """PUT the text as an object (the caller ensures the container)."""
    response: dict[str, Any] = {}
    conn.put_object(path.container, path.obj, text.encode("utf-8"),
                    headers=upload_headers(path.container, path.obj), response_dict=response)
    return response


def invoke_get(conn: swiftclient.Connection, source: SwiftPath, headers: Mapping[str, str],
               storlet: str) -> StorletResult:
    response: dict[str, Any] = {}
    resp_headers, body = conn.get_object(source.container, source.obj, resp_chunk_size=CHUNK,
                                         headers=dict(headers), response_dict=response)
    return StorletResult(response["status"], resp_headers, body, action="GET",
                         storlet=storlet, target=str(source))


def put_file(conn: swiftclient.Connection, local: Path, dest: SwiftPath,
             headers: Mapping[str, str],
             progress: Callable[[int], Reporter | None] | None = None) -> dict[str, Any]:
    """PUT a local file, streamed, with a progress bar when it is large."""
    size = local.stat().st_size
    reporter = progress(size) if progress else None
    response: dict[str, Any] = {}
    with local.open("rb") as fileobj:
        contents = ProgressReader(fileobj, size, reporter) if reporter else fileobj
        conn.put_object(dest.container, dest.obj, contents, content_length=size,
                        headers=dict(headers), response_dict=response)
    return response


def upload_file(conn: swiftclient.Connection, dest: SwiftPath, local: Path,
                progress: Callable[[int], Reporter | None] | None = None) -> dict[str, Any]:
    return put_file(conn, local, dest, upload_headers(dest.container, dest.obj), progress)


def invoke_put(conn: swiftclient.Connection, local: Path, dest: SwiftPath,
               headers: Mapping[str, str], storlet: str,
               progress: Callable[[int], Reporter | None] | None = None) -> StorletResult:
    """PUT a local file through a storlet (the stored object is its output)."""
    response = put_file(conn, local, dest, headers, progress)
    return StorletResult(response["status"], response["headers"], action="PUT",
                         storlet=storlet, target=str(dest))


def invoke_copy(conn: swiftclient.Connection, source: SwiftPath, dest: SwiftPath,
                headers: Mapping[str, str], storlet: str) -> StorletResult:
    response: dict[str, Any] = {}
    conn.copy_object(source.container, source.obj, destination=str(dest),
                     headers=dict(headers), response_dict=response)
    return StorletResult(response["status"], response["headers"], action="COPY",
                         storlet=storlet, target=f"{source} -> {dest}")


def stored_error(conn: swiftclient.Connection, dest: SwiftPath) -> dict[str, str]:
    """The error metadata a storlet recorded on a PUT/COPY output object, if any."""
    return error_headers(conn.head_object(dest.container, dest.obj))


def log_names(storlet: str) -> tuple[str, ...]:
    """Object names a storlet's log may have in the log container.

    storlets 18.0.0 names it ``<storlet id>.log`` (``identity.py.log``); the
    module name (``identity.log``) is what its documentation describes.
    """
    module = storlet.rsplit(".", 1)[0]
    return (f"{storlet}.log", f"{module}.log")


def read_log(conn: swiftclient.Connection, storlet: str,
             container: str = LOG_CONTAINER) -> str | None:
    """The last stored log of ``storlet``, or None if there is none."""
    for name in log_names(storlet):
        try:
            _, body = conn.get_object(container, name)
        except ClientException as exc:
            if exc.http_status == 404:
                continue
            raise
        return body.decode("utf-8", errors="replace")
    return None


def list_storlets(conn: swiftclient.Connection, container: str = STORLET_CONTAINER) -> list[dict]:
    """One row per storlet object: name, main, language, size, last_modified, dependencies."""
    _, objects = conn.get_container(container, full_listing=True)
    rows = []
    for obj in objects:
        meta = conn.head_object(container, obj["name"])
        deps = meta.get(DEPENDENCY_HEADER, "")
        rows.append({
            "name": obj["name"],
            "main": meta.get("x-object-meta-storlet-main", ""),
            "language": meta.get("x-object-meta-storlet-language", ""),
            "size": obj.get("bytes"),
            "last_modified": obj.get("last_modified", "")[:19].replace("T", " "),
            "dependencies": [d for d in deps.split(",") if d],
        })
    return rows


def fetch_storlet(conn: swiftclient.Connection, storlet: str, directory: Path, *,
                  container: str = STORLET_CONTAINER,
                  dependency_container: str = DEPENDENCY_CONTAINER) -> tuple[str, str]:
    """Download a deployed storlet's dependencies into ``directory``.

    Returns its source and main class (``module.Class``, from its metadata);
    raises ``StorletMagicError`` when the storlet is not deployed.
    """
    try:
        headers, body = conn.get_object(container, storlet)
    except ClientException as exc:
        if exc.http_status == 404:
            raise StorletMagicError(missing_storlet(storlet, container)) from None
        raise
    fetch_dependencies(conn, headers.get(DEPENDENCY_HEADER, "").split(","), directory,
                       container=dependency_container)
    return body.decode("utf-8"), headers.get("x-object-meta-storlet-main", "")


def fetch_dependencies(conn: swiftclient.Connection, names: Sequence[str], directory: Path, *,
                       container: str = DEPENDENCY_CONTAINER) -> None:
    for name in filter(None, (n.strip() for n in names)):
        _, body = conn.get_object(container, name)
        (directory / Path(name).name).write_bytes(body)


def read_object(conn: swiftclient.Connection, path: SwiftPath) -> tuple[dict[str, str], bytes]:
    headers, body = conn.get_object(path.container, path.obj)
    return headers, body
