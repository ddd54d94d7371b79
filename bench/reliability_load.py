"""Reliability, load section: concurrent clients on jupyter_server's REST API over Swift.

``CLIENTS`` threads, each with its own HTTP session, run ``OPS`` mixed operations
(save, get, list, rename, checkpoint create/list/restore, checkpoint diff, notebook
listing) on files they own, plus conditional saves of a few shared notebooks.
Every acknowledged save is recorded; at the end every object is read straight
from Swift and compared with the last acknowledged save: a difference is a lost
write (an older acknowledged version) or a torn one (anything else).

Run standalone: ``python -m bench.reliability_load [--quick]`` (starts its own s2aio).
"""
from __future__ import annotations

import json
import random
import statistics
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from bench._jupyter import (Client, JupyterServer, Reply, cell_sources, notebook, read_object,
                            start_jupyter, wipe_container)

CLIENTS, OPS = 16, 50
QUICK_CLIENTS, QUICK_OPS = 4, 10
SHARED_FILES = 2
MAX_CHECKPOINTS = 5  # SwiftCheckpoints.max_checkpoints (default)
# The mix: kind -> weight. Saves dominate, as in an editor with autosave.
MIX = {"save": 30, "get": 12, "list": 8, "rename": 6, "checkpoint_create": 8,
       "checkpoint_list": 6, "checkpoint_restore": 5, "diff": 8, "listing": 7, "shared_save": 10}


