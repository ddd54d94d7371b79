"""``storlets-deploy``: the command line over ``deploy.api``.

Exit codes: 0 ok (``--check``: in sync), 1 failure (``--check``: differences),
2 usage. Progress lines go to stderr, results (summary, differences) to stdout.
Never prompts; keys and tokens never appear in the output, and never on its
command line (``ps`` and shell history show it): they come from the environment
or from a private file (``--key-file``, ``--token-file``, ``--admin-key-file``).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from swiftproto import redact
from swiftproto.connection import (SECRET_VARIABLES, SettingsError, SwiftSettings, connect,
                                   read_secret_file, settings_from_env, validate)

from . import api
from .errors import DeployError
from .objects import Containers

__all__ = ["main", "build_parser", "settings_from_args", "admin_settings_from_args"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
TOKEN_VARS = ("OS_STORAGE_URL", "ST_STORAGE_URL", "OS_AUTH_TOKEN", "ST_AUTH_TOKEN")
V1_VARS = {"auth_url": "ST_AUTH", "user": "ST_USER", "key": "ST_KEY"}
V3_VARS = {"auth_url": "OS_AUTH_URL", "user": "OS_USERNAME", "key": "OS_PASSWORD",
           "project_name": "OS_PROJECT_NAME", "project_id": "OS_PROJECT_ID",
           "user_domain_name": "OS_USER_DOMAIN_NAME",
           "project_domain_name": "OS_PROJECT_DOMAIN_NAME", "region_name": "OS_REGION_NAME"}
ADMIN_ENV = {"admin_user": "STORLETS_ADMIN_USER", "admin_key": "STORLETS_ADMIN_KEY",
             "admin_auth_url": "STORLETS_ADMIN_AUTH_URL",
             "admin_project_name": "STORLETS_ADMIN_PROJECT_NAME"}
# Flags that used to take a secret -> where the secret comes from now.
REFUSED_FLAGS = {"--key": "ST_KEY or OS_PASSWORD, or use --key-file FILE",
                 "--token": "OS_AUTH_TOKEN, or use --token-file FILE",
                 "--admin-key": "STORLETS_ADMIN_KEY, or use --admin-key-file FILE"}

EPILOG = """\
auth (flags override the environment; secrets never go on the command line):
  tempauth v1   ST_AUTH, ST_USER, ST_KEY (or --key-file)
  keystone v3   OS_AUTH_URL, OS_USERNAME, OS_PASSWORD (or --key-file), OS_PROJECT_NAME,
                OS_*_DOMAIN_NAME
  token         OS_STORAGE_URL + OS_AUTH_TOKEN (or --token-file)
  reseller admin (only to enable storlets on the account)
                STORLETS_ADMIN_USER, STORLETS_ADMIN_KEY (or --admin-key-file)
                [, STORLETS_ADMIN_AUTH_URL]
  a *-file holds the secret on its first line and must not be readable by group or
  others (chmod 600 FILE)
