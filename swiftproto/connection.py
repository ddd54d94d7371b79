"""Swift connection settings shared by every part of the project.

One place reads auth from the environment (or explicit values) and builds a
python-swiftclient ``Connection``: tempauth v1 (``ST_AUTH``/``ST_USER``/
``ST_KEY``), keystone v3 (``OS_AUTH_URL``, ``OS_USERNAME``, ``OS_PASSWORD``,
``OS_PROJECT_NAME``/``OS_PROJECT_ID``, domains) or a pre-authenticated
storage URL + token (``OS_STORAGE_URL`` + ``OS_AUTH_TOKEN``).

Secrets never appear in ``repr`` or in error messages, and never come from a
command line (``ps`` and shell history show those): from the environment or from
a private file (``read_secret_file``).
"""
from __future__ import annotations

import dataclasses
import os
import stat
from typing import Mapping

import swiftclient

from .errors import SettingsError

__all__ = ["SwiftSettings", "SettingsError", "settings_from_env", "connect", "validate",
           "read_private_text", "read_secret_file", "secret_variable", "SECRET_VARIABLES"]

# Environment variables whose values are secrets (redacted, never echoed).
SECRET_VARIABLES = ("ST_KEY", "OS_PASSWORD", "OS_AUTH_TOKEN", "ST_AUTH_TOKEN",
                    "STORLETS_ADMIN_KEY")


@dataclasses.dataclass(frozen=True)
class SwiftSettings:
    """How to reach and authenticate to Swift. ``mode`` is v1, v3 or token."""

    mode: str
    auth_url: str | None = None
    user: str | None = None
    key: str | None = dataclasses.field(default=None, repr=False)
    storage_url: str | None = None
    token: str | None = dataclasses.field(default=None, repr=False)
    project_name: str | None = None
    project_id: str | None = None
    user_domain_name: str | None = None
    user_domain_id: str | None = None
    project_domain_name: str | None = None
    project_domain_id: str | None = None
    region_name: str | None = None
    insecure: bool = False

    def describe(self) -> str:
        """A one-line description safe for logs (no secrets)."""
        if self.mode == "token":
            return f"pre-authenticated storage URL {self.storage_url}"
        who = self.user or "?"
        if self.mode == "v3" and (self.project_name or self.project_id):
            who += f" (project {self.project_name or self.project_id})"
        return f"auth {self.mode} {self.auth_url} as {who}"

    def os_options(self) -> dict[str, str]:
        opts = {
            "project_name": self.project_name,
            "project_id": self.project_id,
            "user_domain_name": self.user_domain_name,
            "user_domain_id": self.user_domain_id,
            "project_domain_name": self.project_domain_name,
            "project_domain_id": self.project_domain_id,
            "region_name": self.region_name,
        }
        if self.mode == "token":
            opts["object_storage_url"] = self.storage_url
            opts["auth_token"] = self.token
        return {k: v for k, v in opts.items() if v}


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def settings_from_env(env: Mapping[str, str] | None = None) -> SwiftSettings:
    """Read Swift auth settings from ``env`` (default: ``os.environ``).

    Priority: a storage URL + token, then tempauth v1 (``ST_AUTH``), then
    keystone (``OS_AUTH_URL``).
    """
    env = os.environ if env is None else env
    insecure = (_first(env, "SWIFTCLIENT_INSECURE") or "").lower() in ("1", "true", "yes")
    storage_url = _first(env, "OS_STORAGE_URL", "ST_STORAGE_URL")
    token = _first(env, "OS_AUTH_TOKEN", "ST_AUTH_TOKEN")
    if storage_url and token:
        return SwiftSettings(mode="token", storage_url=storage_url, token=token, insecure=insecure)
    if env.get("ST_AUTH"):
        return validate(SwiftSettings(
            mode="v1", auth_url=env["ST_AUTH"], user=env.get("ST_USER"),
            key=env.get("ST_KEY"), insecure=insecure))
    if env.get("OS_AUTH_URL"):
        version = _first(env, "OS_IDENTITY_API_VERSION", "OS_AUTH_VERSION", "ST_AUTH_VERSION") or "3"
        return validate(SwiftSettings(
            mode="v1" if version.startswith("1") else "v3",
            auth_url=env["OS_AUTH_URL"],
            user=_first(env, "OS_USERNAME", "OS_USER_ID"),
            key=env.get("OS_PASSWORD"),
            project_name=_first(env, "OS_PROJECT_NAME", "OS_TENANT_NAME"),
            project_id=_first(env, "OS_PROJECT_ID", "OS_TENANT_ID"),
            user_domain_name=env.get("OS_USER_DOMAIN_NAME"),
            user_domain_id=env.get("OS_USER_DOMAIN_ID"),
            project_domain_name=env.get("OS_PROJECT_DOMAIN_NAME"),
            project_domain_id=env.get("OS_PROJECT_DOMAIN_ID"),
            region_name=env.get("OS_REGION_NAME"),
            insecure=insecure))
    raise SettingsError(
        "No Swift credentials found: set ST_AUTH/ST_USER/ST_KEY (tempauth), "
        "OS_AUTH_URL/OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME (keystone v3), or "
        "OS_STORAGE_URL + OS_AUTH_TOKEN; with s2aio run: eval \"$(s2aio env)\"")


