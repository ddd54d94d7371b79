"""Storlet PUTs that get no response: a reproducer that counts them.

Hammers PUTs through nbvalidate (``X-Run-Storlet: nbvalidate.py``, mode
stamp, exactly the headers ``swiftcontents`` sends on save) with a mix of
notebook sizes, at concurrency 1..8, on keep-alive connections, with bodies
sent with a Content-Length or chunked, right after the sandbox was killed (a
new sandbox and daemon), across a daemon factory stalled past the gateway's
SBus deadline (``--stall``: stopped with SIGSTOP, as a factory busy starting
daemons on a loaded machine, with one PUT in flight and four arriving) and,
with ``--idle``, after the daemons' idle exit.
Raw ``http.client`` and no retries: every failure is seen, one request at a
time, as what the client got:

- ``ok``: 201;
- ``no-response``: the connection closed (or reset) before a status line;
- ``timeout``: no answer within ``--timeout`` seconds (30: the manager's own);
- ``5xx`` / ``4xx``: Swift's answer (the first bytes of its body are kept).

    .venv/bin/python bench/storlet_put_hiccups.py [--rounds N] [--stall 17] [--idle 310]
    .venv/bin/python bench/storlet_put_hiccups.py --rounds 0      # the stall only (~90 s)

It starts (and removes) its own s2aio unless ``--data-dir`` names a running
one. Exit code 1 when any request failed.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import http.client
import json
import os
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from _common import fresh_s2aio  # noqa: E402  (puts the repository on sys.path)
from swiftproto import run_headers  # noqa: E402

SIZES = (600, 20_000, 200_000, 1_000_000)  # bytes of notebook JSON, roughly
CONCURRENCY = (1, 2, 4, 8)


def notebook(size: int, seed: int) -> bytes:
    """A valid nbformat 4 notebook of about ``size`` bytes."""
    rnd = random.Random(seed)
    cells, total = [], 0
    while total < size:
        text = "".join(rnd.choice("abcdefghij \n") for _ in range(min(4000, max(40, size // 8))))
        cells.append({"cell_type": "markdown", "id": f"c{len(cells)}", "metadata": {},
                      "source": text})
        total += len(text) + 80
    doc = {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
           "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}}}
    return json.dumps(doc).encode()


@dataclass
class Tally:
    counts: collections.Counter = field(default_factory=collections.Counter)
    examples: dict[str, str] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, phase: str, outcome: str, detail: str, seconds: float) -> None:
        with self.lock:
            self.counts[(phase, outcome)] += 1
            self.seconds.append(seconds)
            if outcome != "ok":
                self.examples.setdefault(f"{phase}/{outcome}", detail)
                print(f"  !! {phase}: {outcome} after {seconds:.2f}s: {detail}", flush=True)


class Client:
    """One keep-alive connection, reopened after a failure (as swiftclient does)."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.token, self.timeout = token, timeout
        self.conn: http.client.HTTPConnection | None = None

    def put(self, container: str, name: str, body, chunked: bool) -> tuple[str, str]:
        """``body``: bytes, or (chunked) an iterable of chunks."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"X-Auth-Token": self.token, "Content-Type": "application/x-ipynb+json",
                   **run_headers("nbvalidate.py", {"mode": "stamp"})}
        path = f"{self.path}/{quote(container)}/{quote(name)}"
        try:
            if chunked:
                chunks = body if not isinstance(body, bytes) else iter(
                    [body[i:i + 65536] for i in range(0, len(body), 65536)])
                self.conn.request("PUT", path, body=chunks, headers=headers,
                                  encode_chunked=True)
            else:
                self.conn.request("PUT", path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (http.client.RemoteDisconnected, http.client.BadStatusLine,
                ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            return "no-response", f"{type(exc).__name__}: {exc}"
        except socket.timeout as exc:
            self.close()
            return "timeout", f"{type(exc).__name__}: {exc}"
        if resp.status >= 500:
            return "5xx", f"{resp.status} {data[:200]!r} tx={resp.getheader('x-trans-id')}"
        if resp.status >= 300:
            return "4xx", f"{resp.status} {data[:200]!r} tx={resp.getheader('x-trans-id')}"
        return "ok", ""

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_phase(phase: str, url: str, token: str, container: str, bodies: list[bytes],
              concurrency: int, requests: int, chunked: bool, timeout: float,
              tally: Tally) -> None:
    clients = [Client(url, token, timeout) for _ in range(concurrency)]
    free = list(clients)
    lock = threading.Lock()

    def one(i: int) -> None:
        with lock:
            client = free.pop()
        try:
            body = bodies[i % len(bodies)]
            began = time.monotonic()
            outcome, detail = client.put(container, f"{phase}-{i % 16}.ipynb", body, chunked)
            tally.add(phase, outcome, detail, time.monotonic() - began)
        finally:
            with lock:
                free.append(client)

    with concurrent.futures.ThreadPoolExecutor(concurrency) as ex:
        list(ex.map(one, range(requests)))
    for c in clients:
        c.close()


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _descendants(pid: int) -> list[int]:
    from s2aio.procs import child_pids

    found = []
    for child in child_pids(pid):
        found += [child] + _descendants(child)
    return found


def factory_pid(aio) -> int | None:
    """The host pid of the proxy sandbox's daemon factory (test account)."""
    from s2aio import procs
    from s2aio.agent import engine_role

    bwrap = procs.read_pid_file(Path(aio.layout.run) / "sandbox-proxy-test.pid")
    for pid in _descendants(bwrap) if bwrap else []:
        argv = _cmdline(pid).decode(errors="replace").split("\0")
        if engine_role(argv) == ("factory", ""):
            return pid
    return None


