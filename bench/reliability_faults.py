"""Reliability, faults section: each fault injected while saves run, then restored, then checked.

1. a storage node down mid-save (needs a replicated s2aio): saves still acknowledged
   and readable; once the node is back, the object reaches its disk within a bound;
2. the Swift proxy killed (SIGKILL) during saves: a clear 503 (never a 500 or a
   traceback), nothing half-written; after ``aio.start()`` the next save works;
3. memcached stopped: the same;
4. the validation storlet's daemon killed mid-invocation: a clear answer (the
   fallback or a clear error), nothing lost, the engine serves the next call;
5. a storlet hanging past its budget (its own s2aio with ``storlet_timeout=4``): a
   clear 4xx/5xx within the budget, and the engine serves the next call;
6. Swift answering 507 and 413 (a fault proxy between jupyter_server and Swift):
   clear errors naming them, the stored notebook untouched.

Every fault is counted as injected and, if every check passed, survived.
Run standalone: ``python -m bench.reliability_faults [--quick]``.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from bench._jupyter import (REPO, JupyterServer, Reply, cell_sources, notebook, start_jupyter,
                            wipe_container)
from bench.reliability_load import stamp_fallback, swift_cells
from tests.swiftcontents.faultproxy import FaultProxy

CONVERGE_S = 90.0  # a node back up has the objects it missed within this (replicator passes)
RECOVER_S = 90.0  # a fault's answer or recovery must come within this (memcache: 60 s)
HANG_BUDGET_S = 4  # storlet_timeout of the hanging-storlet s2aio
CLEAR_STATUSES = (413, 422, 503, 504, 507)


@dataclass
class Attempt:
    """One save: its content, the answer, and what the answer said about validation."""

    cells: list[str]
    reply: Reply
    fallback: str | None = None


@dataclass
class Outcome:
    name: str
    injected: bool = False
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return self.injected and not self.failures

    def check(self, condition: bool, failure: str) -> bool:
        if not condition:
            self.failures.append(failure)
        return condition


class Saver(threading.Thread):
    """Saves ``path`` again and again (new content each time) until stopped."""

    def __init__(self, server: JupyterServer, path: str, cells: int = 4,
                 cell_bytes: int = 200) -> None:
        super().__init__(daemon=True)
        self.http = server.client()
        self.path, self.cells, self.cell_bytes = path, cells, cell_bytes
        self.attempts: list[Attempt] = []
        self.stopping = threading.Event()
        self.changed = threading.Condition()

    def save_once(self) -> Attempt:
        tag = uuid.uuid4().hex
        cells = [f"# {self.path} {tag}"] + [tag[i % 32] * self.cell_bytes
                                             for i in range(self.cells)]
        reply = self.http.request("PUT", f"/api/contents/{self.path}",
                                  {"type": "notebook", "content": notebook(*cells)})
        attempt = Attempt(cells, reply, stamp_fallback(reply.json()) if reply.ok else None)
        with self.changed:
            self.attempts.append(attempt)
            self.changed.notify_all()
        return attempt

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.save_once()
                if not self.attempts[-1].reply.ok:
                    self.stopping.wait(0.2)  # a failing save answers fast: do not spin
        finally:
            self.http.close()

    def wait_for(self, predicate: Callable[[list[Attempt]], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self.attempts), timeout)

    def finish(self) -> list[Attempt]:
        self.stopping.set()
        self.join(RECOVER_S * 2)
        return self.attempts


def acked(attempts: list[Attempt]) -> list[Attempt]:
    return [a for a in attempts if a.reply.ok]


def failed(attempts: list[Attempt]) -> list[Attempt]:
    return [a for a in attempts if not a.reply.ok]


def clear_error(reply: Reply, statuses: tuple[int, ...] = CLEAR_STATUSES) -> str | None:
    """Why an error answer is not clear (None if it is): a known status, a message,
    no traceback."""
    message = reply.message()
    if reply.status not in statuses:
        return f"status {reply.status}: {message[:200]}"
    if "Traceback" in message or not message.strip():
        return f"status {reply.status} without a clear message: {message[:200]}"
    return None


def check_saves(out: Outcome, attempts: list[Attempt], conn, container: str,
                path: str) -> None:
    """Failed saves were clear; the stored notebook is the last acknowledged save, or a
    later attempt (a save that failed after Swift stored it), never torn or older."""
    for a in failed(attempts):
        problem = clear_error(a.reply)
        out.check(problem is None, f"unclear answer: {problem}")
    done = acked(attempts)
    stored = swift_cells(conn, container, path)
    if not done:
        out.failures.append("no save was acknowledged")
        return
    last = attempts.index(done[-1])
    allowed = [a.cells for a in attempts[last:]]
    if stored == done[-1].cells:
        return
    if stored in allowed:
        out.lines.append("    a save answered as failed was stored anyway (Swift wrote it "
                         "before the fault cut the answer)")
        return
    out.failures.append("stored notebook is " + ("torn" if stored == "torn" else
                        "missing" if stored is None else "not the last acknowledged save"))


def summary_of(attempts: list[Attempt]) -> str:
    statuses: dict[int, int] = {}
    for a in attempts:
        statuses[a.reply.status] = statuses.get(a.reply.status, 0) + 1
    fell_back = sum(1 for a in attempts if a.fallback)
    return (f"{len(attempts)} saves: " + ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items()))
            + f" ({fell_back} validated in the server)")


def first_error_line(attempts: list[Attempt]) -> str:
    bad = failed(attempts)
    return f"    e.g. {bad[0].reply.status} {bad[0].reply.message()[:160]}" if bad else ""


# -- 1. a node down mid-save --------------------------------------------------------
def object_on_nodes(aio, container: str, name: str) -> dict[str, str | None]:
    """Each primary node's X-Timestamp of the object, read from that node's disk
    (its object server, directly), by device name."""
    from swift.common import direct_client
    from swift.common.exceptions import ClientException
    from swift.common.ring import Ring

    from s2aio.server import use_swift_conf

    use_swift_conf(str(aio.layout.swift_conf))
    account = urlsplit(aio.storage_url("test")).path.rsplit("/", 1)[-1]
    part, nodes = Ring(str(aio.layout.etc), ring_name="object").get_nodes(account, container, name)
    found: dict[str, str | None] = {}
    for node in nodes:
        try:
            headers = direct_client.direct_head_object(node, part, account, container, name,
                                                       conn_timeout=5, response_timeout=10)
            found[node["device"]] = headers.get("X-Timestamp")
        except (ClientException, OSError):
            found[node["device"]] = None
    return found


def fault_node_down(aio, server: JupyterServer, conn, quick: bool) -> Outcome:
    out = Outcome("node 2 down mid-save")
    if not hasattr(aio, "node_stop") or getattr(aio, "replicas", 1) < 3:
        out.lines.append("  node down: not run: needs the 3-replica s2aio (replicas branch)")
        out.failures.append("node down: not run on a one-replica s2aio")
        return out
    path = "faults/node.ipynb"
    saver = Saver(server, path)
    saver.start()
    saver.wait_for(lambda a: len(acked(a)) >= 2, RECOVER_S)
    began = time.monotonic()
    aio.node_stop(2)
    out.injected = True
    saver.wait_for(lambda a: len(a) >= 2 + (3 if quick else 8), RECOVER_S)
    attempts = saver.finish()
    down_for = time.monotonic() - began
    out.lines.append(f"  node 2 down for {down_for:.1f} s: {summary_of(attempts)}")
    out.check(not failed(attempts), f"saves failed with node 2 down: {first_error_line(attempts)}")
    check_saves(out, attempts, conn, server.container, path)
    got = server.client()
    reply = got.request("GET", f"/api/contents/{path}")
    got.close()
    last = acked(attempts)[-1].cells if acked(attempts) else None
    out.check(reply.ok and cell_sources((reply.json() or {}).get("content")) == last,
              f"last acknowledged save not readable with node 2 down: {reply.status}")
    aio.node_start(2)
    want = conn.head_object(server.container, path).get("x-timestamp")
    deadline, began = time.monotonic() + CONVERGE_S, time.monotonic()
    copies = object_on_nodes(aio, server.container, path)
    while set(copies.values()) != {want} and time.monotonic() < deadline:
        time.sleep(2)
        copies = object_on_nodes(aio, server.container, path)
    if out.check(set(copies.values()) == {want},
                 f"not converged {CONVERGE_S:.0f} s after node 2 came back: {copies}"):
        out.lines.append(f"  node 2 back: every replica holds the last save after "
                         f"{time.monotonic() - began:.1f} s (bound {CONVERGE_S:.0f} s)")
    return out


# -- 2 and 3. a process of the cluster killed or stopped ------------------------------
def pid_of(aio, name: str) -> int:
    from s2aio import procs

    pid = procs.read_pid_file(aio.layout.pid_file(name))
    if pid is None:
        raise RuntimeError(f"{name} is not running")
    return pid


def kill_pid(aio, name: str, sig: int) -> Callable[[], None]:
    """Signal the process in ``name``'s pid file (a Swift server's parent: its worker lives on)."""
    return lambda: os.kill(pid_of(aio, name), sig)


def kill_group(aio, name: str, sig: int) -> Callable[[], None]:
    """Signal the pid file's process and its workers (the whole service dies)."""
    return lambda: os.killpg(pid_of(aio, name), sig)


