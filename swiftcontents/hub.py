"""JupyterHub on Swift: one single-user server per hub user, each with its own Swift identity.

In a ``jupyterhub_config.py``::

    from swiftcontents.hub import configure
    configure(c, "/etc/jupyterhub/swift-users.json")

Every server the hub spawns then runs ``SwiftContentsManager`` on the container
``nb-{username}`` (the hub username escaped, see ``escape_username``) with *that
user's own* Swift credentials, read from that file at each spawn and
handed to the server in its environment: never on its command line (``ps``
shows those), never in a log, never in a notebook.

Why per-user credentials, not one service account with per-user container ACLs:
a kernel runs the user's code with its server's environment, so whatever
credential the server holds, the user holds. A service account's key in every
server would give every user every container, ACLs or not. So each hub user
maps to a Swift identity of their own whose *account* holds their notebooks: a
tempauth user of their own account, or a keystone user with a project of their
own (in keystone an operator role such as ``member`` can do anything in its
project, so per-user projects, not per-user containers of one project, are what
isolates). The account is the boundary Swift enforces on every request,
storlets' extra resources are resolved inside the caller's account, and the
storlets engine runs one sandbox per account, so users share no sandbox either.

Admins: JupyterHub's ``admin`` role holds ``access:servers``, so a hub admin
opens any user's server and reads (and runs code on) that user's notebooks *as
that user*; give admins who must not a custom role without it (JupyterHub's
admin role cannot be narrowed). A Swift admin credential (tempauth's reseller
admin, keystone's ``ResellerAdmin`` or a project admin) reads accounts directly;
it belongs to no user's server, since any user would then hold it.

The OS identity matters as much: a server's environment holds its user's key,
so servers must run as distinct Unix users (JupyterHub's LocalProcessSpawner)
or in containers. SimpleLocalProcessSpawner runs every server as the hub's own
user, where any kernel can read every server's environment from ``/proc``: for
tests only.

Credentials file (JSON, mode 0600: refused when group or others may read it)::

    {"defaults": {"ST_AUTH": "http://127.0.0.1:8080/auth/v1.0"},
     "users": {"alice": {"ST_USER": "alice:alice", "ST_KEY": "..."}}}

or, with keystone v3::

    {"defaults": {"OS_AUTH_URL": "http://127.0.0.1:5000/v3",
                  "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"},
     "users": {"alice": {"OS_USERNAME": "alice", "OS_PASSWORD": "...",
                         "OS_PROJECT_NAME": "nb-alice"}}}

A record holds the variables of ``swiftproto.settings_from_env`` (``ST_*`` or
``OS_*``; see ``RECORD_VARIABLES``), each user's merged over ``defaults``, and
must be complete for v1 or v3. Pre-authenticated tokens are refused: they expire
while the server runs. A hub user without a record gets no server (403).

Errors are ``SwiftContentsError`` (the package's one error type); the spawn
hook hands them to JupyterHub as ``web.HTTPError`` with the same status and
message, which the hub answers and shows as the spawn's failure (any other
exception would be a bare 500). No message names a secret.
"""
from __future__ import annotations

import json
import os
import string
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from swiftproto import SettingsError, read_private_text, settings_from_env
from tornado import web

from .errors import SwiftContentsError


# The variables a credentials record may set (what settings_from_env reads for
# tempauth v1 and keystone v3). Not OS_STORAGE_URL/OS_AUTH_TOKEN: a token expires
# while the server runs, and swiftclient would not log in again.
RECORD_VARIABLES = frozenset({
    "ST_AUTH", "ST_USER", "ST_KEY", "ST_AUTH_VERSION",
    "OS_AUTH_URL", "OS_USERNAME", "OS_USER_ID", "OS_PASSWORD",
    "OS_PROJECT_NAME", "OS_PROJECT_ID", "OS_TENANT_NAME", "OS_TENANT_ID",
    "OS_USER_DOMAIN_NAME", "OS_USER_DOMAIN_ID", "OS_PROJECT_DOMAIN_NAME",
    "OS_PROJECT_DOMAIN_ID", "OS_REGION_NAME", "OS_IDENTITY_API_VERSION",
    "OS_AUTH_VERSION", "SWIFTCLIENT_INSECURE",
})
# Removed from every spawned server's environment before the user's own are set,
# whatever the hub's env_keep or environment say: the hub's own Swift settings
# (an admin's token, say) must never reach a user's kernel.
SWIFT_PREFIXES = ("ST_", "OS_", "SWIFT", "STORLETS_", "S2AIO_")

DEFAULT_TEMPLATE = "nb-{username}"
# A username's escape: [a-z0-9] kept, every other character (and '-', the escape
# character itself) as -XX per UTF-8 byte. Injective, and the result never holds
# '_', so no user's container can be another's aux container
# ('<container>_swiftcontents').
SAFE_CHARS = frozenset(string.ascii_lowercase + string.digits)
ESCAPE_CHAR = "-"
MAX_USERNAME_CHARS = 64
AUX_SUFFIX = "_swiftcontents"  # SwiftContentsManager's default aux container suffix
MAX_CONTAINER_BYTES = 256 - len(AUX_SUFFIX)  # Swift's limit, the aux container included

