"""keystone v3 for ``s2aio start --auth keystone``: its virtualenv, config, identities.

keystone comes from PyPI into a virtualenv of its own (its pins never touch the
project's), made on first use under ``~/.cache/s2aio`` (``$S2AIO_KEYSTONE_VENV``
elsewhere) and shared by every data dir. Each data dir has its own keystone:
sqlite, fernet tokens, served by gunicorn on 127.0.0.1 (``keystone_run.py``,
which runs in that virtualenv).

Identities are those storlets' devstack plugin creates (``devstack/plugin.sh``):
project ``test`` with ``tester`` (role ``admin``, the project's operator) and
``tester_member`` (role ``anotherrole``: no operator), plus what Swift needs:
project ``service`` with user ``swift`` (role ``service``, which may validate
tokens), an ``object-store`` endpoint, and ``ResellerAdmin`` for keystone's
``admin`` (as tempauth's reseller admin). s2aio adds project ``test2`` with
``tester2`` (a second account, as with tempauth).
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .errors import S2AIOError

REQUIREMENTS = ("keystone==30.0.0", "gunicorn>=23")
VENV_ENV = "S2AIO_KEYSTONE_VENV"
READY_STAMP = ".s2aio-ready"  # written last: a venv without it is rebuilt
INSTALL_TIMEOUT_S = 900
SETUP_TIMEOUT_S = 120
REGION = "RegionOne"
DOMAIN_ID = "default"
DOMAIN_NAME = "Default"
ADMIN_USER = ADMIN_PROJECT = "admin"  # made by keystone-manage bootstrap
SERVICE_PROJECT = "service"
SERVICE_USER = "swift"
SERVICE_ROLE = "service"  # keystone's policy lets it validate others' tokens
RESELLER_ROLE = "ResellerAdmin"
OPERATOR_ROLES = ("admin", "member")
WORKERS = 1
RUNNER = Path(__file__).resolve().parent / "keystone_run.py"


@dataclasses.dataclass(frozen=True)
class Identity:
    """A keystone user with one role on one project (default domain)."""

    project: str
    user: str
    password: str
    role: str


# s2aio's user names (as with tempauth) -> keystone identities. The passwords are
# devstack's and tempauth's well-known test ones; admin's and swift's are random
# per data dir.
IDENTITIES = {
    "test": Identity("test", "tester", "testing", "admin"),
    "tester3": Identity("test", "tester_member", "member", "anotherrole"),
    "test2": Identity("test2", "tester2", "testing2", "admin"),
}
# Read ACLs devstack sets so that the member may run the project's storlets.
MEMBER_READ_CONTAINERS = ("storlet", "dependency")


def member_acl() -> str:
    member = IDENTITIES["tester3"]
    return f"{member.project}:{member.user}"


# -- the virtualenv ----------------------------------------------------------
def default_venv() -> Path:
    env = os.environ.get(VENV_ENV)
    if env:
        return Path(env)
    version = REQUIREMENTS[0].partition("==")[2] or "latest"
    return Path(os.path.expanduser("~")) / ".cache" / "s2aio" / f"keystone-{version}"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def venv_ready(venv: Path) -> bool:
    try:
        return (venv / READY_STAMP).read_text() == "\n".join(REQUIREMENTS)
    except OSError:
        return False


def ensure_venv(venv: Path | None = None) -> Path:
    """keystone's virtualenv, made (venv + pip, ~25 s) if it is not complete yet.

    A lock beside it makes a second s2aio wait for the first one's install
    instead of installing into the same directory."""
    venv = venv or default_venv()
    if venv_ready(venv):
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not venv_ready(venv):
            _install(venv)
    return venv


def _install(venv: Path) -> None:
    if venv.exists() and any(venv.iterdir()):
        if not (venv / "pyvenv.cfg").exists():  # never delete what is not a virtualenv
            raise S2AIOError(f"{venv} is not empty and is not a virtualenv: choose another "
                             f"path for keystone's virtualenv (${VENV_ENV})")
        shutil.rmtree(venv)  # a half-made one
    log = venv.parent / f"{venv.name}-install.log"
    steps = ([sys.executable, "-m", "venv", str(venv)],
             [str(venv_python(venv)), "-m", "pip", "install", "-q",
              "--disable-pip-version-check", *REQUIREMENTS])
    with open(log, "wb") as out:
        for argv in steps:
            try:
                done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, timeout=INSTALL_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise S2AIOError(f"installing keystone into {venv} took over "
                                 f"{INSTALL_TIMEOUT_S} s; see {log}") from None
            if done.returncode != 0:
                raise S2AIOError(f"installing keystone into {venv} failed "
                                 f"({' '.join(argv[-3:])}): {tail(log)} (full log: {log})")
    (venv / READY_STAMP).write_text("\n".join(REQUIREMENTS))


def tail(path: Path, lines: int = 4) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    kept = [line for line in text.splitlines()
            if line.strip() and not line.startswith("WARNING: Location")]
    return " | ".join(kept[-lines:]) or "(no output)"


# -- configuration (pure) ----------------------------------------------------
def keystone_conf(conf_dir: Path, database: Path) -> str:
    """keystone.conf: sqlite, fernet tokens, an in-process cache (without it every
    call ran ~220 SQL queries, 250-500 ms), cheap password hashes (token issue
    ~12 ms instead of ~240 ms: test passwords, loopback only)."""
    return f"""[DEFAULT]
