"""Reliability campaign, collaboration section: two real-time clients of one notebook on Swift.

A real jupyter_server runs ``SwiftContentsManager`` with jupyter-collaboration enabled
(``jupyter_server_ydoc`` rooms, ``jupyter_server_fileid`` ids). Two clients join the
notebook's room over the websocket, each with its own ``pycrdt.Doc`` viewed as a
``jupyter_ydoc.YNotebook`` and kept in sync by ``pycrdt.Provider`` (the Y sync protocol).
Client A types into a cell, client B must see it. Two scenarios, repeated:

- **rename during unsaved typing**: A types after the last autosave and the notebook is
  renamed over REST before that typing is saved; A keeps typing. Afterwards both clients
  and the object in Swift hold every keystroke, the old name is gone, and the server
  never reloaded the room ("Out-of-band changes" in its log: that is the reload which
  throws typing away).
- **same-second outside write**: right after an autosave, a different notebook is PUT
  straight into Swift (another server, ``%put``) within the same second; A types on. The
  server must notice it (the room is reloaded from Swift: both clients show the outside
  content) and the next autosave must not overwrite it.

``run(aio, quick=False)`` returns the section's figures; ``python -m
bench.reliability_collab [--quick] [--replicas N]`` starts its own s2aio (one replica by
default). The server is ``bench/_jupyter.py``'s: the Jupyter token goes through a 0600
file (``JUPYTER_TOKEN_FILE``) and Swift's credentials through the environment, never on
a command line.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # ``python bench/reliability_collab.py`` puts bench/ first
    sys.path.insert(0, str(REPO))

from bench._jupyter import (Client, JupyterError, JupyterServer, cell_sources,  # noqa: E402
                            read_object, start_jupyter)

# Collaboration's timers, small to keep runs short (defaults: 1 s each).
SAVE_DELAY_S = 0.4  # document_save_delay: autosave after this much quiet
POLL_S = 0.25  # file_poll_interval: how often the room's file is checked for outside changes
SETTLE_S = 20.0  # longest wait for a state every part must reach
RELOAD_LINE = "Out-of-band changes"  # jupyter_server_ydoc's log line when it reloads a room


class CollabError(Exception):
    """The collaboration server or a client could not do its part."""


# -- the server ----------------------------------------------------------------------
EXTENSIONS = {"jupyter_server_ydoc": True, "jupyter_server_fileid": True}
SETTINGS = (f"--YDocExtension.document_save_delay={SAVE_DELAY_S}",
            f"--YDocExtension.file_poll_interval={POLL_S}")


async def start_server(swift_env: Mapping[str, str], home: Path | None = None) -> JupyterServer:
    """Start the server in ``home`` (a fresh temp dir by default: its ystore, session
    file and log live there) on a fresh container, and wait until it answers."""
    home = home or Path(tempfile.mkdtemp(prefix="jupyter-collab-"))
    try:
        return await asyncio.to_thread(
            start_jupyter, swift_env, f"collab-{uuid.uuid4().hex[:8]}", extensions=EXTENSIONS,
            extra=SETTINGS, home=home)
    except JupyterError as exc:
        raise CollabError(f"with collaboration: {exc}") from exc


def room_reloads(server: JupyterServer, room: str) -> int:
    """How often the server reloaded ``room`` from Swift over an outside change."""
    return sum(1 for line in server.log_text().splitlines()
               if RELOAD_LINE in line and room in line)


async def rest_ok(http: Client, method: str, path: str, body: Any = None) -> Any:
    """One REST call (in a thread: the event loop serves the rooms meanwhile); its JSON."""
    reply = await asyncio.to_thread(http.request, method, path, body)
    if not reply.ok:
        raise CollabError(f"{method} {path}: {reply.status} {reply.json() or reply.message()}")
    return reply.json()


# -- a client of a room -----------------------------------------------------------------
class _Channel:
    """A tornado websocket as the channel ``pycrdt.Provider`` reads and writes."""

    def __init__(self, conn: Any, path: str) -> None:
        self._conn, self._path = conn, path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> "_Channel":
        return self

    async def __anext__(self) -> bytes:
        message = await self._conn.read_message()
        if message is None:  # closed
            raise StopAsyncIteration
        return message.encode() if isinstance(message, str) else message

    async def recv(self) -> bytes:
        return await self.__anext__()

    async def send(self, message: bytes) -> None:
        await self._conn.write_message(message, binary=True)


class RoomClient:
    """One user of a notebook's room: a Y document synced over the websocket."""

    def __init__(self, name: str) -> None:
        from jupyter_ydoc import YNotebook
        from pycrdt import Doc

        self.name = name
        self.doc = Doc()
        self.notebook = YNotebook(self.doc)
        self._conn: Any = None
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    async def join(self, server: JupyterServer, room: str, session_id: str) -> None:
        from pycrdt import Provider
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = (server.url.replace("http://", "ws://", 1)
               + f"/api/collaboration/room/{quote(room, safe=':')}?sessionId={quote(session_id)}")
        self._conn = await websocket_connect(HTTPRequest(
            url, headers={"Authorization": f"token {server.token}"}, request_timeout=30))
        provider = Provider(self.doc, _Channel(self._conn, room))
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._serve(provider))
        await wait_for(lambda: provider.synced.is_set() and self.notebook.cell_number > 0,
                       f"{self.name} joined {room} and got the notebook")

    async def _serve(self, provider: Any) -> None:
        """The provider lives in one task (anyio's task group is entered and left there)."""
        async with provider:
            await self._stop.wait()

    def source(self, index: int = 0) -> str:
        return str(self.notebook.ycells[index]["source"])

    def sources(self) -> list[str]:
        return [str(c["source"]) for c in self.notebook.ycells]

    async def type(self, text: str, index: int = 0, pause: float = 0.01) -> None:
        """Keystrokes at the end of a cell, one Y transaction (one update) each."""
        for char in text:
            cell = self.notebook.ycells[index]["source"]
            cell.insert(len(cell), char)
            await asyncio.sleep(pause)

    async def leave(self) -> None:
        if self._task is not None:
            self._stop.set()
            try:
                await asyncio.wait_for(self._task, 10)
            except (asyncio.TimeoutError, Exception):
                self._task.cancel()
            self._task = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def wait_for(cond: Callable[[], Any], what: str, timeout: float = SETTLE_S,
                   every: float = 0.05) -> None:
    """Poll ``cond`` (sync or async) until true; CollabError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise CollabError(f"timed out after {timeout:.0f} s waiting until {what}")
        await asyncio.sleep(every)


# -- Swift, as the outside writer and the judge --------------------------------------------
@dataclasses.dataclass(frozen=True)
class Stored:
    """The object in Swift: its cells' sources, exact time (X-Timestamp) and ETag."""

    sources: list[str]
    timestamp: float
    etag: str


