"""Secret redaction for anything that may reach a log, an error or a page."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from .connection import SwiftSettings

# Header and parameter names whose values are secrets.
SECRET_KEYS = ("x-auth-token", "x-storage-token", "x-auth-key", "x-storage-pass",
               "x-subject-token", "x-service-token", "password", "passwd", "token", "key",
               "secret", "st_key", "os_password", "os_auth_token", "authorization")
_PAIR = re.compile(
    r"(?i)(?P<k>\b(?:%s)\b[\"']?\s*[:=]\s*[\"']?)(?P<v>[^\s\"',;&]+)"
    % "|".join(re.escape(k) for k in SECRET_KEYS))
_TEMPAUTH_TOKEN = re.compile(r"\bAUTH_tk[0-9a-f]{16,}\b")
_KEYSTONE_TOKEN = re.compile(r"\bgAAAAA[0-9A-Za-z_\-]{40,}")
# A tempauth or keystone token anywhere in a text (for refusing one outright).
TOKEN_VALUE = re.compile(f"{_TEMPAUTH_TOKEN.pattern}|{_KEYSTONE_TOKEN.pattern}")


def redact(text: str, settings: SwiftSettings | None = None, *,
           secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the settings' key and token, the given ``secrets``, nor any
    secret-looking value (``key=...``, tempauth and keystone tokens), all as ``***``.

    Known values go first: a token obtained from auth matches no pattern when
    the server names it differently.
    """
    known = [settings.key, settings.token] if settings is not None else []
    for secret in (*known, *secrets):
        if secret:
            text = text.replace(secret, "***")
    text = _PAIR.sub(lambda m: m.group("k") + "***", text)
    text = _TEMPAUTH_TOKEN.sub("AUTH_tk***", text)
    return _KEYSTONE_TOKEN.sub("gAAAAA***", text)
