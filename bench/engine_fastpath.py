"""The storlets engine's fixed cost per call, against its targets, in one run.

Starts its own s2aio (or uses one when ST_AUTH/ST_USER/ST_KEY are set), deploys
the notebook storlets, and measures side by side, interleaved round by round
(the machine is shared and noisy: only ratios measured together mean much):

1. identity GET vs plain GET of a 100 KB object (storlet on the object server
   and on the proxy);
2. server CPU per call, identity vs plain (all of s2aio's processes, sandboxes
   included: a cpuacct cgroup around them, minus this process's own CPU);
3. a notebook save through SwiftContentsManager with storlets on vs off, and vs
   s3contents on the same Swift (through s3api);
4. validating a 100 KB notebook with nbvalidate in Swift vs download + nbformat
   validation in the client;
5. the first call after ``--idle`` seconds without any (default 600) vs a warm
   call, for an identity GET and then (after as long again) for a plain GET:
   Swift's own cost after idle beside the engine's; and, for the record, the
   first call after a sandbox start;
6. the fixed cost left, stage by stage: a second s2aio whose gateways log each
   call's stages (``stage_timings``): orphan check, cache check, daemon status
   (skipped when recent), the execute round trip and its sub-stages (``rt_*``,
   from the gateway's and the daemon's own stamps: build, send, to the daemon,
   hand-off to the task process, reply, back to the gateway), the wait for the
   storlet's metadata, the whole invocation protocol, and the time until the
   output streams.

    python bench/engine_fastpath.py [--rounds 40] [--idle 600]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, interleaved, put_identity  # noqa: E402
from swiftproto import run_headers  # noqa: E402

TARGETS = {
    "identity GET / plain GET, 100 KB": ("<=", 1.5),
    "CPU per identity call / plain GET's": ("<=", 2.0),
    "save, storlets on / off": ("<=", 1.5),
    "s3contents save / ours (x faster)": (">=", 1.2),
    "validate in storlet / download + validate": ("<=", 1.0),
    "cold call after idle / warm call": ("<=", 2.0),
}
CPUACCT = Path("/sys/fs/cgroup/cpuacct")


# -- CPU accounting -----------------------------------------------------------------
class CpuMeter:
    """CPU used by this process's descendants (s2aio's servers and sandboxes), from
    a cpuacct cgroup this process joins before it starts s2aio, minus its own."""

    def __init__(self) -> None:
        self.group: Path | None = None
        if not (CPUACCT / "cpuacct.usage").exists():
            return
        group = CPUACCT / f"engine-fastpath-{os.getpid()}"
        try:
            group.mkdir(exist_ok=True)
            (group / "tasks").write_text(str(os.getpid()))
        except OSError:
            return
        self.group = group

    def now(self) -> float | None:
        if self.group is None:
            return None
        total = int((self.group / "cpuacct.usage").read_text()) / 1e9
        own = resource.getrusage(resource.RUSAGE_SELF)
        return total - own.ru_utime - own.ru_stime

    def close(self) -> None:
        if self.group is None:
            return
        try:
            parent = self.group.parent / "tasks"
            for pid in (self.group / "tasks").read_text().split():
                try:
                    parent.write_text(pid)
                except OSError:
                    pass
            self.group.rmdir()
        except OSError:
            pass


def cpu_per_call(meter: CpuMeter, fn: Callable[[], object], calls: int) -> float | None:
    before = meter.now()
    if before is None:
        return None
    for _ in range(calls):
        fn()
    time.sleep(0.3)  # task processes end after their answer: count their exit too
    return (meter.now() - before) / calls


# -- measures -------------------------------------------------------------------------
def get_calls(conn) -> dict[str, Callable[[], object]]:
    payload = os.urandom(100 * 1024)
    conn.put_container("bench")
    conn.put_object("bench", "o100k", payload)

    def get(headers: dict[str, str]) -> Callable[[], object]:
        def call() -> None:
            _, body = conn.get_object("bench", "o100k", headers=headers)
            assert body == payload
        return call

    return {"plain GET": get({}),
            "identity, object server": get(run_headers("identity.py")),
            "identity, proxy": get(run_headers("identity.py", on_proxy=True))}


def validate_calls(conn) -> dict[str, Callable[[], object]]:
    import nbformat
    from storlets_vs_client import make_notebook

    data = json.dumps(make_notebook(100_000, seed=7)).encode()
    conn.put_object("bench", "nb100k.ipynb", data)

    def storlet() -> None:
        _, body = conn.get_object("bench", "nb100k.ipynb",
                                  headers=run_headers("nbvalidate.py", {"mode": "report"}))
        assert json.loads(body)["valid"] is True

    def client() -> None:
        _, body = conn.get_object("bench", "nb100k.ipynb")
        nbformat.validate(nbformat.reads(body.decode(), as_version=nbformat.NO_CONVERT))

    return {"nbvalidate in Swift": storlet, "download + nbformat.validate": client}


def save_medians(env: dict[str, str], rounds: int) -> dict[str, float]:
    from contents_vs_peers import make_managers, sample_notebook
    from jupyter_core.utils import ensure_async

    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-fastpath-") as tmp:
        managers = make_managers(env, Path(tmp))
        managers.pop("local disk (AsyncFileContentsManager)")
        model = {"type": "notebook", "content": sample_notebook()}

        async def run() -> dict[str, float]:
            for cm in managers.values():
                await ensure_async(cm.save(model, "bench.ipynb"))
                await ensure_async(cm.save(model, "bench.ipynb"))
            samples: dict[str, list[float]] = {name: [] for name in managers}
            for _ in range(rounds):
                for name, cm in managers.items():
                    began = time.perf_counter()
                    await ensure_async(cm.save(model, "bench.ipynb"))
                    samples[name].append(time.perf_counter() - began)
            return {name: statistics.median(v) for name, v in samples.items()}

        return asyncio.run(run())


def cold_vs_warm(conn, idle: float, rounds: int,
                 headers: dict[str, str] | None = None) -> tuple[float, float]:
    """(warm, cold): the first GET of the 100 KB object after ``idle`` seconds
    without a call, and the median of the calls right after it (the same load on
    the shared machine); ``headers`` run a storlet."""
    def call() -> float:
        began = time.perf_counter()
        conn.get_object("bench", "o100k", headers=headers or {})
        return time.perf_counter() - began

    # The proxy keeps account and container info INFO_CACHE_S (900 s) from when it
    # read them: a POST clears them, so that the calls below read them afresh and
    # both cold calls find them cached, whenever each idle period starts.
    conn.post_account({})
    for container in ("bench", "storlet"):
        conn.post_container(container, {})
    for _ in range(3):
        call()
    print(f"  waiting {idle:.0f} s without a call ...", flush=True)
    time.sleep(idle)
    cold = call()
    warm = statistics.median(call() for _ in range(rounds))
    return warm, cold


def first_call_after_start(aio, conn) -> float:
    """A sandbox's first call: sandbox, factory and daemon all started."""
    from s2aio import procs

    for pid_file in aio.layout.run.glob("sandbox-*.pid"):
        procs.stop_pid_file(pid_file)
    began = time.perf_counter()
    conn.get_object("bench", "o100k", headers=run_headers("identity.py"))
    return time.perf_counter() - began


