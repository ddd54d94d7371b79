"""What the sandbox's hardening costs: start and per-call, side by side.

Three s2aio instances run at once, the same identity storlet in each:

- ``hardened``: the product (unprivileged user in a user namespace, no
  capabilities, seccomp filter, rlimits, curated read-only root);
- ``unfiltered``: the same without the seccomp filter, the Landlock ruleset, the
  rlimits and the cgroup;
- ``before``: the sandbox as it was before hardening (root, no user
  namespace, no capability drop, no filter, no limits).

Per-call rounds are interleaved (the machine is shared and noisy). The issue's
budget: the filter and limits add at most 10% to the identity call
(hardened / unfiltered).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import tempfile

from _common import free_port, median_ms, put_identity, timed
from swiftproto import run_headers  # noqa: E402  (_common puts the repository on sys.path)

VARIANTS = {
    "hardened": None,
    "unfiltered": "bench._sandbox_variants.UnfilteredGateway",
    "before": "bench._sandbox_variants.BeforeGateway",
}
SIZE = 100 * 1024


@contextlib.contextmanager
def instances():
    from s2aio import S2AIO
    from s2aio.configs import GatewaySettings

    started = {}
    try:
        for name, cls in VARIANTS.items():
            gateway = GatewaySettings(gateway_class=cls) if cls else GatewaySettings()
            aio = S2AIO(tempfile.mkdtemp(prefix="s2aio-c"), free_port(), gateway=gateway)
            started[name] = aio
            aio.start()
        yield started
    finally:
        for aio in started.values():
            aio.reset()


def kill_sandbox(aio) -> None:
    from s2aio import procs

    procs.stop_pid_file(aio.layout.run / "sandbox-object-test.pid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    payload = os.urandom(SIZE)
    with instances() as aios:
        conns = {}
        for name, aio in aios.items():
            conn = aio.connection("test")
            put_identity(conn)
            conn.put_container("bench")
            conn.put_object("bench", "obj", payload)
            conn.get_object("bench", "obj", headers=run_headers("identity.py"))
            conns[name] = conn

        def call(name: str) -> None:
            _, body = conns[name].get_object("bench", "obj",
                                             headers=run_headers("identity.py"))
            assert body == payload

        starts: dict[str, list[float]] = {name: [] for name in aios}
        for _ in range(args.starts):
            for name, aio in aios.items():
                kill_sandbox(aio)
                starts[name].append(timed(lambda: call(name)))
        plain: dict[str, list[float]] = {name: [] for name in aios}
        calls: dict[str, list[float]] = {name: [] for name in aios}
        for _ in range(args.rounds):
            for name in aios:
                plain[name].append(timed(lambda: conns[name].get_object("bench", "obj")))
                calls[name].append(timed(lambda: call(name)))
        for conn in conns.values():
            conn.close()

    print(f"sandbox_cost: {args.starts} cold starts, {args.rounds} interleaved rounds of a "
          f"100 KB identity GET, medians")
    print(f"{'sandbox':11} {'first call after start':>23} {'plain GET':>10} "
          f"{'identity GET':>13} {'engine cost':>12}")
    for name in aios:
        engine = median_ms(calls[name]) - median_ms(plain[name])
        print(f"{name:11} {median_ms(starts[name]):20.0f} ms {median_ms(plain[name]):7.1f} ms "
              f"{median_ms(calls[name]):10.1f} ms {engine:9.1f} ms")
    hard, unf, before = (median_ms(calls[n]) for n in ("hardened", "unfiltered", "before"))
    print(f"seccomp filter + limits: hardened / unfiltered identity call = {hard / unf:.3f}x "
          f"(budget <= 1.10x)")
    print(f"all hardening: hardened / before identity call = {hard / before:.3f}x; "
          f"first call after start {median_ms(starts['hardened']) / median_ms(starts['before']):.3f}x")


if __name__ == "__main__":
    main()
