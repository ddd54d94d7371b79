"""``s2aio``: start, stop, check and use a Swift + storlets all-in-one.

Exit codes: 0 ok, 1 failure, 2 usage.
"""
from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
import time

from .core import S2AIO, USERS
from .errors import S2AIOError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2aio", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--data-dir", help="state directory (default: $S2AIO_DIR or "
                       "~/.local/share/s2aio)")
        return p

    start = add("start", "start Swift + storlets (idempotent)")
    start.add_argument("--port", type=int, help="proxy port (default 8080, or the last one used)")
    add("stop", "stop every process of this data dir")
    add("status", "check each server and run a probe storlet end to end")
    env = add("env", "print shell export lines for the Swift credentials")
    env.add_argument("--user", default="test", choices=sorted(USERS) + ["admin"])
    add("reset", "stop and delete the data dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if importlib.util.find_spec("swift") is None:
        print("s2aio: error: OpenStack Swift is not installed here: "
              "pip install 'swift-notebooks[s2aio]'", file=sys.stderr)
        return 1
    aio = S2AIO(args.data_dir, getattr(args, "port", None))
    try:
        return COMMANDS[args.command](aio, args)
    except S2AIOError as exc:
        print(f"s2aio: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1


def _start(aio: S2AIO, args) -> int:
    began = time.monotonic()
    started = aio.start()
    if started:
        print(f"s2aio: started in {time.monotonic() - began:.1f} s: proxy {aio.proxy_url}, "
              f"data {aio.data_dir}")
    else:
        print(f"s2aio: already running: proxy {aio.proxy_url}, data {aio.data_dir}")
    print(f"s2aio: credentials: eval \"$(s2aio env --data-dir {shlex.quote(str(aio.data_dir))})\"")
    return 0


def _stop(aio: S2AIO, args) -> int:
    stopped = aio.stop()
    print(f"s2aio: stopped {', '.join(stopped)}" if stopped else "s2aio: nothing was running")
    return 0


def _status(aio: S2AIO, args) -> int:
    status = aio.status()
    for name, up in status.processes.items():
        print(f"{name:10} {'up' if up else 'DOWN'}")
    print(f"{'probe':10} {status.probe}")
    print(f"s2aio: {'healthy' if status.healthy else 'NOT healthy'} ({aio.proxy_url})")
    return 0 if status.healthy else 1


def _env(aio: S2AIO, args) -> int:
    for name, value in aio.env(args.user).items():
        print(f"export {name}={shlex.quote(value)}")
    # A pre-authenticated URL + token would take precedence over these.
    print("unset OS_AUTH_TOKEN OS_STORAGE_URL")
    return 0


def _reset(aio: S2AIO, args) -> int:
    aio.reset()
    print(f"s2aio: deleted {aio.data_dir}")
    return 0


COMMANDS = {"start": _start, "stop": _stop, "status": _status, "env": _env, "reset": _reset}

if __name__ == "__main__":
    sys.exit(main())