def stage_medians(rounds: int) -> dict[str, dict[str, float]]:
    """The engine's stages per call (ms), from a second s2aio whose gateways log them
    (``stage_timings``): {where: {stage: median}}."""
    import re
    import tempfile

    from s2aio import S2AIO
    from s2aio.configs import GatewaySettings

    aio = S2AIO(tempfile.mkdtemp(prefix="s2aio-stages-"), free_port(),
                gateway=GatewaySettings(stage_timings=True))
    try:
        aio.start()
        conn = aio.connection("test")
        put_identity(conn)
        calls = get_calls(conn)
        del calls["plain GET"]
        interleaved(calls, rounds)
        conn.close()
        found: dict[str, dict[str, list[float]]] = {}
        for line in (Path(aio.logs_dir) / "swift.log").read_text(errors="replace").splitlines():
            m = re.search(r"(proxy|object)-server: s2aio stages identity\.\S+: (.*?)( \(txn|$)", line)
            if m:
                where = found.setdefault(m.group(1) + " server", {})
                for part in m.group(2).split():
                    name, _, value = part.partition("=")
                    where.setdefault(name, []).append(float(value))
        return {where: {name: statistics.median(v[2:] or v) for name, v in stages.items()}
                for where, stages in found.items()}
    finally:
        aio.reset()