def stored(conn: Any, container: str, name: str) -> Stored | None:
    got = read_object(conn, container, name)
    if got is None:
        return None
    headers, body = got
    sources = cell_sources(json.loads(body))
    if sources is None:
        raise CollabError(f"{name} in Swift is not a notebook")
    return Stored(sources, float(headers["x-timestamp"]), headers["etag"].strip('"'))


def put_outside(conn: Any, container: str, name: str, sources: list[str]) -> Stored:
    """A different notebook PUT straight into Swift, as another server would."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(s) for s in sources]
    conn.put_object(container, name, nbformat.writes(nb).encode(),
                    content_type="application/x-ipynb+json")
    now = stored(conn, container, name)
    if now is None:
        raise CollabError(f"the outside write of {name} is not readable from Swift")
    return now


def new_notebook(sources: list[str]) -> dict[str, Any]:
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3",
                                                           "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_markdown_cell(s) for s in sources]
    return nb


# -- one shared notebook -------------------------------------------------------------------
@dataclasses.dataclass
class Shared:
    """A notebook open in two clients (A types, B watches) and its room."""

    server: JupyterServer
    http: Client  # REST, run in threads
    conn: Any  # swiftclient Connection (test account), run in threads
    path: str
    room: str
    a: RoomClient
    b: RoomClient

    async def swift(self, path: str | None = None) -> Stored | None:
        return await asyncio.to_thread(stored, self.conn, self.server.container,
                                       path or self.path)

    async def close(self) -> None:
        await self.a.leave()
        await self.b.leave()


async def open_shared(server: JupyterServer, http: Client, conn: Any, path: str,
                      sources: list[str]) -> Shared:
    """Create the notebook over REST, get its room, and join it with A and B."""
    await rest_ok(http, "PUT", f"/api/contents/{path}",
                  {"type": "notebook", "content": new_notebook(sources)})
    session = await rest_ok(http, "PUT", f"/api/collaboration/session/{path}",
                            {"format": "json", "type": "notebook"})
    room = f"json:notebook:{session['fileId']}"
    a, b = RoomClient("A"), RoomClient("B")
    await a.join(server, room, session["sessionId"])
    await b.join(server, room, session["sessionId"])
    return Shared(server, http, conn, path, room, a, b)


async def settled(shared: Shared, text: str, index: int = 0) -> Stored:
    """Wait until both clients and Swift show ``text`` in cell ``index``; Swift's copy."""
    await wait_for(lambda: shared.a.source(index) == text and shared.b.source(index) == text,
                   f"both clients show cell {index} = {text!r}")
    box: list[Stored] = []

    async def in_swift() -> bool:
        now = await shared.swift()
        box[:] = [now] if now else []
        return bool(now and len(now.sources) > index and now.sources[index] == text)

    await wait_for(in_swift, f"Swift holds cell {index} = {text!r} (an autosave)")
    return box[0]


