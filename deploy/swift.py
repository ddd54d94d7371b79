"""The deploy package's Swift calls and its one error-translation point.

Every python-swiftclient failure leaves this module as a ``DeployError`` with one
clear line: connection refused, 401, 403, 404 account, or the status and the
server's own message with the transaction id (``swiftproto.describe``). Keys
and tokens are redacted from all of them.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator, Mapping

import swiftclient
from requests.exceptions import RequestException, Timeout

from swiftproto import describe_client_error, redact

from .errors import DeployError

__all__ = ["swift_errors", "head_object", "storage_url", "describe_target"]

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())


def _preauth(conn: swiftclient.Connection) -> tuple[str | None, str | None]:
    """(storage URL, token) given up front; swiftclient keeps them in os_options."""
    options = conn.os_options or {}
    return options.get("object_storage_url"), options.get("auth_token")


def _redact_all(text: str, conn: swiftclient.Connection) -> str:
    # The current token and the one given up front may differ: hide both.
    return redact(text, secrets=(conn.key, conn.token, _preauth(conn)[1]))


def _url(conn: swiftclient.Connection) -> str | None:
    return conn.url or _preauth(conn)[0] or conn.authurl


def describe_target(conn: swiftclient.Connection) -> str:
    """Who we talk to, without secrets: the auth URL and user, or the storage URL."""
    if not conn.authurl:
        return f"the token for {_preauth(conn)[0] or conn.url}"
    return f"{conn.user} at {conn.authurl}"


def _client_message(exc: swiftclient.ClientException, conn: swiftclient.Connection,
                    action: str) -> str:
    status = exc.http_status
    where = exc.http_path or ""
    if status == 401:
        return (f"authentication failed (401) as {describe_target(conn)}: "
                "check the user and key, or the token")
    if status == 403:
        return (f"forbidden (403) while {action} ({where}): these credentials may not do "
                "this; use an account admin (a reseller admin to enable storlets)")
    if exc.msg and exc.msg.startswith("Auth") and status != 401:
        return f"authentication request to {conn.authurl} failed ({status}): check the auth URL"
    if status in (404, 410) and where.rstrip("/").count("/") <= 2:
        return (f"account not found ({status}) at {_url(conn)}: check the storage URL "
                "or project")
    if status is None:
        return f"Swift request failed while {action}: {exc.msg}"
    return f"Swift answered {describe_client_error(exc)} while {action} ({where})"


def _network_message(exc: Exception, conn: swiftclient.Connection, action: str) -> str:
    url = _url(conn)
    if isinstance(exc, Timeout):
        reason = "timed out"
    elif "refused" in str(exc).lower():
        reason = "connection refused"
    else:
        reason = f"connection failed ({type(exc).__name__})"
    return (f"cannot reach Swift at {url} while {action}: {reason}; is Swift running? "
            "(with s2aio: s2aio start)")


@contextlib.contextmanager
def swift_errors(conn: swiftclient.Connection, action: str) -> Iterator[None]:
    """Turn swiftclient/network failures into one-line ``DeployError``s."""
    try:
        yield
    except swiftclient.ClientException as exc:
        log.debug("Swift error while %s: status %s", action, exc.http_status)
        raise DeployError(_redact_all(_client_message(exc, conn, action), conn)) from None
    except (RequestException, OSError) as exc:
        log.debug("network error while %s: %s", action, type(exc).__name__)
        raise DeployError(_redact_all(_network_message(exc, conn, action), conn)) from None


def head_object(conn: swiftclient.Connection, container: str, name: str) -> Mapping[str, str] | None:
    """The object's headers, or None if it (or its container) does not exist."""
    with swift_errors(conn, f"reading {container}/{name}"):
        try:
            return conn.head_object(container, name)
        except swiftclient.ClientException as exc:
            if exc.http_status == 404:
                return None
            raise


def head_container(conn: swiftclient.Connection, container: str) -> Mapping[str, str] | None:
    with swift_errors(conn, f"reading container {container}"):
        try:
            return conn.head_container(container)
        except swiftclient.ClientException as exc:
            if exc.http_status == 404:
                return None
            raise


def storage_url(conn: swiftclient.Connection) -> str:
    """The account's storage URL (authenticating if needed)."""
    if conn.url:
        return conn.url
    with swift_errors(conn, "authenticating"):
        url, _token = conn.get_auth()
    return url