debug = false
use_stderr = true

[database]
connection = sqlite:///{database}

[token]
provider = fernet

[fernet_tokens]
key_repository = {conf_dir / "fernet-keys"}

[fernet_receipts]
key_repository = {conf_dir / "fernet-receipts"}

[credential]
key_repository = {conf_dir / "credential-keys"}

[cache]
enabled = true
backend = dogpile.cache.memory

[identity]
password_hash_rounds = 4
# bcrypt reads 72 bytes; a longer limit logs a warning on every login
max_password_length = 72
"""


def identity_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v3"


def object_store_url(proxy_url: str) -> str:
    """The catalog's object-store endpoint; swiftclient finds the storage URL there."""
    return f"{proxy_url}/v1/AUTH_%(project_id)s"


def setup_argv(venv: Path, public_url: str) -> list[str]:
    return [str(venv_python(venv)), "-I", str(RUNNER), "setup", public_url, REGION]


def serve_argv(venv: Path, port: int) -> list[str]:
    return [str(venv_python(venv)), "-I", str(RUNNER), "serve", str(port), str(WORKERS)]


def process_env(base: dict[str, str], conf_dir: Path) -> dict[str, str]:
    """keystone's environment: none of the caller's OS_* (oslo.config reads
    ``OS_<GROUP>__<OPTION>``; a user's OS_PASSWORD has no business there)."""
    env = {k: v for k, v in base.items() if not k.startswith("OS_")}
    env.pop("PYTHONPATH", None)
    env["OS_KEYSTONE_CONFIG_DIR"] = str(conf_dir)
    return env


def run_setup(venv: Path, conf_dir: Path, public_url: str, admin_password: str,
              log_file: Path, base_env: dict[str, str]) -> None:
    """keystone-manage's bring-up; the admin password in the environment, never argv."""
    env = dict(process_env(base_env, conf_dir), OS_BOOTSTRAP_PASSWORD=admin_password)
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "ab") as out:
        try:
            done = subprocess.run(setup_argv(venv, public_url), stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=env, timeout=SETUP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise S2AIOError(f"keystone's setup took over {SETUP_TIMEOUT_S} s; "
                             f"see {log_file}") from None
    if done.returncode != 0:
        raise S2AIOError(f"keystone's setup (db_sync, fernet keys, bootstrap) failed: "
                         f"{tail(log_file)}")


# -- the identity API --------------------------------------------------------
def _call(url: str, method: str, body: dict | None = None, token: str | None = None,
          ok: tuple[int, ...] = (200, 201, 204)) -> tuple[dict[str, str], Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, answer, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, answer, raw = exc.code, dict(exc.headers), exc.read()
    except OSError as exc:
        raise S2AIOError(f"keystone at {url.split('/v3')[0]} is unreachable: {exc}") from None
    if status not in ok:
        # keystone's error bodies never hold the password or token sent
        raise S2AIOError(f"keystone answered HTTP {status} to {method} "
                         f"{urllib.parse.urlsplit(url).path}: {raw[:200]!r}")
    return answer, json.loads(raw) if raw else None


def issue_token(base: str, user: str, password: str, project: str) -> str:
    """A project-scoped token for a default-domain user."""
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": DOMAIN_ID}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": DOMAIN_ID}}}}}
    headers, _ = _call(f"{base}/auth/tokens", "POST", body)
    token = headers.get("X-Subject-Token")
    if not token:
        raise S2AIOError(f"keystone gave {user} no token")
    return token