def restore(aio, timeout: float = RECOVER_S) -> list[str]:
    """``aio.start()`` until it works (within ``timeout``); what failed on the way.

    After memcached restarts, Swift's proxy keeps it error-limited for up to 60 s
    (``error_suppression_interval``), so logins, and start's own account check, answer
    503 until then."""
    from s2aio import S2AIOError

    problems: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            aio.start()
            return problems
        except S2AIOError as exc:
            problems.append(str(exc))
            if time.monotonic() > deadline:
                raise
            time.sleep(5)


def fault_process(aio, server: JupyterServer, conn, name: str, kill: Callable[[], None],
                  label: str, quick: bool, outage: bool = True) -> Outcome:
    """``kill`` while saves run; failed saves must be clear 503s (and, with ``outage``,
    some must fail); ``aio.start()`` restores; saves work again; nothing half-written."""
    out = Outcome(label)
    path = f"faults/{name}-{uuid.uuid4().hex[:6]}.ipynb"
    saver = Saver(server, path)
    saver.start()
    saver.wait_for(lambda a: len(acked(a)) >= 2, RECOVER_S)
    before = len(saver.attempts)
    kill()
    out.injected = True
    wanted = (2 if quick else 4)
    saver.wait_for(lambda a: len((failed if outage else list)(a[before:])) >= wanted, RECOVER_S)
    began = time.monotonic()
    problems = restore(aio)
    restarted = time.monotonic() - began
    if problems:
        out.lines.append(f"  aio.start() failed {len(problems)} time(s) before it worked: "
                         f"{problems[0]}")
    during = len(saver.attempts)
    recovered = saver.wait_for(lambda a: bool(acked(a[during:])), RECOVER_S)
    back = time.monotonic() - began
    attempts = saver.finish()
    out.lines.append(f"  {summary_of(attempts)}")
    if failed(attempts):
        out.lines.append(first_error_line(attempts))
    if outage:
        out.check(bool(failed(attempts[before:])), "no save failed while it was down")
    out.check(recovered, f"no save worked within {RECOVER_S:.0f} s of aio.start()")
    out.lines.append(f"  restored by aio.start() in {restarted:.1f} s; a save acknowledged "
                     f"{back:.1f} s after the restart began")
    check_saves(out, attempts, conn, server.container, path)
    return out