with s2aio:     eval "$(s2aio env)"; storlets-deploy --warm
exit codes: 0 ok / in sync, 1 failure / differences found (--check), 2 usage
"""


class _Refused(argparse.Action):
    """An old flag that took a secret: a usage error that never echoes the value."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        raise argparse.ArgumentError(
            self, "takes no secret on the command line (ps and shell history show it): "
                  f"set {REFUSED_FLAGS[self.option_strings[0]]}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="storlets-deploy", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Upload the storlets of a directory and their dependencies to Swift "
                    "(unchanged objects are skipped).")
    p.add_argument("--source", type=Path, metavar="DIR",
                   help="storlets source directory (default: the installed storlets_apps)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="compare Swift with the source and exit 1 on any difference")
    mode.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    p.add_argument("--warm", action="store_true",
                   help="invoke each storlet once after deploying (hides the daemon start)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="per-request timeout (default 60)")

    c = p.add_argument_group("containers (must match the cluster's storlets configuration)")
    c.add_argument("--storlet-container", default=Containers.storlet, metavar="NAME")
    c.add_argument("--dependency-container", default=Containers.dependency, metavar="NAME")
    c.add_argument("--log-container", default=Containers.log, metavar="NAME")

    a = p.add_argument_group("auth")
    a.add_argument("--auth-url", help="auth endpoint (ST_AUTH or OS_AUTH_URL)")
    a.add_argument("--auth-version", choices=("1", "3"),
                   help="1 = tempauth, 3 = keystone (default: from the environment)")
    a.add_argument("--user")
    a.add_argument("--key-file", type=Path, metavar="FILE",
                   help="read the password or key from FILE's first line (else ST_KEY or "
                        "OS_PASSWORD)")
    a.add_argument("--project-name")
    a.add_argument("--project-id")
    a.add_argument("--user-domain-name")
    a.add_argument("--project-domain-name")
    a.add_argument("--region-name")
    a.add_argument("--storage-url",
                   help="pre-authenticated storage URL (with --token-file or OS_AUTH_TOKEN)")
    a.add_argument("--token-file", type=Path, metavar="FILE",
                   help="read the pre-authenticated token from FILE's first line "
                        "(else OS_AUTH_TOKEN)")

    r = p.add_argument_group("enabling storlets on the account")
    r.add_argument("--admin-user", help="reseller admin user (or STORLETS_ADMIN_USER)")
    r.add_argument("--admin-key-file", type=Path, metavar="FILE",
                   help="read the reseller admin key from FILE's first line "
                        "(else STORLETS_ADMIN_KEY)")
    r.add_argument("--admin-auth-url", help="admin auth endpoint (default: --auth-url)")
    r.add_argument("--admin-project-name", help="keystone project of the admin (default: admin)")
    r.add_argument("--enable-account", action="store_true",
                   help="enable the account with the deploying credentials (keystone operator)")
    for flag in REFUSED_FLAGS:
        p.add_argument(flag, nargs="?", action=_Refused, help=argparse.SUPPRESS)
    return p


def _auth_flags(args: argparse.Namespace, names: Mapping[str, str]) -> dict[str, str]:
    given = {field: getattr(args, field, None) for field in names}
    if args.key_file:
        given["key"] = read_secret_file(args.key_file, "password or key")
    return {var: given[field] for field, var in names.items() if given[field]}


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> SwiftSettings:
    """Auth settings from the flags (and secret files) laid over ``env`` (flags win)."""
    merged = dict(env)
    if args.storage_url or args.token_file:
        token = read_secret_file(args.token_file, "token") if args.token_file else None
        merged.update({"OS_STORAGE_URL": args.storage_url or merged.get("OS_STORAGE_URL", ""),
                       "OS_AUTH_TOKEN": token or merged.get("OS_AUTH_TOKEN", "")})
        if not (merged["OS_STORAGE_URL"] and merged["OS_AUTH_TOKEN"]):
            raise SettingsError("a storage URL (--storage-url or OS_STORAGE_URL) needs a token "
                                "(--token-file FILE or OS_AUTH_TOKEN), and the other way round")
        return settings_from_env(merged)
    version = args.auth_version or ("1" if env.get("ST_AUTH") or not env.get("OS_AUTH_URL") else "3")
    names = V1_VARS if version == "1" else V3_VARS
    flags = _auth_flags(args, V3_VARS)  # any auth flag, whatever the version
    if flags:
        for var in TOKEN_VARS:  # explicit credentials beat an exported token
            merged.pop(var, None)
    if version == "3":
        merged.pop("ST_AUTH", None)
        merged["OS_IDENTITY_API_VERSION"] = "3"
    elif not merged.get("ST_AUTH") and args.auth_url is None and merged.get("OS_AUTH_URL"):
        merged["OS_IDENTITY_API_VERSION"] = "1"
    merged.update(_auth_flags(args, names))
    return settings_from_env(merged)


def admin_settings_from_args(args: argparse.Namespace, env: Mapping[str, str],
                             user: SwiftSettings) -> SwiftSettings | None:
    """Reseller-admin settings, or None when no admin credentials are given."""
    given = {field: getattr(args, field, None) or env.get(var) for field, var in ADMIN_ENV.items()}
    if args.admin_key_file:
        given["admin_key"] = read_secret_file(args.admin_key_file, "reseller admin key")
    if not (given["admin_user"] or given["admin_key"]):
        return None
    auth_url = given["admin_auth_url"] or user.auth_url
    if not auth_url:
        raise SettingsError("with a storage URL + token, give the admin's auth URL "
                            "(--admin-auth-url or STORLETS_ADMIN_AUTH_URL)")
    mode = user.mode if user.mode != "token" else ("v3" if args.auth_version == "3" else "v1")
    v3 = mode == "v3"
    return validate(SwiftSettings(
        mode=mode, auth_url=auth_url, user=given["admin_user"], key=given["admin_key"],
        project_name=(given["admin_project_name"] or "admin") if v3 else None,
        user_domain_name=user.user_domain_name or ("Default" if v3 else None),
        project_domain_name=user.project_domain_name or ("Default" if v3 else None),
        region_name=user.region_name, insecure=user.insecure))


class _RedactFilter(logging.Filter):
    """Last line of defence: no secret reaches stderr through logging."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), secrets=self.secrets), None
        return True


def _setup_logging(verbose: bool, secrets: Sequence[str], stream: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.addFilter(_RedactFilter(secrets))
    handler.setFormatter(logging.Formatter("storlets-deploy: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    # swiftclient logs failed requests itself (our error line says it once, clearly),
    # and its request logs show the first characters of tokens: keep it quiet.
    logging.getLogger("swiftclient").setLevel(logging.CRITICAL)
    return handler


def _scrub(text: str, secrets: Sequence[str]) -> str:
    return redact(text, secrets=secrets)


def _print_report(report: api.DeployReport, out: TextIO) -> None:
    verb = "would upload" if report.dry_run else "uploaded"
    line = f"{verb} {len(report.uploaded)}, skipped {len(report.skipped)}"
    if report.warmed:
        line += f", warmed {len(report.warmed)}"
    print(line, file=out)


def _run(args: argparse.Namespace, env: Mapping[str, str], secrets: list[str],
         out: TextIO, err: TextIO) -> int:
    settings = settings_from_args(args, env)
    admin = admin_settings_from_args(args, env, settings)
    secrets += [settings.key or "", settings.token or "", (admin.key if admin else "") or ""]
    containers = Containers(args.storlet_container, args.dependency_container, args.log_container)
    progress = None if args.quiet else (lambda line: print(line, file=err, flush=True))
    conn = connect(settings, timeout=args.timeout)
    admin_conn = connect(admin, timeout=args.timeout) if admin else (conn if args.enable_account else None)
    try:
        if args.check:
            found = api.check(conn, args.source, containers=containers)
            for line in found:
                print(line, file=out)
            print(f"{len(found)} difference(s)" if found else "in sync", file=out)
            return EXIT_FAILURE if found else EXIT_OK
        report = api.deploy(conn, source_dir=args.source, warm=args.warm, dry_run=args.dry_run,
                            progress=progress, containers=containers, admin_conn=admin_conn)
        _print_report(report, out)
        return EXIT_OK
    finally:
        conn.close()
        if admin_conn is not None and admin_conn is not conn:
            admin_conn.close()


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point of ``storlets-deploy``; returns the exit code."""
    out, err = sys.stdout, sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, usage errors are 2
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    env = os.environ if env is None else env
    # Secrets read from files join this list once ``_run`` has read them.
    secrets = [v for k, v in env.items() if k in SECRET_VARIABLES and v]
    handler = _setup_logging(args.verbose, secrets, err)
    try:
        return _run(args, env, secrets, out, err)
    except (DeployError, SettingsError) as exc:
        print(f"storlets-deploy: error: {_scrub(str(exc), secrets)}", file=err)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("storlets-deploy: interrupted", file=err)
        return EXIT_FAILURE
    finally:
        logging.getLogger().removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