async def sync_latencies(shared: Shared, keystrokes: int) -> list[float]:
    """Seconds from a keystroke of A to B showing it (through the server's room)."""
    seen: list[float] = []
    for i in range(keystrokes):
        want = shared.a.source() + chr(ord("a") + i % 26)
        began = time.perf_counter()
        await shared.a.type(want[-1], pause=0)
        await wait_for(lambda: shared.b.source() == want, "B sees A's keystroke", every=0.002)
        seen.append(time.perf_counter() - began)
    return seen


# -- scenario 1: a rename while A has unsaved typing --------------------------------------
@dataclasses.dataclass
class RenameOutcome:
    kept: bool  # every keystroke in both clients and in Swift, at the new name
    unsaved: bool  # Swift did not yet hold the typing when the rename started
    reloaded: bool  # the server reloaded the room from Swift
    rename_s: float = 0.0  # how long the PATCH took
    detail: str = ""


async def rename_during_typing(shared: Shared, trial: int) -> RenameOutcome:
    """A types (saved), types more (unsaved), the notebook is renamed, A types on."""
    saved_text = shared.a.source() + f" r{trial}"
    await shared.a.type(f" r{trial}")
    await settled(shared, saved_text)  # the last autosave before the rename
    reloads = room_reloads(shared.server, shared.room)

    unsaved_part, after_part = f" u{trial}-typed", f" a{trial}"
    await shared.a.type(unsaved_part, pause=0.005)
    before = await shared.swift()
    unsaved = before is not None and before.sources[0] == saved_text
    new_path = f"renamed-{trial}-{uuid.uuid4().hex[:6]}.ipynb"
    began = time.perf_counter()
    await rest_ok(shared.http, "PATCH", f"/api/contents/{shared.path}", {"path": new_path})
    took = time.perf_counter() - began
    old_path, shared.path = shared.path, new_path
    await shared.a.type(after_part)
    want = saved_text + unsaved_part + after_part
    try:
        await settled(shared, want)
        await asyncio.sleep(SAVE_DELAY_S + 2 * POLL_S)  # one more poll and save window
        await settled(shared, want, index=0)
    except CollabError as exc:
        now = await shared.swift()
        reloaded = room_reloads(shared.server, shared.room) > reloads
        return RenameOutcome(False, unsaved, reloaded, took,
                             f"{exc}; A={shared.a.source()!r} B={shared.b.source()!r} "
                             f"Swift={now.sources[0] if now else None!r}")
    old_left = await shared.swift(old_path)
    reloaded = room_reloads(shared.server, shared.room) > reloads
    kept = old_left is None and not reloaded
    detail = "" if kept else (f"old name still in Swift: {old_path}" if old_left is not None
                              else "the server reloaded the room from Swift")
    return RenameOutcome(kept, unsaved, reloaded, took, detail)