# -- 4. the sandbox killed mid-invocation -----------------------------------------------
def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc's children lists)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running(pid: int) -> bool:
    """Alive and not a zombie (a finished task the daemon has not collected yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def storlet_daemons(aio, storlet: str) -> dict[int, list[int]]:
    """The storlet daemons running ``storlet`` in this s2aio's sandboxes, each with
    its task processes (one forked per invocation): {daemon pid: [task pids]}."""
    from s2aio import procs
    from s2aio.agent import engine_role

    sbox = str(aio.layout.root / "sbox") + "/"
    found: dict[int, list[int]] = {}
    for top in procs.processes_mentioning(sbox):
        for pid in descendants(top):
            role = engine_role(cmdline(pid).split())
            if role is not None and role[0] == "daemon" and role[1].split(".")[0] == storlet:
                found[pid] = [t for t in descendants(pid) if running(t)]
    return found


def kill_mid_invocation(aio, storlet: str, timeout: float) -> tuple[list[int], bool]:
    """SIGKILL a daemon of ``storlet`` and its tasks, preferably while one runs (a task
    exists). The pids killed, and whether a task was running."""
    deadline = time.monotonic() + timeout
    while True:
        daemons = storlet_daemons(aio, storlet)
        busy = {d: tasks for d, tasks in daemons.items() if tasks}
        chosen = busy or (daemons if time.monotonic() > deadline else {})
        if chosen:
            killed = []
            for pid in [t for tasks in chosen.values() for t in tasks] + list(chosen):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            return killed, bool(busy)
        if time.monotonic() > deadline + 5:
            return [], False
        time.sleep(0.01)


def fault_sandbox(aio, server: JupyterServer, conn, quick: bool) -> Outcome:
    out = Outcome("validation storlet's daemon killed mid-invocation")
    path = "faults/sandbox.ipynb"
    saver = Saver(server, path, cells=40, cell_bytes=20_000)  # ~800 KB: validation takes time
    saver.start()
    # After an engine fault, 'auto' validates in the server for 60 s: wait for the storlet.
    saver.wait_for(lambda a: len([x for x in acked(a) if not x.fallback]) >= 2, RECOVER_S)
    before = len(saver.attempts)
    killed, mid = kill_mid_invocation(aio, "nbvalidate", 20.0)
    out.injected = bool(killed)
    if not out.check(bool(killed), "no daemon of nbvalidate.py found to kill"):
        saver.finish()
        return out
    saver.wait_for(lambda a: len(a) >= before + (3 if quick else 6), RECOVER_S)
    attempts = saver.finish()
    out.lines.append(f"  killed {len(killed)} process(es) (daemon + tasks), "
                     f"{'with' if mid else 'without'} a validation running: "
                     f"{summary_of(attempts[before:])}")
    if failed(attempts):
        out.lines.append(first_error_line(attempts))
    check_saves(out, attempts, conn, server.container, path)
    out.check(bool(acked(attempts[before + 1:])), "no save worked after the kill")
    began = time.monotonic()
    status, detail = run_storlet(conn, server.container, path, "nbvalidate.py", "mode=report")
    out.check(status == 200, f"the engine did not serve the next call: {status} {detail}")
    out.lines.append(f"  next direct nbvalidate.py call: {status} after "
                     f"{time.monotonic() - began:.1f} s (the engine restarts the daemon)")
    return out


def run_storlet(conn, container: str, name: str, storlet: str, query: str) -> tuple[int, str]:
    from swiftclient import ClientException

    try:
        _, body = conn.get_object(container, name, headers={"X-Run-Storlet": storlet},
                                  query_string=query)
        return 200, body[:120].decode(errors="replace")
    except ClientException as exc:
        return exc.http_status or 0, str(exc)[:300]


# -- 5. a storlet hanging past its budget ---------------------------------------------
def fault_hanging_storlet(quick: bool) -> Outcome:
    from s2aio.configs import GatewaySettings
    from swiftproto import storlet_object_headers

    from bench.reliability import start_aio

    out = Outcome(f"storlet hanging past storlet_timeout={HANG_BUDGET_S} s")
    aio, _ = start_aio(replicas=1, gateway=GatewaySettings(storlet_timeout=HANG_BUDGET_S),
                       prefix="s2aio-hang")
    try:
        conn = aio.connection("test")
        source = (REPO / "tests" / "files" / "storlets" / "hostile.py").read_bytes()
        conn.put_object("storlet", "hostile.py", source,
                        headers=storlet_object_headers("hostile.Hostile"))
        conn.put_container("h")
        conn.put_object("h", "in", b"x")
        status, detail = run_storlet(conn, "h", "in", "hostile.py", "attack=status")
        out.check(status == 200, f"the hostile storlet did not run at all: {status} {detail}")
        began = time.monotonic()
        status, detail = run_storlet(conn, "h", "in", "hostile.py", "attack=spin&seconds=60")
        took = time.monotonic() - began
        out.injected = True
        out.lines.append(f"  a storlet spinning 60 s: {status} after {took:.1f} s: {detail[:160]}")
        out.check(400 <= status < 600 and status != 500, f"answer {status} is not a clear error")
        out.check(took < HANG_BUDGET_S + 6, f"answered after {took:.1f} s, budget {HANG_BUDGET_S} s")
        began = time.monotonic()
        status, detail = run_storlet(conn, "h", "in", "hostile.py", "attack=status")
        out.check(status == 200, f"the engine did not serve the next call: {status} {detail}")
        out.lines.append(f"  next call: {status} after {time.monotonic() - began:.1f} s")
        conn.close()
    finally:
        aio.reset()
    return out


# -- 6. Swift answering 507 and 413 ------------------------------------------------------
def fault_swift_status(aio, conn, quick: bool) -> Outcome:
    """jupyter_server reaches Swift through a fault proxy that answers PUTs with 507,
    then 413: each save is a clear error naming it; the stored notebook is untouched."""
    out = Outcome("Swift answering 507 and 413")
    url, token = conn.get_auth()
    proxy = FaultProxy(urlsplit(aio.proxy_url).port)
    through = urlunsplit(urlsplit(url)._replace(netloc=f"127.0.0.1:{proxy.port}"))
    container = f"rel-status-{uuid.uuid4().hex[:8]}"
    server = start_jupyter({"OS_STORAGE_URL": through, "OS_AUTH_TOKEN": token}, container,
                           extra=("--SwiftContentsManager.retries=1",))
    http = server.client()
    try:
        path = "status.ipynb"
        first = ["# stored before the faults"]
        reply = http.request("PUT", f"/api/contents/{path}",
                             {"type": "notebook", "content": notebook(*first)})
        out.check(reply.ok, f"setup save failed: {reply.status} {reply.message()[:200]}")
        for status in (507, 413):
            proxy.mode, proxy.status, proxy.methods = "status", status, ("PUT",)
            out.injected = True
            reply = http.request("PUT", f"/api/contents/{path}",
                                 {"type": "notebook", "content": notebook(f"# during {status}")})
            message = reply.message()
            out.lines.append(f"  Swift {status} on PUT: save answered {reply.status}: "
                             f"{message[:200]}")
            out.check(not reply.ok and clear_error(reply) is None,
                      f"{status}: unclear answer {reply.status}: {message[:200]}")
            out.check(str(status) in message, f"{status}: the message does not name it")
            proxy.mode = "pass"
            out.check(swift_cells(conn, container, path) == first,
                      f"{status}: the stored notebook changed")
        reply = http.request("PUT", f"/api/contents/{path}",
                             {"type": "notebook", "content": notebook("# after")})
        out.check(reply.ok, f"save after the faults failed: {reply.status}")
    finally:
        http.close()
        server.stop()
        proxy.close()
        wipe_container(conn, container)
    return out


# -- the section -------------------------------------------------------------------
def run(aio, *, quick: bool = False) -> dict[str, Any]:
    """Inject every fault into ``aio`` (left running and healthy afterwards)."""
    container = f"rel-faults-{uuid.uuid4().hex[:8]}"
    server = start_jupyter(aio.env("test"), container, storlets="auto")
    conn = aio.connection("test")
    outcomes: list[Outcome] = []

    def attempt(name: str, fn: Callable[[], Outcome]) -> None:
        try:
            outcomes.append(fn())
        except Exception as exc:  # a fault that breaks the harness is not survived
            outcomes.append(Outcome(name, injected=True,
                                    failures=[f"{type(exc).__name__}: {exc}"]))
        if not aio.status().healthy:
            restore(aio)  # leave the cluster healthy for the next fault

    try:
        boot = server.client()
        boot.request("PUT", "/api/contents/faults", {"type": "directory"})
        boot.close()
        attempt("node down", lambda: fault_node_down(aio, server, conn, quick))
        attempt("sandbox killed", lambda: fault_sandbox(aio, server, conn, quick))
        attempt("proxy's parent killed", lambda: fault_process(
            aio, server, conn, "proxy", kill_pid(aio, "proxy", signal.SIGKILL),
            "proxy SIGKILLed (the pid in its pid file; its worker is orphaned)", quick, outage=False))
        attempt("proxy killed", lambda: fault_process(
            aio, server, conn, "proxy", kill_group(aio, "proxy", signal.SIGKILL),
            "proxy killed (SIGKILL to it and its worker)", quick))
        attempt("memcached stopped", lambda: fault_process(
            aio, server, conn, "memcached", kill_pid(aio, "memcached", signal.SIGTERM),
            "memcached stopped", quick))
        attempt("storlet hanging", lambda: fault_hanging_storlet(quick))
        attempt("507/413", lambda: fault_swift_status(aio, conn, quick))
    finally:
        server.stop()
        wipe_container(conn, container)
        conn.close()
    injected = sum(o.injected for o in outcomes)
    survived = sum(o.survived for o in outcomes)
    lines = ["faults: each injected while saves run, then restored, then checked"]
    for o in outcomes:
        lines.append(f"  [{'survived' if o.survived else 'NOT survived'}] {o.name}")
        lines += [f"  {line}" for line in o.lines if line]
    lines.append(f"  faults injected: {injected}, survived: {survived} (target: all)")
    failures = [f"{o.name}: {f}" for o in outcomes for f in o.failures]
    return {"section": "faults", "lines": lines, "ok": not failures and survived == len(outcomes),
            "failures": failures, "figures": {"injected": injected, "survived": survived}}


if __name__ == "__main__":
    from bench.reliability import standalone

    raise SystemExit(standalone(run))