# -- report -------------------------------------------------------------------------
def verdict(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    op, bound = TARGETS[name]
    ok = value <= bound if op == "<=" else value >= bound
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--idle", type=float, default=600.0,
                        help="seconds without a call before the cold call (0 skips it)")
    args = parser.parse_args(argv)
    meter = CpuMeter()  # before s2aio starts: its processes inherit the group
    from deploy.api import deploy
    from s2aio import S2AIO

    import tempfile

    aio = S2AIO(tempfile.mkdtemp(prefix="s2aio-fastpath-"), free_port())
    try:
        aio.start()
        env = aio.env("test")
        conn = aio.connection("test")
        put_identity(conn)
        deploy(conn, warm=True)
        ratios: dict[str, float | None] = {}

        print(f"engine_fastpath: medians of {args.rounds} interleaved rounds", flush=True)
        gets = interleaved(get_calls(conn), args.rounds)
        plain = gets["plain GET"]
        for name, value in gets.items():
            print(f"  {name:28} {value:7.2f} ms  {value / plain:5.2f}x")
        ratios["identity GET / plain GET, 100 KB"] = gets["identity, object server"] / plain

        calls = get_calls(conn)
        cpu_plain = cpu_per_call(meter, calls["plain GET"], args.rounds)
        cpu_identity = cpu_per_call(meter, calls["identity, object server"], args.rounds)
        if cpu_plain and cpu_identity:
            print(f"  server CPU per call: plain {cpu_plain * 1000:.1f} ms, identity "
                  f"{cpu_identity * 1000:.1f} ms ({cpu_identity / cpu_plain:.2f}x)")
            ratios["CPU per identity call / plain GET's"] = cpu_identity / cpu_plain
        else:
            print("  server CPU per call: n/a (no cpuacct cgroup here)")
            ratios["CPU per identity call / plain GET's"] = None

        saves = save_medians(env, max(10, args.rounds // 2))
        for name, value in saves.items():
            print(f"  save notebook, {name:30} {value * 1000:7.1f} ms")
        ours = saves["swiftcontents"]
        ratios["save, storlets on / off"] = ours / saves["swiftcontents (storlets off)"]
        ratios["s3contents save / ours (x faster)"] = saves["s3contents"] / ours

        checks = interleaved(validate_calls(conn), args.rounds)
        for name, value in checks.items():
            print(f"  validate 100 KB notebook: {name:30} {value:7.1f} ms")
        ratios["validate in storlet / download + validate"] = (
            checks["nbvalidate in Swift"] / checks["download + nbformat.validate"])

        start_cold = first_call_after_start(aio, conn)
        print(f"  first call after a sandbox start: {start_cold * 1000:.0f} ms")
        if args.idle > 0:
            # A plain GET after the same idle time: what the machine and Swift add
            # after idle whatever runs (see bench/idle_wakeup.py), beside the engine.
            warm, after = cold_vs_warm(conn, args.idle, args.rounds, run_headers("identity.py"))
            p_warm, p_after = cold_vs_warm(conn, args.idle, args.rounds)
            print(f"  identity: warm {warm * 1000:.1f} ms; first call after {args.idle:.0f} s "
                  f"idle {after * 1000:.1f} ms ({after / warm:.2f}x)")
            print(f"  plain GET: warm {p_warm * 1000:.1f} ms; first call after {args.idle:.0f} s "
                  f"idle {p_after * 1000:.1f} ms ({p_after / p_warm:.2f}x)")
            print(f"  the engine's part: {(after - p_after) * 1000:.1f} ms after idle, "
                  f"{(warm - p_warm) * 1000:.1f} ms warm")
            ratios["cold call after idle / warm call"] = after / warm
        else:
            ratios["cold call after idle / warm call"] = None

        print("\n  the engine's stages per call (medians, ms; a second s2aio logging them):")
        for where, stages in stage_medians(args.rounds).items():
            print(f"    {where}: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))

        print("\n| measure | target | measured | |\n|---|---|---|---|")
        for name, (op, bound) in TARGETS.items():
            value = ratios.get(name)
            shown = "n/a" if value is None else f"{value:.2f}x"
            print(f"| {name} | {op} {bound}x | {shown} | {verdict(name, value)} |")
        conn.close()
    finally:
        aio.reset()
        meter.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