# -- scenario 2: an outside write in the same second as an autosave ------------------------
@dataclasses.dataclass
class OutsideOutcome:
    noticed: bool  # the room was reloaded from Swift: both clients show the outside content
    kept: bool  # after the next autosave, Swift still holds the outside content
    same_second: bool  # the outside write's time and the autosave's share their second
    detail: str = ""


async def _quiet_second_start(lead: float) -> None:
    """Sleep until ``lead`` seconds before a new second begins (so an autosave that
    follows typing by a little more than ``lead`` lands early in a second, leaving
    room after it)."""
    now = time.time()
    wait = (math.floor(now + lead) + 1 - lead - now) % 1.0
    await asyncio.sleep(wait)


async def outside_write_same_second(shared: Shared, trial: int) -> OutsideOutcome:
    marker = f" s{trial}"
    # The autosave starts ~0.1 s into a new second, whatever the save itself takes
    # (a save of ~40 ms started right at the boundary could land in the second before).
    await _quiet_second_start(SAVE_DELAY_S - 0.1)
    saved_text = shared.a.source() + marker
    await shared.a.type(marker, pause=0)
    previous = await shared.swift()
    box: list[Stored] = []

    async def autosaved() -> bool:  # the autosave, seen as soon as it lands
        now = await shared.swift()
        box[:] = [now] if now else []
        return bool(now and now.sources[0] == saved_text
                    and (previous is None or now.etag != previous.etag))

    await wait_for(autosaved, f"the autosave of {saved_text!r}", every=0.01)
    reloads = room_reloads(shared.server, shared.room)
    outside_cell = f"outside write {trial}"
    outside_sources = [f"outside {trial}: {uuid.uuid4().hex[:8]}", outside_cell]
    written = await asyncio.to_thread(put_outside, shared.conn, shared.server.container,
                                      shared.path, outside_sources)
    same_second = int(written.timestamp) == int(box[0].timestamp)
    await shared.a.type(f" t{trial}", pause=0)  # A types on: the next autosave is due
    try:
        await wait_for(lambda: outside_cell in shared.a.sources()
                       and outside_cell in shared.b.sources(),
                       "both clients show the outside write (the room reloaded)")
        noticed = True
    except CollabError:
        noticed = False
    await asyncio.sleep(SAVE_DELAY_S + 2 * POLL_S)  # the next autosave's window
    if shared.a.source() != shared.b.source():
        await wait_for(lambda: shared.a.sources() == shared.b.sources(), "A and B agree")
    try:
        await wait_for(lambda: _swift_matches(shared), "Swift holds what the clients show")
    except CollabError:
        pass
    now = await shared.swift()
    kept = bool(now and outside_cell in now.sources)
    noticed = noticed and room_reloads(shared.server, shared.room) > reloads
    detail = "" if noticed and kept else (
        f"noticed={noticed} kept={kept}: Swift={now.sources if now else None!r} "
        f"A={shared.a.sources()!r}")
    return OutsideOutcome(noticed, kept, same_second, detail)


async def _swift_matches(shared: Shared) -> bool:
    now = await shared.swift()
    return bool(now and now.sources == shared.a.sources())