@dataclass
class FileState:
    """What a client knows of one of its files: the last acknowledged content and
    each checkpoint's content (checkpoint id -> cell sources)."""

    cells: list[str]
    checkpoints: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Tally:
    """Figures of one run, shared by the clients (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    acked: int = 0
    conflicts: int = 0

    def record(self, kind: str, reply: Reply) -> None:
        with self.lock:
            self.times[kind].append(reply.elapsed)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def fallback(self, text: str) -> None:
        with self.lock:
            self.fallbacks.append(text)


@dataclass
class SharedAck:
    """One acknowledged save of a shared notebook: when it was sent and answered
    (this process's monotonic clock), the version it was based on, its cells."""

    sent: float
    done: float
    base: str
    cells: list[str]


@dataclass
class SharedFile:
    path: str
    acks: list[SharedAck] = field(default_factory=list)


def text_of(rng: random.Random, size: int) -> str:
    return "".join(rng.choice("abcdefghij klmnopqrstuvwxyz\n") for _ in range(size))


def new_cells(rng: random.Random, tag: str) -> list[str]:
    """Cells with a unique first line (so any two saves differ) and random text."""
    return [f"# {tag}"] + [text_of(rng, rng.randint(50, 1500)) for _ in range(rng.randint(1, 8))]


def stamp_fallback(model: Any) -> str | None:
    """The fallback reason of a saved/opened model's validation stamp, if any."""
    stamp = model.get("swift_validation") if isinstance(model, dict) else None
    if isinstance(stamp, dict) and stamp.get("validated_by") == "server":
        return str(stamp.get("fallback_reason") or "validated_by=server")
    return None


class LoadClient:
    """One simulated user: its own session, files under ``c<n>/``, a seeded mix."""

    def __init__(self, n: int, server: JupyterServer, tally: Tally,
                 shared: list[SharedFile], seed: int) -> None:
        self.n = n
        self.dir = f"c{n}"
        self.http: Client = server.client()
        self.tally = tally
        self.shared = shared
        self.rng = random.Random(seed * 1000 + n)
        self.files: dict[str, FileState] = {}
        self.counter = 0

    # -- helpers ----------------------------------------------------------------
    def call(self, kind: str, method: str, path: str, body: Any = None,
             ok: tuple[int, ...] = (200, 201, 204)) -> Reply | None:
        reply = self.http.request(method, path, body)
        self.tally.record(kind, reply)
        if reply.status not in ok:
            self.tally.error(f"{kind} {method} {path}: {reply.status} {reply.message()[:200]}")
            return None
        return reply

    def fresh_name(self) -> str:
        self.counter += 1
        return f"{self.dir}/nb{self.counter}.ipynb"

    def pick(self) -> str:
        return self.rng.choice(sorted(self.files))

    def save(self, path: str, kind: str = "save") -> None:
        cells = new_cells(self.rng, f"{path} v{uuid.uuid4().hex[:8]}")
        reply = self.call(kind, "PUT", f"/api/contents/{path}",
                          {"type": "notebook", "content": notebook(*cells)})
        if reply is None:
            return
        with self.tally.lock:
            self.tally.acked += 1
        reason = stamp_fallback(reply.json())
        if reason:
            self.tally.fallback(f"save {path}: {reason}")
        state = self.files.setdefault(path, FileState(cells))
        state.cells = cells
        if not state.checkpoints:  # the first save of a notebook makes a checkpoint
            listed = self.call("checkpoint_list", "GET", f"/api/contents/{path}/checkpoints")
            for cp in (listed.json() or []) if listed else []:
                state.checkpoints[cp["id"]] = cells

    # -- operations ---------------------------------------------------------------
    def setup(self) -> None:
        self.call("mkdir", "PUT", f"/api/contents/{self.dir}", {"type": "directory"})
        for _ in range(2):
            self.save(self.fresh_name())

    def op_save(self) -> None:
        if len(self.files) < 3 and self.rng.random() < 0.3:
            self.save(self.fresh_name())
        else:
            self.save(self.pick())

    def op_get(self) -> None:
        path = self.pick()
        reply = self.call("get", "GET", f"/api/contents/{path}")
        if reply is None:
            return
        model = reply.json()
        if cell_sources(model.get("content")) != self.files[path].cells:
            with self.tally.lock:
                self.tally.stale.append(f"get {path}: not the last acknowledged save")
        reason = stamp_fallback(model)
        if reason:
            self.tally.fallback(f"get {path}: {reason}")

    def op_list(self) -> None:
        reply = self.call("list", "GET", f"/api/contents/{self.dir}")
        if reply is None:
            return
        names = {e["path"] for e in reply.json()["content"]}
        if names != set(self.files):
            with self.tally.lock:
                self.tally.stale.append(f"list {self.dir}: {sorted(names ^ set(self.files))}")

    def op_rename(self) -> None:
        old, new = self.pick(), self.fresh_name()
        if self.call("rename", "PATCH", f"/api/contents/{old}", {"path": new}) is not None:
            self.files[new] = self.files.pop(old)

    def op_checkpoint_create(self) -> None:
        path = self.pick()
        reply = self.call("checkpoint_create", "POST", f"/api/contents/{path}/checkpoints")
        if reply is None:
            return
        state = self.files[path]
        state.checkpoints[reply.json()["id"]] = state.cells
        for old in sorted(state.checkpoints)[:-MAX_CHECKPOINTS]:
            del state.checkpoints[old]  # the manager deletes the oldest beyond the limit

    def op_checkpoint_list(self) -> None:
        path = self.pick()
        reply = self.call("checkpoint_list", "GET", f"/api/contents/{path}/checkpoints")
        if reply is None:
            return
        ids = {cp["id"] for cp in reply.json()}
        if ids != set(self.files[path].checkpoints):
            self.tally.error(f"checkpoint_list {path}: {sorted(ids)} != "
                             f"{sorted(self.files[path].checkpoints)}")

    def pick_checkpoint(self) -> tuple[str, FileState, str] | None:
        """A file and one of its checkpoints; None (after making one) if it has none."""
        path = self.pick()
        state = self.files[path]
        if not state.checkpoints:
            self.op_checkpoint_create()
            return None
        return path, state, self.rng.choice(sorted(state.checkpoints))

    def op_checkpoint_restore(self) -> None:
        picked = self.pick_checkpoint()
        if picked is None:
            return
        path, state, cp = picked
        if self.call("checkpoint_restore", "POST",
                     f"/api/contents/{path}/checkpoints/{cp}") is not None:
            state.cells = state.checkpoints[cp]
            with self.tally.lock:
                self.tally.acked += 1  # a restore is a write too: it must be the final state

    def op_diff(self) -> None:
        picked = self.pick_checkpoint()
        if picked is None:
            return
        path, _, cp = picked
        reply = self.call("diff", "GET", f"/api/swiftcontents/diff/{path}?checkpoint={cp}"
                                         "&format=nbdime")
        if reply is None:
            return
        doc = reply.json()
        if doc.get("computed_by") != "storlet":
            self.tally.fallback(f"diff {path}: {doc.get('fallback_reason')}")
        if not isinstance(doc.get("diff"), list):
            self.tally.error(f"diff {path}: no diff in {str(doc)[:200]}")

    def op_listing(self) -> None:
        reply = self.call("listing", "GET", f"/api/swiftcontents/listing/{self.dir}")
        if reply is None:
            return
        doc = reply.json()
        if doc.get("computed_by") != "storlet":
            self.tally.fallback(f"listing {self.dir}: {doc.get('fallback_reason')}")
        names = {f"{self.dir}/{row.get('name')}" for row in doc.get("notebooks", [])}
        if names != set(self.files):
            with self.tally.lock:
                self.tally.stale.append(f"listing {self.dir}: {sorted(names ^ set(self.files))}")

    def op_shared_save(self) -> None:
        """Read a shared notebook, then save it conditionally on the hash read:
        a 409 (someone else saved in between) is an expected answer, not an error."""
        shared = self.rng.choice(self.shared)
        got = self.call("get", "GET", f"/api/contents/{shared.path}?hash=1")
        if got is None:
            return
        base = got.json().get("hash")
        cells = new_cells(self.rng, f"{shared.path} by c{self.n} {uuid.uuid4().hex[:8]}")
        sent = time.monotonic()
        reply = self.call("shared_save", "PUT", f"/api/contents/{shared.path}",
                          {"type": "notebook", "content": notebook(*cells),
                           "path": shared.path, "hash": base}, ok=(200, 201, 409))
        if reply is None:
            return
        if reply.status == 409:
            with self.tally.lock:
                self.tally.conflicts += 1
            return
        model = reply.json()
        reason = stamp_fallback(model)
        if reason:
            self.tally.fallback(f"shared save {shared.path}: {reason}")
        with self.tally.lock:
            self.tally.acked += 1
            shared.acks.append(SharedAck(sent, time.monotonic(), str(base), cells))

    def run(self, ops: int) -> None:
        kinds, weights = zip(*MIX.items())
        actions: dict[str, Callable[[], None]] = {k: getattr(self, f"op_{k}") for k in kinds}
        try:
            for _ in range(ops):
                if not self.files:
                    self.save(self.fresh_name())
                    continue
                actions[self.rng.choices(kinds, weights)[0]]()
        except Exception as exc:  # a client bug or an unparsable answer: count, never hide
            self.tally.error(f"client {self.n} stopped: {type(exc).__name__}: {exc}")
        finally:
            self.http.close()


# -- verification straight from Swift ---------------------------------------------
def swift_cells(conn, container: str, name: str) -> list[str] | None | str:
    """The stored notebook's cell sources; None if missing; "torn" if unreadable."""
    got = read_object(conn, container, name)
    if got is None:
        return None
    try:
        return cell_sources(json.loads(got[1])) or "torn"
    except ValueError:
        return "torn"


def verify(conn, container: str, clients: list[LoadClient],
           shared: list[SharedFile]) -> dict[str, list[str]]:
    """Every object against the last acknowledged save: lost, torn, stray objects."""
    lost, torn, strays = [], [], []
    for client in clients:
        _, rows = conn.get_container(container, prefix=client.dir + "/", full_listing=True)
        stored = {r["name"] for r in rows} - {client.dir + "/"}  # minus the folder's marker
        strays += sorted(stored - set(client.files))  # renamed-away names still there
        for path, state in client.files.items():
            cells = swift_cells(conn, container, path)
            if cells == state.cells:
                continue
            (torn if cells == "torn" else lost).append(path)
    for sf in shared:
        problem = shared_problem(sf, swift_cells(conn, container, sf.path))
        if problem:
            (torn if problem == "torn" else lost).append(f"{sf.path}: {problem}")
    return {"lost": lost, "torn": torn, "strays": strays}


def shared_problem(sf: SharedFile, stored: Any) -> str | None:
    """What is wrong with a shared notebook's final object, if anything.

    Saves that overlapped in time may land in either order; a save acknowledged
    before another was sent must not win over it."""
    match = [a for a in sf.acks if a.cells == stored]
    if not match:
        return {None: "missing", "torn": "torn"}.get(stored, "not any acknowledged save")
    winner = match[0]
    later = [a for a in sf.acks if a.sent > winner.done]
    if later:
        return f"an older save won over {len(later)} save(s) sent after it was acknowledged"
    return None


def unseen_overwrites(shared: list[SharedFile]) -> int:
    """Acknowledged conditional saves that another acknowledged save of the same base
    version overwrote (the HEAD-then-PUT window: Swift has no If-Match on PUT)."""
    total = 0
    for sf in shared:
        bases = defaultdict(int)
        for ack in sf.acks:
            bases[ack.base] += 1
        total += sum(n - 1 for n in bases.values())
    return total


def percentile(samples: list[float], q: float) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def latency_lines(times: dict[str, list[float]]) -> list[str]:
    every = [t for kind in times for t in times[kind]]
    lines = [f"  {'operation':<19} {'n':>5} {'p50 ms':>9} {'p95 ms':>9}"]
    for kind in sorted(times) + ["overall"]:
        samples = every if kind == "overall" else times[kind]
        if samples:
            lines.append(f"  {kind:<19} {len(samples):>5} {percentile(samples, 50) * 1000:>9.1f}"
                         f" {percentile(samples, 95) * 1000:>9.1f}")
    return lines


def run_load(server: JupyterServer, conn, *, clients: int, ops: int,
             seed: int = 1) -> dict[str, Any]:
    """Drive ``clients`` x ``ops`` through ``server``; the figures and what went wrong."""
    tally = Tally()
    shared = [SharedFile(f"shared/s{k}.ipynb") for k in range(SHARED_FILES)]
    boot = Client(server.url, server.token)
    boot.request("PUT", "/api/contents/shared", {"type": "directory"})
    for sf in shared:
        cells = [f"# {sf.path} initial"]
        sent = time.monotonic()
        reply = boot.request("PUT", f"/api/contents/{sf.path}",
                             {"type": "notebook", "content": notebook(*cells)})
        if reply.ok:
            sf.acks.append(SharedAck(sent, time.monotonic(), "initial", cells))
        else:
            tally.error(f"shared setup {sf.path}: {reply.status} {reply.message()[:200]}")
    boot.close()
    workers = [LoadClient(n, server, tally, shared, seed) for n in range(clients)]
    threads = [threading.Thread(target=lambda w=w: (w.setup(), w.run(ops)), daemon=True)
               for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    found = verify(conn, server.container, workers, shared)
    return {"tally": tally, "found": found, "unseen": unseen_overwrites(shared),
            "ops": sum(len(v) for v in tally.times.values())}


def summarize(result: dict[str, Any], clients: int, ops: int) -> dict[str, Any]:
    tally, found = result["tally"], result["found"]
    lines = [f"load: {clients} clients x {ops} mixed operations "
             f"({result['ops']} HTTP requests) through jupyter_server's REST API",
             *latency_lines(tally.times),
             f"  acknowledged writes: {tally.acked}; conditional saves refused (409): "
             f"{tally.conflicts}; overwritten unseen in the HEAD-then-PUT window: "
             f"{result['unseen']}",
             f"  errors: {len(tally.errors)} (target 0)",
             f"  lost writes: {len(found['lost'])}, torn writes: {len(found['torn'])} "
             f"(target 0); renamed-away objects left: {len(found['strays'])} (target 0)",
             f"  stale reads (get/list/listing not showing the last acknowledged state): "
             f"{len(tally.stale)} (target 0)",
             f"  storlet fallbacks (computed_by/validated_by server): {len(tally.fallbacks)} "
             "(target 0)"]
    failures = [*(f"error: {e}" for e in tally.errors[:20]),
                *(f"lost write: {p}" for p in found["lost"]),
                *(f"torn write: {p}" for p in found["torn"]),
                *(f"renamed-away object left: {p}" for p in found["strays"]),
                *(f"stale: {s}" for s in tally.stale[:20]),
                *(f"fallback: {f}" for f in tally.fallbacks[:20])]
    return {"section": "load", "lines": lines, "ok": not failures, "failures": failures,
            "figures": {"errors": len(tally.errors), "lost": len(found["lost"]),
                        "torn": len(found["torn"]), "fallbacks": len(tally.fallbacks),
                        "stale": len(tally.stale), "acked": tally.acked,
                        "p50_ms": {k: percentile(v, 50) * 1000 for k, v in tally.times.items()},
                        "p95_ms": {k: percentile(v, 95) * 1000 for k, v in tally.times.items()}}}


def run(aio, *, quick: bool = False, clients: int | None = None,
        ops: int | None = None) -> dict[str, Any]:
    """The load section on a started s2aio with the storlets deployed (account test)."""
    clients = clients or (QUICK_CLIENTS if quick else CLIENTS)
    ops = ops or (QUICK_OPS if quick else OPS)
    container = f"rel-load-{uuid.uuid4().hex[:8]}"
    server = start_jupyter(aio.env("test"), container, storlets="auto",
                           extra=("--SwiftContentsManager.pool_size=16",))
    conn = aio.connection("test")
    try:
        result = run_load(server, conn, clients=clients, ops=ops)
    finally:
        server.stop()
        wipe_container(conn, container)
        conn.close()
    return summarize(result, clients, ops)


if __name__ == "__main__":
    from bench.reliability import standalone

    raise SystemExit(standalone(run))