def stalled_factory_phase(aio, url: str, token: str, container: str, bodies: list[bytes],
                          stall: float, timeout: float, tally: Tally) -> str:
    """PUTs that arrive while the factory is stopped for ``stall`` seconds."""
    import signal

    pid = factory_pid(aio)
    if pid is None:
        return "no factory found"
    resume = threading.Event()
    in_flight = threading.Thread(target=_trickled_put, args=(
        url, token, container, bodies[0], resume, timeout + stall + 5, tally))
    in_flight.start()  # its task runs in the sandbox across the stall
    time.sleep(2)
    os.kill(pid, signal.SIGSTOP)
    try:
        worker = threading.Thread(target=run_phase, args=(
            "busy-factory", url, token, container, bodies, 4, 4, False, timeout, tally))
        worker.start()
        time.sleep(stall)
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(2)
    resume.set()
    worker.join()
    in_flight.join()
    after = factory_pid(aio)
    return (f"factory {pid} survived its stall" if after == pid else
            f"factory {pid} died after its stall (now {after}): the sandbox was restarted")


def _trickled_put(url: str, token: str, container: str, body: bytes,
                  resume: threading.Event, timeout: float, tally: Tally) -> None:
    """A PUT whose second half is sent only once ``resume`` is set."""
    def chunks():
        yield body[:len(body) // 2]
        resume.wait()
        yield body[len(body) // 2:]

    began = time.monotonic()
    client = Client(url, token, timeout)
    outcome, detail = client.put(container, "in-flight.ipynb", chunks(), True)
    client.close()
    tally.add("in-flight-across-stall", outcome, detail, time.monotonic() - began)


def kill_sandbox(aio) -> None:
    """End the proxy's sandbox of the test account: the next call starts a new one."""
    from s2aio import procs

    for pid_file in Path(aio.layout.run).glob("sandbox-*.pid"):
        procs.stop_pid_file(pid_file)


def main(argv: list[str] | None = None) -> int:  # noqa: C901  (one phase after another)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over every phase")
    parser.add_argument("--per-phase", type=int, default=24, help="PUTs per phase")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="client read timeout (SwiftContentsManager.request_timeout)")
    parser.add_argument("--stall", type=float, default=17.0,
                        help="seconds the factory is stopped in the busy-factory phase "
                             "(past the gateway's 15 s SBus deadline); 0: no such phase")
    parser.add_argument("--idle", type=float, default=0.0,
                        help="also wait this long (e.g. 310: past the daemons' 300 s idle "
                             "exit) before one more phase")
    parser.add_argument("--data-dir", help="use this running s2aio instead of a new one")
    args = parser.parse_args(argv)
    tally = Tally()
    began = time.monotonic()
    with _s2aio(args.data_dir) as aio:
        from deploy.api import deploy

        conn = aio.connection("test")
        deploy(conn, warm=True)
        container = "hiccups"
        conn.put_container(container)
        url, token = conn.get_auth()
        bodies = [notebook(size, seed) for seed, size in enumerate(SIZES * 2)]
        for rnd in range(args.rounds):
            for chunked in (False, True):
                for n in CONCURRENCY:
                    for fresh in (False, True):
                        if fresh:
                            kill_sandbox(aio)
                        phase = (f"r{rnd}-c{n}-{'chunked' if chunked else 'length'}"
                                 f"-{'new-sandbox' if fresh else 'warm'}")
                        print(phase, flush=True)
                        run_phase(phase, url, token, container, bodies, n, args.per_phase,
                                  chunked, args.timeout, tally)
        if args.stall > 0:
            run_phase("warm-up", url, token, container, bodies[:1], 1, 1, False,
                      args.timeout, tally)
            print(f"busy-factory: factory stopped for {args.stall:g} s", flush=True)
            print("  " + stalled_factory_phase(aio, url, token, container, bodies, args.stall,
                                               args.timeout, tally), flush=True)
        if args.idle > 0:
            print(f"idle {args.idle:g} s", flush=True)
            time.sleep(args.idle)
            for chunked in (False, True):
                run_phase(f"after-idle-{'chunked' if chunked else 'length'}", url, token,
                          container, bodies, 4, args.per_phase, chunked, args.timeout, tally)
        conn.close()
    total = sum(tally.counts.values())
    by_outcome = collections.Counter()
    for (_, outcome), n in tally.counts.items():
        by_outcome[outcome] += n
    secs = sorted(tally.seconds)
    print(f"storlet_put_hiccups: {total} PUTs in {time.monotonic() - began:.0f} s: "
          + ", ".join(f"{k}={v}" for k, v in sorted(by_outcome.items())))
    if secs:
        print(f"  per PUT: median {secs[len(secs) // 2] * 1000:.0f} ms, "
              f"max {secs[-1] * 1000:.0f} ms")
    for key, detail in tally.examples.items():
        print(f"  first {key}: {detail}")
    return 0 if by_outcome["ok"] == total else 1


class _s2aio:
    """A running s2aio named by its data dir, or a fresh one (removed at the end)."""

    def __init__(self, data_dir: str | None) -> None:
        self.data_dir = data_dir
        self._fresh = None

    def __enter__(self):
        if self.data_dir:
            from s2aio import S2AIO

            return S2AIO(self.data_dir)
        self._fresh = fresh_s2aio()
        return self._fresh.__enter__()

    def __exit__(self, *exc) -> None:
        if self._fresh is not None:
            self._fresh.__exit__(*exc)


if __name__ == "__main__":
    sys.exit(main())
