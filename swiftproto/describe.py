"""One safe line for a failed Swift request: status, reason, detail, transaction id.

Every package's error translation starts from ``describe_client_error`` and adds
what the user was doing and what to do next; the text is redacted here, so no
key or token reaches a message even when Swift echoes one back.
"""
from __future__ import annotations

from swiftclient.exceptions import ClientException

from .connection import SwiftSettings
from .redact import redact

DETAIL_CHARS = 200


def _detail(exc: ClientException) -> str:
    body = exc.http_response_content or b""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    body = " ".join(body.split())
    if body.startswith("<html>") or body == (exc.http_reason or ""):
        return ""  # Swift's generic HTML error pages add nothing to the reason
    return body[:DETAIL_CHARS]


def describe_client_error(exc: ClientException, settings: SwiftSettings | None = None) -> str:
    """``404 Not Found: <body excerpt> (transaction tx...)``, without secrets."""
    status = exc.http_status
    text = f"{status} {exc.http_reason or ''}".strip() if status else str(exc.msg)
    detail = _detail(exc)
    if detail:
        text += f": {detail}"
    text += f" (transaction {exc.transaction_id or 'unknown'})"
    return redact(text, settings)
