"""The README's hub figures: hub start, a user's server spawn, hub stop.

    .venv/bin/python -m tests.hub.timing [--rounds 3] [--lean]

Starts its own s2aio in a temp dir, then per round a fresh hub (new state dir)
with one user on s2aio's ``test:tester``: the hub's start until its API answers
through the proxy, the spawn of that user's server until the hub reports it
ready, the first contents call through the proxy, and the stop. Servers load
every installed server extension (JupyterLab included) unless ``--lean``
(the tests' set). Prints each round and the medians (wall times, and the CPU the hub and the server
used until ready, steadier on a shared machine); removes everything after.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tests.conftest import free_port
from tests.hub.harness import Hub, descendants, request

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one live process (the steady figure on a shared machine)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def server_pid(hub: Hub) -> int:
    for pid in descendants(hub.proc.pid):
        if b"jupyterhub-singleuser" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    raise AssertionError("no single-user server below the hub")


def one_round(aio, lean: bool) -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix="jupyterhub-timing-"))
    try:
        creds = state / "swift-users.json"
        env = aio.env("test")
        creds.write_text(json.dumps({"defaults": {"ST_AUTH": env["ST_AUTH"]}, "users": {
            "alice": {"ST_USER": env["ST_USER"], "ST_KEY": env["ST_KEY"]}}}))
        os.chmod(creds, 0o600)
        hub = Hub(state / "hub", creds, lean=lean)
        try:
            figures = {"hub start": hub.start(), "hub CPU at start": cpu_seconds(hub.proc.pid)}
            hub.add_user("alice")
            figures["spawn"] = hub.spawn("alice")["alice"]
            figures["server CPU at ready"] = cpu_seconds(server_pid(hub))
            token = hub.user_token("alice")
            started = time.monotonic()
            resp = request(hub.server_url("alice", "api/contents"), token=token)
            assert resp.status == 200, resp.text
            figures["first contents call"] = time.monotonic() - started
        finally:
            started = time.monotonic()
            killed = hub.stop()
            figures["stop"] = time.monotonic() - started
            assert not killed, killed
        return figures
    finally:
        shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lean", action="store_true", help="the tests' server extensions only")
    args = parser.parse_args(argv)
    from s2aio import S2AIO

    data = Path(tempfile.mkdtemp(prefix="s2aio-hubt"))
    aio = S2AIO(data_dir=data, port=free_port())
    rounds = []
    try:
        aio.start()
        for number in range(args.rounds):
            figures = one_round(aio, args.lean)
            rounds.append(figures)
            print(f"round {number + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in figures.items()),
                  flush=True)
    finally:
        aio.reset()
    print(f"median of {len(rounds)} ({'lean' if args.lean else 'all extensions'}): " + ", ".join(
        f"{k} {statistics.median(r[k] for r in rounds):.2f} s" for k in rounds[0]))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
