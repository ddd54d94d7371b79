"""The floor of a storlet call: upstream's middleware alone, beside the real engine.

Two s2aio side by side, started by this run in temp dirs on free ports:

- a *floor* s2aio whose storlets gateway is the null gateway
  (``bench/_null_gateway.py``): storlet_handler in the proxy and the object
  server does all it does per call (request building, header checks, the
  storlet object's HEAD, which s2aio's ``storlet_head_cache`` answers from
  memcache, building and calling the gateway, the new response), and the gateway hands the object's bytes and metadata straight back: no
  sandbox, no SBus, no daemon;
- a normal s2aio (the real engine with s2aio's fast path).

On each, a plain GET of a 100 KB object and an ``X-Run-Storlet`` identity GET
on the object server and on the proxy, all taken round-robin in one loop
(medians), each way twice: through swiftclient (as ``engine_fastpath``) and
through a bare keep-alive ``http.client`` connection (a storlet's answer is
chunked, a plain GET's is not, and the two clients decode chunks at very
different costs). Then server CPU per call from ``/proc`` (utime + stime of
each of the s2aio's processes and their descendants, reaped ones included),
in interleaved batches, less the processes' idle rate. Each identity figure
is divided by its own s2aio's plain GET.

    python bench/engine_floor.py [--rounds 200] [--batch 25]
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import os
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Callable, Iterable, Mapping

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from _common import fresh_s2aio, interleaved, put_identity  # noqa: E402
from engine_fastpath import TARGETS, get_calls  # noqa: E402
from swiftproto import run_headers  # noqa: E402

NULL_GATEWAY_CLASS = "_null_gateway.NullStorletGateway"  # bench/ on the servers' path
# _null_gateway's own names (importing it here would pull eventlet's patched
# select into this client): without the env it refuses to load; the header marks
# its answers.
NULL_GATEWAY_ENV = "S2AIO_BENCH_NULL_GATEWAY"
MARK_HEADER = "X-Object-Meta-Bench-Null-Gateway"
WAYS = ("plain GET", "identity, object server", "identity, proxy")
# Floor only: the null gateway's output through a pipe and upstream's output reader.
PIPE_WAY = "identity, output via a pipe"
PIPE_PARAMS = {"bench_output": "pipe"}  # _null_gateway.OUTPUT_PARAM
LATENCY_TARGET = TARGETS["identity GET / plain GET, 100 KB"][1]
CPU_TARGET = TARGETS["CPU per identity call / plain GET's"][1]
SETTLE_S = 0.1  # a batch's tail work (task exits, log lines) before its CPU is read
IDLE_WINDOW_S = 3.0
SERVERS = ("proxy", "object server")  # "server CPU" in the sense


# -- CPU from /proc (pure parts first) ------------------------------------------------
def stat_ticks(stat: str) -> int:
    """utime + stime + cutime + cstime (clock ticks) from a ``/proc/PID/stat`` line;
    the command name may hold spaces and parentheses, so split after its last ')'."""
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14))


def group_of(process: str) -> str:
    """The report's name for an s2aio process (its pid file's stem)."""
    if process.startswith("sandbox-"):
        return "storlet sandbox"
    return {"object": "object server", "account": "account+container",
            "container": "account+container", "logsink": "log sink"}.get(process, process)


def per_call(before: Mapping[str, float], after: Mapping[str, float], calls: int,
             idle: Mapping[str, float], elapsed: float) -> dict[str, float]:
    """CPU seconds per call for each group, less what the group burns when idle
    (``idle``: seconds of CPU per second) over the ``elapsed`` seconds measured.
    May be below 0 (whole clock ticks): only a sum over batches means much."""
    return {group: (after.get(group, 0.0) - before.get(group, 0.0)
                    - idle.get(group, 0.0) * elapsed) / calls
            for group in set(before) | set(after)}


def add(totals: dict[str, float], more: Mapping[str, float]) -> None:
    for group, value in more.items():
        totals[group] = totals.get(group, 0.0) + value


def descendants(pid: int, others: set[int]) -> list[int]:
    """``pid`` and what it forked, down to (not into) the trees of ``others``: the
    object server starts the sandboxes, which are counted apart."""
    from s2aio import procs

    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(p for p in procs.child_pids(current) if p not in others)
    return found


def tree_seconds(pid: int, others: set[int]) -> float:
    ticks = 0
    for p in descendants(pid, others):
        try:
            ticks += stat_ticks(Path(f"/proc/{p}/stat").read_text())
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile: its parent's cutime has it once reaped
    return ticks / os.sysconf("SC_CLK_TCK")


class ServerCpu:
    """CPU seconds so far of one s2aio's processes (servers, memcached, log sink,
    sandboxes) and all they forked, by group."""

    def __init__(self, aio) -> None:
        self.run_dir = aio.layout.run

    def roots(self) -> dict[int, str]:
        from s2aio import procs

        found = {}
        for pid_file in self.run_dir.glob("*.pid"):
            pid = procs.read_pid_file(pid_file)
            if pid is not None:
                found[pid] = group_of(pid_file.stem)
        return found

    def snapshot(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        roots = self.roots()
        for pid, group in roots.items():
            add(totals, {group: tree_seconds(pid, set(roots) - {pid})})
        return totals

    def idle_rate(self, seconds: float = IDLE_WINDOW_S) -> dict[str, float]:
        before = self.snapshot()
        time.sleep(seconds)
        after = self.snapshot()
        return {g: max(0.0, after.get(g, 0.0) - before.get(g, 0.0)) / seconds
                for g in set(before) | set(after)}


def cpu_rounds(ways: Mapping[tuple[str, str], Callable[[], object]],
               meters: Mapping[str, ServerCpu], calls: int, batch: int
               ) -> dict[tuple[str, str], dict[str, float]]:
    """Mean CPU seconds per call by group, for each (setup, way): batches of
    ``batch`` calls taken in turn until each way made ``calls``."""
    idle = {setup: meter.idle_rate() for setup, meter in meters.items()}
    totals: dict[tuple[str, str], dict[str, float]] = {key: {} for key in ways}
    done = 0
    while done < calls:
        n = min(batch, calls - done)
        for key, fn in ways.items():
            meter = meters[key[0]]
            before, began = meter.snapshot(), time.monotonic()
            for _ in range(n):
                fn()
            time.sleep(SETTLE_S)
            after = meter.snapshot()
            add(totals[key], {g: v * n for g, v in per_call(
                before, after, n, idle[key[0]], time.monotonic() - began).items()})
        done += n
    return {key: {g: max(0.0, v / calls) for g, v in groups.items()}
            for key, groups in totals.items()}


# -- report (pure) ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Row:
    setup: str
    way: str
    ms: float  # median latency, swiftclient
    raw_ms: float  # median latency, bare http.client
    cpu_servers: float  # proxy + object server, ms per call
    cpu_all: float  # every process of the s2aio, ms per call


def servers_ms(groups: Mapping[str, float]) -> float:
    return sum(groups.get(g, 0.0) for g in SERVERS) * 1000


def all_ms(groups: Mapping[str, float]) -> float:
    return sum(groups.values()) * 1000


def table(rows: Iterable[Row]) -> list[str]:
    """Markdown rows, each identity way divided by its own setup's plain GET."""
    rows = list(rows)
    plain = {r.setup: r for r in rows if r.way == "plain GET"}
    lines = ["| setup | way | swiftclient | / plain | http.client | / plain "
             "| CPU proxy+object | / plain | CPU all processes | / plain |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = plain[r.setup]
        lines.append(f"| {r.setup} | {r.way} | {r.ms:.2f} ms | {r.ms / p.ms:.2f}x "
                     f"| {r.raw_ms:.2f} ms | {r.raw_ms / p.raw_ms:.2f}x "
                     f"| {r.cpu_servers:.2f} ms | {ratio(r.cpu_servers, p.cpu_servers)} "
                     f"| {r.cpu_all:.2f} ms | {ratio(r.cpu_all, p.cpu_all)} |")
    return lines


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base > 0 else "n/a"


def headroom(floor_ratio: float, real_ratio: float, target: float) -> str:
    """What the floor leaves for s2aio's own part (gateway, SBus, sandbox) under a
    target ratio, in units of a plain GET."""
    engine = real_ratio - floor_ratio
    left = target - floor_ratio
    if left <= 0:
        return (f"the floor alone ({floor_ratio:.2f}x) is over the {target:g}x target: "
                f"not reachable without an upstream change")
    return (f"the floor is {floor_ratio:.2f}x; s2aio's own part adds {engine:.2f} plain "
            f"GETs and may add {left:.2f} to meet {target:g}x"
            + (" (met)" if engine <= left else f" (cut it by {engine - left:.2f})"))


def summary(rows: Iterable[Row]) -> list[str]:
    by = {(r.setup, r.way): r for r in rows}
    out = []
    for way in WAYS[1:]:
        floor, real = by[("floor", way)], by[("real", way)]
        fp, rp = by[("floor", "plain GET")], by[("real", "plain GET")]
        for client, f, fpl, r, rpl in (
                ("swiftclient", floor.ms, fp.ms, real.ms, rp.ms),
                ("http.client", floor.raw_ms, fp.raw_ms, real.raw_ms, rp.raw_ms)):
            out.append(f"{way}, {client}: latency floor {f / fpl:.2f}x, real {r / rpl:.2f}x; "
                       f"upstream's middleware is {share(f - fpl, r - rpl)} of the extra "
                       f"time ({f - fpl:+.2f} of {r - rpl:+.2f} ms)")
            out.append(f"  vs <= {LATENCY_TARGET:g}x: "
                       + headroom(f / fpl, r / rpl, LATENCY_TARGET))
        if fp.cpu_all > 0 and rp.cpu_all > 0:  # all processes: the CPU measure
            cpu_f, cpu_r = floor.cpu_all / fp.cpu_all, real.cpu_all / rp.cpu_all
            out.append(f"  CPU (all processes): floor {cpu_f:.2f}x, real {cpu_r:.2f}x; "
                       f"upstream's middleware is "
                       f"{share(floor.cpu_all - fp.cpu_all, real.cpu_all - rp.cpu_all)} of "
                       f"the extra CPU ({floor.cpu_all - fp.cpu_all:+.2f} of "
                       f"{real.cpu_all - rp.cpu_all:+.2f} ms)")
            out.append(f"  vs <= {CPU_TARGET:g}x: " + headroom(cpu_f, cpu_r, CPU_TARGET))
    return out


def stages(rows: Iterable[Row]) -> list[str]:
    """The identity GET on the object server cut into what each step adds over the
    one before: upstream's middleware (floor - plain GET), the output through a
    pipe and upstream's reader (pipe - floor), then the rest of the engine: SBus
    execute, daemon, task process, the storlet (real - pipe). The real engine runs
    in the other s2aio: its figures are scaled by the ratio of the two plain GETs."""
    by = {(r.setup, r.way): r for r in rows}
    if ("floor", PIPE_WAY) not in by or ("real", WAYS[1]) not in by:
        return []
    fp, floor, pipe = by[("floor", "plain GET")], by[("floor", WAYS[1])], by[("floor", PIPE_WAY)]
    rp, real = by[("real", "plain GET")], by[("real", WAYS[1])]
    out = ["stages of an identity GET on the object server, each over the one before "
           "(ms; the real engine scaled to the floor s2aio's plain GET):",
           "| stage | swiftclient | http.client | CPU all processes |", "|---|---|---|---|"]
    for field in ("ms", "raw_ms", "cpu_all"):
        if getattr(rp, field) <= 0:
            return out[:1] + ["  n/a: no CPU figures"]
    table_rows = {"upstream's middleware": [], "output via a pipe + upstream's reader": [],
                  "SBus, daemon, task process, storlet": [], "all": []}
    for field in ("ms", "raw_ms", "cpu_all"):
        base, f, pi = getattr(fp, field), getattr(floor, field), getattr(pipe, field)
        scaled_real = getattr(real, field) * base / getattr(rp, field)
        for name, value in zip(table_rows, (f - base, pi - f, scaled_real - pi,
                                            scaled_real - base)):
            table_rows[name].append(value)
    for name, values in table_rows.items():
        out.append(f"| {name} | " + " | ".join(f"{v:+.2f} ms" for v in values) + " |")
    return out


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole > 0 else "n/a"


def breakdown(cpu: Mapping[tuple[str, str], Mapping[str, float]]) -> list[str]:
    lines = []
    for (setup, way), groups in cpu.items():
        parts = ", ".join(f"{g} {v * 1000:.2f}" for g, v in
                          sorted(groups.items(), key=lambda kv: -kv[1]) if v * 1000 >= 0.005)
        lines.append(f"  {setup:5} {way:24} {parts}")
    return lines


# -- run ------------------------------------------------------------------------------
def way_headers(setup: str) -> dict[str, dict[str, str]]:
    """The request headers of each way (``get_calls``' three, and the pipe's)."""
    ways = {"plain GET": {}, "identity, object server": run_headers("identity.py"),
            "identity, proxy": run_headers("identity.py", on_proxy=True)}
    if setup == "floor":
        ways[PIPE_WAY] = run_headers("identity.py", PIPE_PARAMS)
    return ways


def raw_calls(conn, body: bytes, session: http.client.HTTPConnection,
              ways: Mapping[str, Mapping[str, str]]) -> dict[str, Callable[[], object]]:
    """Each way on ``session``, a bare keep-alive connection to the proxy (the
    token as swiftclient got it; it goes in a header only)."""
    url, token = conn.get_auth()
    path = urllib.parse.urlsplit(url).path + "/bench/o100k"

    def get(headers: Mapping[str, str]) -> Callable[[], object]:
        def call() -> None:
            session.request("GET", path, headers={"X-Auth-Token": token, **headers})
            resp = session.getresponse()
            got = resp.read()
            assert resp.status == 200 and got == body, resp.status
        return call

    return {way: get(headers) for way, headers in ways.items()}


def swift_call(conn, body: bytes, headers: Mapping[str, str]) -> Callable[[], object]:
    def call() -> None:
        assert conn.get_object("bench", "o100k", headers=dict(headers))[1] == body
    return call


def check_gateways(conns: Mapping[str, object]) -> None:
    """Each setup's identity calls went through its own gateway: the null one's
    answers carry its mark, the real engine's do not."""
    for setup, conn in conns.items():
        for on_proxy in (False, True):
            headers, _ = conn.get_object("bench", "o100k",
                                         headers=run_headers("identity.py", on_proxy=on_proxy))
            if (MARK_HEADER.lower() in headers) != (setup == "floor"):
                raise SystemExit(f"engine_floor: the {setup} s2aio's identity GET "
                                 f"(on_proxy={on_proxy}) did not run where it should: "
                                 f"{sorted(headers)}")


def bench_env() -> None:
    """Let this run's servers load the null gateway (only the floor s2aio names it)."""
    os.environ[NULL_GATEWAY_ENV] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(BENCH), os.environ.get("PYTHONPATH")) if p)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200,
                        help="calls of each way, for latency and again for CPU")
    parser.add_argument("--batch", type=int, default=25, help="calls per CPU batch")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.batch < 1:
        parser.error("--rounds and --batch must be at least 1")
    from s2aio.configs import GatewaySettings

    bench_env()
    with contextlib.ExitStack() as stack:
        aios = {"floor": stack.enter_context(fresh_s2aio(
                    gateway=GatewaySettings(gateway_class=NULL_GATEWAY_CLASS))),
                "real": stack.enter_context(fresh_s2aio())}
        ways: dict[tuple[str, str], Callable[[], object]] = {}
        raw: dict[tuple[str, str, str], Callable[[], object]] = {}
        conns = {}
        for setup, aio in aios.items():
            conns[setup] = conn = aio.connection("test")
            stack.callback(conn.close)
            put_identity(conn)
            ways.update({(setup, way): fn for way, fn in get_calls(conn).items()})
            body = conn.get_object("bench", "o100k")[1]
            headers = way_headers(setup)
            if PIPE_WAY in headers:
                ways[(setup, PIPE_WAY)] = swift_call(conn, body, headers[PIPE_WAY])
            session = http.client.HTTPConnection("127.0.0.1", aio.ports.proxy, timeout=60)
            stack.callback(session.close)
            raw.update({(setup, way, "raw"): fn
                        for way, fn in raw_calls(conn, body, session, headers).items()})
        check_gateways(conns)
        print(f"engine_floor: {args.rounds} interleaved rounds (medians), then CPU "
              f"from /proc over {args.rounds} calls each", flush=True)
        latency = interleaved({**ways, **raw}, args.rounds)
        meters = {setup: ServerCpu(aio) for setup, aio in aios.items()}
        cpu = cpu_rounds(ways, meters, args.rounds, args.batch)
        rows = [Row(setup, way, latency[(setup, way)], latency[(setup, way, "raw")],
                    servers_ms(cpu[(setup, way)]), all_ms(cpu[(setup, way)]))
                for setup, way in ways]
        print("\n".join(table(rows)))
        print("\nCPU per call by process (ms):")
        print("\n".join(breakdown(cpu)))
        print()
        print("\n".join(summary(rows)))
        print()
        print("\n".join(stages(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