# The server arguments this module owns (replaced at every spawn, never stacked).
OWN_ARGS = ("--ServerApp.contents_manager_class=", "--SwiftContentsManager.container=",
            "--SwiftContentsManager.storlets=")
STORLETS_MODES = ("auto", "on", "off")


def _shown(name: str) -> str:
    """A username as it may appear in a message or a log line: escaped, bounded."""
    return ascii(name[:80]) + ("..." if len(name) > 80 else "")


def escape_username(name: str) -> str:
    """``name`` as one safe, injective container-name component.

    ``alice`` stays ``alice``; ``mary-jane`` becomes ``mary-2djane``; ``../x``
    becomes ``-2e-2e-2fx``. Empty names and names over ``MAX_USERNAME_CHARS``
    characters are refused.
    """
    if not isinstance(name, str) or not name:
        raise SwiftContentsError(400, "A hub username must be non-empty text")
    if len(name) > MAX_USERNAME_CHARS:
        raise SwiftContentsError(400, f"Hub username {_shown(name)} is longer than "
                                      f"{MAX_USERNAME_CHARS} characters")
    try:
        encoded = [(ch, ch.encode("utf-8")) for ch in name]
    except UnicodeEncodeError:
        raise SwiftContentsError(400, f"Hub username {_shown(name)} is not valid "
                                      "Unicode (a lone surrogate)") from None
    return "".join(ch if ch in SAFE_CHARS else
                   "".join(f"{ESCAPE_CHAR}{b:02x}" for b in raw) for ch, raw in encoded)


def check_template(template: str) -> str:
    """``template`` if it names ``{username}`` exactly once and nothing else."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise SwiftContentsError(500, f"Container template {template!r}: {exc}") from None
    if fields != ["username"]:
        raise SwiftContentsError(500, f"Container template {template!r} must hold "
                                      "'{username}' exactly once and no other field")
    fixed = template.replace("{username}", "")
    if "/" in fixed or any(ord(c) < 32 or ord(c) == 127 for c in fixed):
        raise SwiftContentsError(500, f"Container template {template!r} holds '/' or a "
                                      "control character")
    return template


def container_for(username: str, template: str = DEFAULT_TEMPLATE) -> str:
    """The container of hub user ``username``: ``template`` with its escaped name."""
    name = check_template(template).format(username=escape_username(username))
    if len(name.encode("utf-8")) > MAX_CONTAINER_BYTES:
        raise SwiftContentsError(400, f"The container of hub user {_shown(username)} would "
                                      f"pass {MAX_CONTAINER_BYTES} bytes; use a shorter "
                                      "template or username")
    return name


def is_swift_variable(name: str) -> bool:
    """Whether an environment variable could carry Swift auth settings."""
    return name.upper().startswith(SWIFT_PREFIXES)


# -- credentials ------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a key appears twice in one object")
    return dict(pairs)


def _record(where: str, value: object) -> dict[str, str]:
    """One object of variables, checked: known names, single-line text values."""
    if not isinstance(value, dict):
        raise SwiftContentsError(500, f"{where} must be an object of variables")
    for name, text in value.items():
        if name not in RECORD_VARIABLES:
            raise SwiftContentsError(500, f"{where}: {name!r} is not a Swift auth variable "
                                          f"(use {', '.join(sorted(RECORD_VARIABLES))})")
        if not isinstance(text, str) or any(ord(c) < 32 or ord(c) == 127 for c in text):
            # The value may be a secret: say which variable, never what it holds.
            raise SwiftContentsError(500, f"{where}: {name} must be one line of text")
    return dict(value)


def parse_credentials(text: str, source: str = "credentials") -> dict[str, Any]:
    """``{"defaults": {...}, "users": {name: {...}}}``, checked (see the module doc)."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        # json's messages quote no document text, only positions.
        raise SwiftContentsError(500, f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"defaults", "users"} or "users" not in data:
        raise SwiftContentsError(500, f"{source} must be an object with 'users' and an "
                                      "optional 'defaults'")
    users = data["users"]
    if not isinstance(users, dict):
        raise SwiftContentsError(500, f"{source}: 'users' must map hub usernames to records")
    return {"defaults": _record(f"{source}: defaults", data.get("defaults", {})),
            "users": {name: _record(f"{source}: user {_shown(name)}", record)
                      for name, record in users.items()}}