def secret_variable(env: Mapping[str, str]) -> str | None:
    """The variable that holds (or should hold) the secret of the auth ``env`` selects.

    Follows ``settings_from_env``'s priority; None when ``env`` names no endpoint.
    """
    has_url = _first(env, "OS_STORAGE_URL", "ST_STORAGE_URL")
    if has_url and _first(env, "OS_AUTH_TOKEN", "ST_AUTH_TOKEN"):
        return "OS_AUTH_TOKEN" if env.get("OS_AUTH_TOKEN") else "ST_AUTH_TOKEN"
    if env.get("ST_AUTH"):
        return "ST_KEY"
    if env.get("OS_AUTH_URL"):
        return "OS_PASSWORD"
    return "OS_AUTH_TOKEN" if has_url else None


def read_private_text(path: str | os.PathLike) -> str:
    """The text of a file holding secrets; refused if group or others may read it."""
    try:
        with open(path, encoding="utf-8") as f:
            mode = os.fstat(f.fileno()).st_mode
            if mode & (stat.S_IRGRP | stat.S_IROTH):
                raise SettingsError(
                    f"{path} holds a secret but group or others may read it "
                    f"(mode {stat.S_IMODE(mode):04o}): run `chmod 600 {path}`")
            return f.read()
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not UTF-8 text") from None


def read_secret_file(path: str | os.PathLike, what: str = "secret") -> str:
    """The first line of a private file: a key, password or token kept off command lines."""
    first = read_private_text(path).split("\n", 1)[0].rstrip("\r")
    if not first:
        raise SettingsError(f"{path}: the first line must hold the {what}, and it is empty")
    return first


def validate(settings: SwiftSettings) -> SwiftSettings:
    """Check that the settings are complete for their mode."""
    missing: list[str] = []
    if settings.mode == "token":
        if not settings.storage_url:
            missing.append("storage URL")
        if not settings.token:
            missing.append("token")
    elif settings.mode in ("v1", "v3"):
        if not settings.auth_url:
            missing.append("auth URL")
        if not settings.user:
            missing.append("user")
        if not settings.key:
            missing.append("key/password")
        if settings.mode == "v3" and not (settings.project_name or settings.project_id):
            missing.append("project name or id")
    else:
        raise SettingsError(f"unknown auth mode {settings.mode!r} (use v1, v3 or token)")
    if missing:
        raise SettingsError(f"Swift auth {settings.mode} is missing: {', '.join(missing)}")
    return settings


# swiftclient's message when keystone refuses the credentials; it drops the status.
KEYSTONE_REFUSAL = "Unauthorized."


class _Connection(swiftclient.Connection):
    """swiftclient's Connection, with keystone's refusal raised as the 401 it is
    (as tempauth's), so that every caller's 401 handling covers both."""

    def get_auth(self):
        try:
            return super().get_auth()
        except swiftclient.ClientException as exc:
            if exc.http_status is None and str(exc.msg).startswith(KEYSTONE_REFUSAL):
                raise swiftclient.ClientException(exc.msg, http_status=401,
                                                  http_reason="Unauthorized") from None
            raise


def connect(settings: SwiftSettings | None = None, *, retries: int = 3,
            timeout: float | None = None) -> swiftclient.Connection:
    """A swiftclient ``Connection`` (with retries) for ``settings``."""
    settings = settings_from_env() if settings is None else validate(settings)
    common = dict(retries=retries, timeout=timeout, insecure=settings.insecure,
                  starting_backoff=0.2, max_backoff=2)
    if settings.mode == "token":
        return _Connection(
            preauthurl=settings.storage_url, preauthtoken=settings.token,
            os_options=settings.os_options(), **common)
    return _Connection(
        authurl=settings.auth_url, user=settings.user, key=settings.key,
        auth_version="1" if settings.mode == "v1" else "3",
        os_options=settings.os_options(), **common)