class IdentityAdmin:
    """Get-or-create over keystone's v3 API, as keystone's admin."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def _find(self, kind: str, **filters: str) -> dict | None:
        query = urllib.parse.urlencode(filters)
        _, body = _call(f"{self.base}/{kind}?{query}", "GET", token=self.token)
        found = body[kind]
        return found[0] if found else None

    def _ensure(self, kind: str, one: str, fields: dict[str, str],
                lookup: dict[str, str]) -> str:
        found = self._find(kind, **lookup)
        if found is not None:
            return found["id"]
        _, body = _call(f"{self.base}/{kind}", "POST", {one: fields}, self.token)
        return body[one]["id"]

    def project(self, name: str) -> str:
        return self._ensure("projects", "project", {"name": name, "domain_id": DOMAIN_ID},
                            {"name": name, "domain_id": DOMAIN_ID})

    def user(self, name: str, password: str) -> str:
        """Created once with ``password`` (a password change would revoke the user's
        tokens, the admin's own among them)."""
        return self._ensure("users", "user", {"name": name, "domain_id": DOMAIN_ID,
                                              "password": password},
                            {"name": name, "domain_id": DOMAIN_ID})

    def role(self, name: str) -> str:
        return self._ensure("roles", "role", {"name": name}, {"name": name})

    def grant(self, project_id: str, user_id: str, role_id: str) -> None:
        _call(f"{self.base}/projects/{project_id}/users/{user_id}/roles/{role_id}",
              "PUT", token=self.token)

    def endpoint(self, service_type: str, name: str, url: str) -> None:
        """One public endpoint of ``service_type`` in REGION, at ``url`` (updated when
        the proxy's port changed)."""
        service_id = self._ensure("services", "service", {"type": service_type, "name": name},
                                  {"type": service_type})
        found = self._find("endpoints", service_id=service_id, interface="public")
        if found is None:
            _call(f"{self.base}/endpoints", "POST", {"endpoint": {
                "service_id": service_id, "interface": "public", "url": url,
                "region_id": REGION}}, self.token)
        elif found["url"] != url:
            _call(f"{self.base}/endpoints/{found['id']}", "PATCH",
                  {"endpoint": {"url": url}}, self.token)


def ensure_identities(base: str, admin_password: str, service_password: str,
                      proxy_url: str) -> dict[str, str]:
    """Projects, users, roles and the object-store endpoint; project name -> id."""
    admin = IdentityAdmin(base, issue_token(base, ADMIN_USER, admin_password, ADMIN_PROJECT))
    projects = {ADMIN_PROJECT: admin.project(ADMIN_PROJECT)}
    grants = [(SERVICE_PROJECT, SERVICE_USER, service_password, SERVICE_ROLE),
              (ADMIN_PROJECT, ADMIN_USER, admin_password, RESELLER_ROLE)]
    grants += [(i.project, i.user, i.password, i.role) for i in IDENTITIES.values()]
    for project, user, password, role in grants:
        if project not in projects:
            projects[project] = admin.project(project)
        admin.grant(projects[project], admin.user(user, password), admin.role(role))
    admin.endpoint("object-store", "swift", object_store_url(proxy_url))
    return projects


def update_endpoint(base: str, admin_password: str, proxy_url: str) -> None:
    admin = IdentityAdmin(base, issue_token(base, ADMIN_USER, admin_password, ADMIN_PROJECT))
    admin.endpoint("object-store", "swift", object_store_url(proxy_url))