def user_environment(credentials: Mapping[str, Any], username: str,
                     source: str = "credentials") -> dict[str, str]:
    """The Swift variables of hub user ``username``: their record over the defaults."""
    record = credentials["users"].get(username)
    if record is None:
        raise SwiftContentsError(403, f"Hub user {_shown(username)} has no Swift "
                                      f"credentials: add a record to {source}")
    env = {**credentials["defaults"], **record}
    try:
        settings = settings_from_env(env)
    except SettingsError as exc:  # names what is missing, never a value
        raise SwiftContentsError(500, f"{source}: the record of {_shown(username)} is "
                                      f"incomplete: {exc}") from None
    if settings.mode not in ("v1", "v3"):
        raise SwiftContentsError(500, f"{source}: the record of {_shown(username)} must "
                                      "give a key or password (v1 or v3), not a token")
    return env


def load_credentials(path: str | os.PathLike) -> dict[str, Any]:
    """The credentials file, read now (each spawn sees the file as it is)."""
    try:
        text = read_private_text(path)
    except SettingsError as exc:
        raise SwiftContentsError(500, f"Swift credentials for the hub: {exc}") from None
    return parse_credentials(text, str(path))


# -- the spawn hook -----------------------------------------------------------------
def server_args(existing: list[str], container: str, storlets: str) -> list[str]:
    """The operator's server arguments, then this module's (replacing older ones)."""
    kept = [arg for arg in existing if not arg.startswith(OWN_ARGS)]
    return kept + [
        "--ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager",
        f"--SwiftContentsManager.container={container}",
        f"--SwiftContentsManager.storlets={storlets}",
    ]


def server_environment(existing: Mapping[str, Any], swift_env: Mapping[str, str]) -> dict[str, Any]:
    """The operator's ``Spawner.environment`` without any Swift variable, plus the user's."""
    return {**{k: v for k, v in existing.items() if not is_swift_variable(k)}, **swift_env}


class SwiftSpawnHook:
    """``Spawner.pre_spawn_hook``: the user's container, credentials and home.

    ``credentials``: a path (the JSON file above) or a callable ``username ->
    variables`` (e.g. one that asks keystone for the user's project). ``home_root``
    (for spawners with a ``home_dir`` trait, such as SimpleLocalProcessSpawner,
    whose default ``/tmp/{username}`` takes the raw name into a path): each
    user's working dir becomes ``home_root/<escaped name>``.
    """

    def __init__(self, credentials: str | os.PathLike | Callable[[str], Mapping[str, str]],
                 container_template: str = DEFAULT_TEMPLATE, storlets: str = "auto",
                 home_root: str | os.PathLike | None = None) -> None:
        if storlets not in STORLETS_MODES:
            raise SwiftContentsError(500, f"storlets must be one of {STORLETS_MODES}")
        self.credentials = credentials
        self.container_template = check_template(container_template)
        self.storlets = storlets
        self.home_root = Path(home_root) if home_root is not None else None

    def environment_for(self, username: str) -> dict[str, str]:
        if callable(self.credentials):
            source = "the credentials callable"
            try:
                record = dict(self.credentials(username))
            except SwiftContentsError:
                raise
            except Exception as exc:  # its message might hold a secret: the type only
                raise SwiftContentsError(500, f"{source} failed for {_shown(username)}: "
                                              f"{type(exc).__name__}") from None
            creds = {"defaults": {}, "users": {
                username: _record(f"{source}: user {_shown(username)}", record)}}
        else:
            source = str(self.credentials)
            creds = load_credentials(self.credentials)
        return user_environment(creds, username, source)

    def __call__(self, spawner: Any) -> None:
        username = spawner.user.name
        try:
            container = container_for(username, self.container_template)
            swift_env = self.environment_for(username)
        except SwiftContentsError as exc:
            raise web.HTTPError(exc.status, exc.message) from None
        spawner.env_keep = [k for k in spawner.env_keep if not is_swift_variable(k)]
        spawner.environment = server_environment(spawner.environment, swift_env)
        spawner.args = server_args(list(spawner.args), container, self.storlets)
        if self.home_root is not None and spawner.has_trait("home_dir"):
            home = self.home_root / escape_username(username)
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
            spawner.home_dir = str(home)
        settings = settings_from_env(swift_env)
        spawner.log.info("Swift for hub user %s: container %s, %s", _shown(username),
                         container, settings.describe())


def singleuser_command() -> list[str]:
    """``jupyterhub-singleuser`` beside this interpreter (the hub's venv), found
    without the hub's PATH (JupyterHub passes none to the server)."""
    return [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]


def configure(c: Any, credentials: str | os.PathLike | Callable[[str], Mapping[str, str]], *,
              container_template: str = DEFAULT_TEMPLATE, storlets: str = "auto",
              home_root: str | os.PathLike | None = None) -> SwiftSpawnHook:
    """Set ``c.Spawner`` so that every server runs on Swift as its own user.

    Sets ``pre_spawn_hook`` (replacing any other: call ``SwiftSpawnHook`` from
    your own hook to combine them) and, unless already set, ``cmd``.
    """
    hook = SwiftSpawnHook(credentials, container_template, storlets, home_root)
    c.Spawner.pre_spawn_hook = hook
    if "cmd" not in c.Spawner:
        c.Spawner.cmd = singleuser_command()
    return hook
