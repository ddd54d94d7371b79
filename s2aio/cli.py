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
from .podman import image_exists as podman_image_cached
from .errors import S2AIOError
from .layout import AUTH_MODES


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
    start.add_argument("--replicas", type=int, help="copies of everything, one storage node "
                       "each, with Swift's replicators, updaters and auditors (default 1; "
                       "fixed when the data dir is made)")
    start.add_argument("--gateway", choices=("bwrap", "podman"),
                       help="where storlets run: bwrap (s2aio's bubblewrap sandbox, the "
                       "default) or podman (storlets' own podman gateway, rootful, on a "
                       "local Debian + Python 3 image built once); default: the data "
                       "dir's own")
    start.add_argument("--auth", choices=AUTH_MODES, help="tempauth (the default), or "
                       "keystone: a keystone v3 from PyPI (own virtualenv, made on first "
                       "use) with Swift's authtoken + keystoneauth; fixed when the data "
                       "dir is made")
    add("stop", "stop every process of this data dir")
    add("status", "check each server and run a probe storlet end to end")
    env = add("env", "print shell export lines for the Swift credentials")
    env.add_argument("--user", default="test", choices=sorted(USERS) + ["admin"])
    add("reset", "stop and delete the data dir")
    node = add("node", "stop or start one storage node (servers, daemons, sandboxes)")
    node.add_argument("action", choices=("stop", "start"))
    node.add_argument("number", type=int, help="the node, 1..replicas")
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
    try:
        aio = S2AIO(args.data_dir, getattr(args, "port", None),
                    replicas=getattr(args, "replicas", None),
                    gateway_mode=getattr(args, "gateway", None), auth=getattr(args, "auth", None))
        return COMMANDS[args.command](aio, args)
    except S2AIOError as exc:
        print(f"s2aio: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1


def _start(aio: S2AIO, args) -> int:
    if aio.keystone:
        _install_keystone()
    began = time.monotonic()
    if (args.gateway or aio.gateway_mode) == "podman" and not podman_image_cached():
        print("s2aio: building the storlets image (debootstrap + podman import, once) ...",
              flush=True)
    started = aio.start()
    if aio.image_build_s:
        print(f"s2aio: built the storlets image in {aio.image_build_s:.1f} s")
    auth = f", keystone {aio.auth_url}" if aio.keystone else ""
    if started:
        print(f"s2aio: started in {time.monotonic() - began:.1f} s: proxy {aio.proxy_url}, "
              f"{aio.replicas} replica(s){auth}, {aio.gateway_mode} gateway, data {aio.data_dir}")
    else:
        print(f"s2aio: already running: proxy {aio.proxy_url}, data {aio.data_dir}")
    print(f"s2aio: credentials: eval \"$(s2aio env --data-dir {shlex.quote(str(aio.data_dir))})\"")
    return 0


def _install_keystone() -> None:
    """keystone's virtualenv, with a line first when it is yet to be made (~25 s)."""
    from . import keystone

    venv = keystone.default_venv()
    if not keystone.venv_ready(venv):
        print(f"s2aio: installing keystone into {venv} (first use) ...", flush=True)
        began = time.monotonic()
        keystone.ensure_venv(venv)
        print(f"s2aio: keystone installed in {time.monotonic() - began:.0f} s")


def _stop(aio: S2AIO, args) -> int:
    count = aio.running_count()
    if count:
        # The line is printed before the wait, so a slow stop shows what it waits on.
        print(f"s2aio: stopping {count} process{'es' if count != 1 else ''} ...", end="",
              flush=True)
    began = time.monotonic()
    stopped = aio.stop()
    if count:
        print(f" done in {time.monotonic() - began:.1f} s")
    print(f"s2aio: stopped {', '.join(stopped)}" if stopped else "s2aio: nothing was running")
    return 0


def _status(aio: S2AIO, args) -> int:
    status = aio.status()
    width = 10 if aio.replicas == 1 else 14  # one replica: the columns it always had
    for name, up in status.processes.items():
        print(f"{name:{width}} {'up' if up else 'DOWN'}")
    if aio.replicas > 1:
        for number in aio.nodes:
            names = aio.node_processes(number)
            down = [n for n in names if not status.processes.get(n)]
            print(f"{'node ' + str(number):{width}} "
                  + ("up" if not down else f"DOWN ({', '.join(down)})"))
    print(f"{'probe':{width}} {status.probe}")
    print(f"s2aio: {'healthy' if status.healthy else 'NOT healthy'} ({aio.proxy_url})")
    return 0 if status.healthy else 1


def _env(aio: S2AIO, args) -> int:
    for name, value in aio.env(args.user).items():
        print(f"export {name}={shlex.quote(value)}")
    # A pre-authenticated URL + token would take precedence over these, and
    # tempauth's ST_AUTH over keystone's OS_AUTH_URL.
    print("unset ST_AUTH ST_USER ST_KEY OS_AUTH_TOKEN OS_STORAGE_URL" if aio.keystone
          else "unset OS_AUTH_TOKEN OS_STORAGE_URL")
    return 0


def _reset(aio: S2AIO, args) -> int:
    aio.reset()
    print(f"s2aio: deleted {aio.data_dir}")
    return 0


def _node(aio: S2AIO, args) -> int:
    if args.action == "stop":
        stopped = aio.node_stop(args.number)
        print(f"s2aio: node {args.number}: stopped {', '.join(stopped)}" if stopped
              else f"s2aio: node {args.number}: nothing was running")
    else:
        started = aio.node_start(args.number)
        print(f"s2aio: node {args.number}: started {', '.join(started)}" if started
              else f"s2aio: node {args.number}: already running")
    return 0


COMMANDS = {"start": _start, "stop": _stop, "status": _status, "env": _env, "reset": _reset,
            "node": _node}

if __name__ == "__main__":
    sys.exit(main())