# -- the section -----------------------------------------------------------------------------
async def campaign(swift_env: Mapping[str, str], conn: Any, renames: int, writes: int,
                   home: Path | None = None) -> dict[str, Any]:
    """Both scenarios on one server; figures and failures. The server's files stay in
    ``home`` when it is given (for a secrets scan), else they are removed."""
    server = await start_server(swift_env, home)
    http = server.client()
    failures: list[str] = []
    try:
        shared = await open_shared(server, http, conn, "collab.ipynb", ["# shared", "second cell"])
        try:
            await shared.a.type(" hello ")
            latencies = await sync_latencies(shared, 20)
            await settled(shared, shared.a.source())
            rename_results: list[RenameOutcome] = []
            for i in range(renames):
                try:
                    out = await rename_during_typing(shared, i)
                except CollabError as exc:  # (e.g. the PATCH refused): a failed trial
                    out = RenameOutcome(False, False, False, detail=str(exc))
                rename_results.append(out)
                if not out.kept:
                    failures.append(f"rename {i}: {out.detail}")
            write_results: list[OutsideOutcome] = []
            for i in range(writes):
                try:
                    out = await outside_write_same_second(shared, i)
                except CollabError as exc:
                    out = OutsideOutcome(False, False, False, detail=str(exc))
                write_results.append(out)
                if not (out.noticed and out.kept):
                    failures.append(f"outside write {i}: {out.detail}")
        finally:
            await shared.close()
    finally:
        http.close()
        log = server.log_text()
        server.stop(keep_home=home is not None)
    return {"latencies": latencies, "renames": rename_results, "writes": write_results,
            "failures": failures, "log_counts": log_counts(log)}


# What the server's log says about autosaves that met a rename (jupyter_server_ydoc's lines).
LOG_EVENTS = {
    "retried at the new name (a save refused at the old one)": "File moved while saving",
    "failed with 404, the typing saved with the next change": "Error saving file",
}


def log_counts(log: str) -> dict[str, int]:
    return {what: log.count(line) for what, line in LOG_EVENTS.items()}


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    renames, writes = result["renames"], result["writes"]
    kept = sum(r.kept for r in renames)
    unsaved = sum(r.unsaved for r in renames)
    same = [w for w in writes if w.same_second]
    noticed = sum(w.noticed and w.kept for w in same)
    lines = [
        f"two clients of one notebook on Swift: a keystroke of A reaches B in "
        f"{statistics.median(result['latencies']) * 1000:.0f} ms (median of "
        f"{len(result['latencies'])}; max {max(result['latencies']) * 1000:.0f} ms)",
        f"rename during typing: {kept}/{len(renames)} kept "
        f"({unsaved} with the typing still unsaved when the rename started; rename "
        f"{statistics.median([r.rename_s for r in renames] or [0]) * 1000:.0f} ms median)",
        "autosaves that met a rename: " + ", ".join(
            f"{n} {what}" for what, n in result["log_counts"].items()),
        f"same-second outside write: {noticed}/{len(same)} noticed and kept "
        f"(all outside writes: {sum(w.noticed and w.kept for w in writes)}/{len(writes)})",
    ]
    failures = list(result["failures"])
    if not same:
        failures.append("no outside write landed in the same second as an autosave")
    if not unsaved and renames:
        failures.append("no rename started while typing was unsaved")
    return {"section": "collab", "lines": lines, "ok": not failures, "failures": failures}


def run(aio: Any, *, quick: bool = False) -> dict[str, Any]:
    """The collaboration section on a started s2aio (account ``test``)."""
    conn = aio.connection("test")
    try:
        result = asyncio.run(campaign(aio.env("test"), conn, renames=3 if quick else 10,
                                      writes=4 if quick else 10))
    except CollabError as exc:
        return {"section": "collab", "lines": [f"collaboration could not run: {exc}"],
                "ok": False, "failures": [str(exc)]}
    finally:
        conn.close()
    return summarize(result)


def main(argv: list[str] | None = None) -> int:
    from bench.reliability import standalone

    return standalone(run, argv, description=__doc__.splitlines()[0], replicas=1)


if __name__ == "__main__":
    sys.exit(main())
