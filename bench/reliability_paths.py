"""Reliability campaign, path tricks: hostile names never reach another object.

Through a real jupyter_server on Swift (REST), each trick name (``..``, ``.``, ``%2F``,
``%252F``, backslashes, NUL and control bytes, invalid UTF-8, NFC/NFD twins, names at
and past Swift's 1,024-byte limit, trailing dots and spaces, leading slashes, names
equal to the auxiliary container's internal prefixes, query characters; hand-made and
generated with hypothesis) is saved, read, checkpointed, diffed against hostile
checkpoint ids, renamed (from and to it), copied and deleted. After every request both
containers (files and auxiliary) are listed and compared with the listing before it.

What a name denotes (stated once, checked for every trick): the URL path is
percent-decoded exactly once (as tornado does), the API's outer slashes are stripped,
and the rest is the object name byte for byte: no second decoding, no Unicode
normalisation (an NFC and an NFD spelling are two distinct objects, as Swift compares
bytes), no backslash or dot-segment resolution (``.``/``..`` segments, control
characters, invalid UTF-8 and names over the limit are refused with a 400). A body's
``path`` (rename, copy) is not percent-decoded at all.

Per request: no 5xx; a refusal (4xx) changes nothing at all; a success changes only
the objects of the name(s) it denotes (the object, its directory marker, its
checkpoints, transient upload/rename records) and a read returns that object's own
content. Also the swiftcontents listing (hostile names in the storlet's ``names``
parameter: each row must be its own notebook's) and the diff endpoint's checkpoint id.
"""
from __future__ import annotations

import json
import sys
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, unquote_to_bytes

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._jupyter import RawClient, Reply, start_jupyter, wipe_container  # noqa: E402

SECTION = "paths"
MAX_NAME_BYTES = 1024  # Swift's default max_object_name_length
AUX_TRANSIENT = ("renames/", "uploads/", "segments/")  # records an operation may leave
NFC_NAME = unicodedata.normalize("NFC", "caf\u00e9.ipynb")
NFD_NAME = unicodedata.normalize("NFD", NFC_NAME)
BYSTANDERS = ("victim.ipynb", "d/victim.ipynb", "d/x.ipynb", NFC_NAME,
              "nfd-" + NFD_NAME, "checkpoints.ipynb", "a b.ipynb")
DIRS = ("d", "checkpoints", "uploads", "renames", "segments")


def _len_name(total: int, prefix: str = "", unit: str = "n") -> str:
    """A name of exactly ``total`` UTF-8 bytes (``.ipynb`` at the end)."""
    body = total - len(prefix.encode()) - len(".ipynb")
    chars = body // len(unit.encode())
    return prefix + unit * chars + "n" * (body - chars * len(unit.encode())) + ".ipynb"


def hand_tricks() -> list[tuple[str, str]]:
    """(label, URL path after ``/api/contents/``, already on-the-wire form); ``{u}`` is
    replaced with a token unique to the trick."""
    q = lambda s: quote(s, safe="/{}")  # noqa: E731  ({u} is replaced later)
    tricks = [
        ("dot-dot", ".."), ("dot", "."), ("dir then dot-dot", "d/.."),
        ("dot-dot to a bystander", "d/../victim.ipynb"), ("dot then bystander", "./victim.ipynb"),
        ("inner dot", "d/./x{u}.ipynb"), ("triple dot", ".../x{u}.ipynb"),
        ("%2E%2E", "%2E%2E/victim.ipynb"), ("lower %2e%2e%2f", "%2e%2e%2fvictim.ipynb"),
        ("encoded dot-dot in a dir", "d%2F..%2Fvictim.ipynb"), ("%2E", "%2E/victim.ipynb"),
        ("%2F", "d%2Fx{u}.ipynb"), ("%2F at the start", "%2Fx{u}.ipynb"),
        ("%252F", "d%252Fx{u}.ipynb"), ("%252E%252E%252F", "%252E%252E%252Fvictim.ipynb"),
        ("%25 literal", "x%25{u}.ipynb"), ("%25%32%46", "d%25%32%46x{u}.ipynb"),
        ("backslash", "d%5Cx{u}.ipynb"), ("leading backslash", "%5Cx{u}.ipynb"),
        ("backslash dot-dot", "..%5Cvictim.ipynb"), ("drive letter", "C:%5Cx{u}.ipynb"),
        ("windows dot-dot", "d%5C..%5C..%5Cvictim.ipynb"),
        ("NUL", "x%00{u}.ipynb"), ("NUL before the extension", "victim.ipynb%00{u}"),
        ("newline", "x%0A{u}.ipynb"), ("CRLF", "x%0D%0A{u}.ipynb"), ("ESC", "x%1B{u}.ipynb"),
        ("DEL", "x%7F{u}.ipynb"), ("NEL", "x%C2%85{u}.ipynb"), ("tab", "x%09{u}.ipynb"),
        ("line separator", "x%E2%80%A8{u}.ipynb"), ("RTL override", "x%E2%80%AE{u}.ipynb"),
        ("invalid UTF-8", "x%FF{u}.ipynb"), ("overlong slash", "d%C0%AFx{u}.ipynb"),
        ("encoded surrogate", "x%ED%A0%80{u}.ipynb"),
        ("fullwidth solidus", "d%EF%BC%8Fx{u}.ipynb"), ("division slash", "d%E2%88%95x{u}.ipynb"),
        ("fullwidth dots", "%EF%BC%8E%EF%BC%8E/victim.ipynb"),
        ("NFD twin of an NFC name", q(NFD_NAME)), ("NFC twin of an NFD name", q("nfd-" + NFC_NAME)),
        ("NFKC twin (ligature)", q("\ufb01le{u}.ipynb")),
        ("trailing dot", "x{u}.ipynb."), ("trailing space", "x{u}.ipynb%20"),
        ("trailing dot of a bystander", "victim.ipynb."), ("trailing space of a bystander",
                                                          "victim.ipynb%20"),
        ("leading space of a bystander", "%20victim.ipynb"), ("dir with a trailing space",
                                                             "d%20/x.ipynb"),
        ("dir with a trailing dot", "d./x.ipynb"), ("plus for space", "a+b.ipynb"),
        ("leading slashes", "/x{u}.ipynb"), ("leading slashes to a bystander", "//victim.ipynb"),
        ("trailing slash", "x{u}.ipynb/"), ("double slash inside", "d//x.ipynb"),
        ("query char", "x%3F{u}.ipynb"), ("fragment char", "x%23{u}.ipynb"),
        ("semicolon", "x;{u}.ipynb"),
        ("aux prefix: checkpoints", "checkpoints"), ("aux prefix: checkpoints/", "checkpoints/victim.ipynb"),
        ("aux prefix: uploads", "uploads/x{u}.ipynb"), ("aux prefix: renames", "renames/x{u}.ipynb"),
        ("aux prefix: segments", "segments/x{u}.ipynb"),
        ("checkpoint marker", "victim.ipynb/.~ckpt/20240101T000000000000-abcdef"),
        ("checkpoint marker dir", "d/.~ckpt"),
        ("a file in a file", "victim.ipynb/x{u}.ipynb"),
    ]
    for total in (900, 975, 976, 977, 1000, 1023, 1024, 1025, 2048):
        tricks.append((f"{total}-byte name", q(_len_name(total, "L{u}"))))
    tricks.append(("1024 bytes in a dir", q(_len_name(MAX_NAME_BYTES, "d/L{u}"))))
    tricks.append(("1025 bytes, 2-byte chars", q(_len_name(1025, "L{u}", "\u00e9"))))
    tricks.append(("1026 bytes, 4-byte chars", q(_len_name(1026, "L{u}", "\U0001f600"))))
    return tricks


def generated_tricks(count: int) -> list[tuple[str, str]]:
    """Names built by hypothesis from the characters that matter, percent-encoded
    (or left raw when URL-safe); derandomized, so the same on every run."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    pieces = st.sampled_from(["..", ".", "/", "%2F", "%252F", "\\", "\x00", "\n", " ", "~",
                              ".~ckpt", "checkpoints", "e\u0301", "\u00e9", "\uff0f", "x",
                              "victim.ipynb", "%", "?", "#", "\u202e", "\ud7ff", "d"])
    names = st.lists(pieces, min_size=1, max_size=6).map("".join)
    found: dict[str, None] = {}

    @settings(max_examples=count * 3, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(names)
    def collect(name: str) -> None:
        if len(found) < count:
            found[quote(name, safe="/%") + "{u}"] = None

    collect()
    return [(f"generated {i}", wire) for i, wire in enumerate(found)]


def denotes(wire: str) -> str | None:
    """The object name a URL path denotes (decoded once, outer slashes stripped), or
    None if it is not UTF-8 (then only a refusal is right)."""
    try:
        return unquote_to_bytes(wire).decode("utf-8").strip("/")
    except UnicodeDecodeError:
        return None


# --- the containers, before and after -----------------------------------------------

Snapshot = dict[str, str]  # "c:<name>" / "a:<name>" -> etag + size


def snapshot(conn: Any, container: str, aux: str) -> Snapshot:
    state: Snapshot = {}
    for tag, name in (("c", container), ("a", aux)):
        _, rows = conn.get_container(name, full_listing=True)
        state.update({f"{tag}:{r['name']}": f"{r.get('hash')}/{r.get('bytes')}" for r in rows})
    return state


def changed(before: Snapshot, after: Snapshot) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def owned_by(key: str, entry: str) -> bool:
    """Whether a changed listing entry belongs to the object ``key``."""
    tag, _, name = entry.partition(":")
    if tag == "c":
        return name == key or name.startswith(key + "/")
    return (name.startswith("checkpoints/" + key + "/")
            or any(name.startswith(p) for p in AUX_TRANSIENT))


# --- the checks ------------------------------------------------------------------------

@dataclass
class Tally:
    tricks: int = 0
    requests: int = 0
    refused: int = 0
    acted: int = 0
    five_xx: int = 0
    strays: int = 0  # another object read, written, renamed or deleted
    failures: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # label -> what happened to a save


def notebook_for(key: str) -> dict[str, Any]:
    """A notebook that says which name it was saved under (so a read can be checked)."""
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"campaign_name": key},
            "cells": [{"cell_type": "markdown", "id": "m0", "metadata": {}, "source": key}]}


def marker(reply: Reply) -> str | None:
    """The name a read notebook was saved under (a name without ``.ipynb`` is read as a
    file: its content is the notebook's JSON text)."""
    content = (reply.json() or {}).get("content")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return None
    try:
        return content["metadata"]["campaign_name"]
    except (KeyError, TypeError):
        return None


class Checker:
    def __init__(self, http: RawClient, container: str, conn: Any) -> None:
        self.http, self.conn = http, conn
        self.container = container
        self.aux = f"{container}_swiftcontents"
        self.tally = Tally()
        self.state = snapshot(conn, self.container, self.aux)

    def request(self, label: str, what: str, owners: list[str | None], method: str,
                wire: str, body: Any = None,
                owners_of: Callable[[Reply], list[str | None]] | None = None) -> Reply:
        """One request, then the listing check: a refusal changed nothing, a success
        changed only what ``owners`` (denoted names) own."""
        reply = self.http.request(method, wire, body, quoted=True)
        after = snapshot(self.conn, self.container, self.aux)
        diff = changed(self.state, after)
        self.state = after
        t = self.tally
        t.requests += 1
        where = f"{label}: {what} {wire[:120]!r}"
        if reply.status >= 500 or reply.status == 0:
            t.five_xx += 1
            t.failures.append(f"{where}: {reply.status} {reply.message()[:300]}")
        elif reply.status >= 400:
            t.refused += 1
            if not reply.message().strip():
                t.failures.append(f"{where}: {reply.status} without a message")
        else:
            t.acted += 1
        if owners_of is not None:
            owners = owners + owners_of(reply)
        allowed = [o for o in owners if o] if reply.status < 400 else []
        strays = sorted(e for e in diff if not any(owned_by(o, e) for o in allowed))
        if strays:
            t.strays += 1
            t.failures.append(f"{where}: answered {reply.status} and changed {strays[:5]}")
        return reply

    def read_check(self, label: str, wire: str, key: str | None,
                   holder: str | None = None) -> None:
        """A read of ``wire`` answers the object ``key``, holding what was saved under
        ``holder`` (default ``key``; a renamed file keeps its first name inside)."""
        reply = self.request(label, "get", [], "GET", f"/api/contents/{wire}")
        # ".../checkpoints" is jupyter_server's route for a file's checkpoint list (of the
        # parent): a list of ids, not another object's content
        if reply.status == 200 and not isinstance(reply.json(), list):
            got = marker(reply)
            path = (reply.json() or {}).get("path")
            if got != (holder or key) or path != key:
                self.tally.strays += 1
                self.tally.failures.append(
                    f"{label}: get {wire[:120]!r} read {path!r} holding {got!r}, not {key!r}")

    def trick(self, label: str, wire: str, hostile_ids: list[str]) -> None:
        """Every operation on one trick name."""
        key = denotes(wire)
        self.tally.tricks += 1
        api = f"/api/contents/{wire}"
        saved = self.request(label, "save", [key], "PUT", api,
                             {"type": "notebook", "content": notebook_for(key or "")})
        self.tally.outcomes[label] = f"{saved.status} {key!r}" if saved.status < 400 else \
            f"{saved.status} {saved.message()[:100]}"
        self.read_check(label, wire, key)
        if saved.status < 400:
            self.request(label, "checkpoint", [key], "POST", api + "/checkpoints")
            listed = self.http.request("GET", api + "/checkpoints", quoted=True).json()
            own_ids = {c.get("id") for c in listed} if isinstance(listed, list) else set()
            for cid in hostile_ids:
                reply = self.request(label, f"diff@{cid[:20]!r}", [], "GET",
                                     f"/api/swiftcontents/diff/{wire}?checkpoint={cid}")
                # tornado drops control characters from arguments ('%00' is ''): a
                # success must still be a diff with one of this file's own checkpoints
                answered = (reply.json() or {}).get("checkpoint") if reply.status < 400 else None
                if reply.status < 400 and answered not in own_ids:
                    self.tally.strays += 1
                    self.tally.failures.append(
                        f"{label}: diff with checkpoint {cid!r} used {answered!r}, not its own")
            self.request(label, "validate", [], "GET", f"/api/swiftcontents/validate/{wire}")
            moved = f"mv-{uuid.uuid4().hex[:6]}.ipynb"
            self.request(label, "rename from", [key, moved], "PATCH", api, {"path": moved})
            self.request(label, "rename back", [key, moved], "PATCH", f"/api/contents/{moved}",
                         {"path": key})
            # the copy lands in the root under a name jupyter_server picks: its answer says
            self.request(label, "copy", [], "POST", "/api/contents/", {"copy_from": key},
                         owners_of=lambda reply: [(reply.json() or {}).get("path")])
            self._drop_new_root_files(keep=key)
            self.request(label, "delete", [key], "DELETE", api)
        # the decoded name (and the raw wire text) as a body path: never URL-decoded
        for target in {t for t in (key, wire) if t}:
            own = f"own-{uuid.uuid4().hex[:6]}.ipynb"
            self.http.request("PUT", f"/api/contents/{own}",
                                 {"type": "notebook", "content": notebook_for(own)})
            self.state = snapshot(self.conn, self.container, self.aux)
            reply = self.request(label, "rename to", [own, target.strip("/")], "PATCH",
                                 f"/api/contents/{own}", {"path": target})
            if reply.status < 400:
                self.read_check(label, quote(target.strip("/"), safe="/"), target.strip("/"), own)
                self.request(label, "delete renamed", [target.strip("/")], "DELETE",
                             "/api/contents/" + quote(target.strip("/"), safe="/"))
            else:
                self.http.request("DELETE", f"/api/contents/{own}")
                self.state = snapshot(self.conn, self.container, self.aux)

    def _drop_new_root_files(self, keep: str | None) -> None:
        """Delete root-level files other than the bystanders and ``keep`` (copies)."""
        for entry in sorted(self.state):
            name = entry[2:]
            if entry.startswith("c:") and "/" not in name and name not in BYSTANDERS \
                    and name != keep and not name.endswith("/"):
                self.http.request("DELETE", "/api/contents/" + quote(name, safe=""))
        self.state = snapshot(self.conn, self.container, self.aux)


def setup(http: RawClient) -> None:
    for d in DIRS:
        http.request("PUT", f"/api/contents/{d}", {"type": "directory"})
    for name in BYSTANDERS:
        reply = http.request("PUT", "/api/contents/" + quote(name, safe="/"),
                                {"type": "notebook", "content": notebook_for(name)})
        if reply.status >= 300:
            raise RuntimeError(f"cannot save bystander {name!r}: {reply.status} {reply.message()}")
        http.request("POST", "/api/contents/" + quote(name, safe="/") + "/checkpoints")


def hostile_checkpoint_ids(http: RawClient) -> list[str]:
    """Ids a diff must refuse: traversal, another file's real id, separators."""
    got = http.request("GET", "/api/contents/victim.ipynb/checkpoints").json() or []
    other = got[0]["id"] if got else "20240101T000000000000-abcdef"
    return ["", quote("../../victim.ipynb", safe=""), "..%2F..%2Fvictim.ipynb", quote(other),
            quote(other + "/../" + other, safe=""), "%00", "x" * 2000,
            quote("/.~ckpt/" + other, safe="")]


def check_listing(checker: Checker, names: list[str]) -> None:
    """A directory of hostile names listed by the storlet: each row is its own notebook."""
    folder = f"list-{uuid.uuid4().hex[:6]}"
    j = checker.http
    j.request("PUT", f"/api/contents/{folder}", {"type": "directory"})
    saved = []
    for name in names:
        path = f"{folder}/{name}"
        if j.request("PUT", "/api/contents/" + quote(path, safe="/"),
                     {"type": "notebook", "content": notebook_for(path)}).status < 300:
            saved.append(name)
    checker.state = snapshot(checker.conn, checker.container, checker.aux)
    reply = checker.request("listing", "list", [], "GET", f"/api/swiftcontents/listing/{folder}")
    saved = [n for n in saved if n.endswith(".ipynb")]  # only notebooks are listed
    rows = (reply.json() or {}).get("notebooks", [])
    by_name = {r.get("name"): r.get("title") for r in rows}
    if reply.status != 200 or sorted(by_name) != sorted(saved) or any(
            by_name[n] != f"{folder}/{n}" for n in saved):
        checker.tally.strays += 1
        wrong = sorted(set(by_name) ^ set(saved)) + [
            f"{n!r} titled {by_name[n]!r}" for n in saved if n in by_name and by_name[n] != f"{folder}/{n}"]
        checker.tally.failures.append(f"listing ({reply.status}): rows that differ: {wrong[:8]}")


LISTING_NAMES = ["a,b.ipynb", "[x].ipynb", '"q".ipynb', "%2C.ipynb", "c%252F.ipynb",
                 NFC_NAME, NFD_NAME, "x\\y.ipynb", "sp ace.ipynb", "t.ipynb.", "\u202e.ipynb",
                 "colon:x.ipynb", '["a.ipynb"].ipynb']


def run_tricks(aio: Any, tricks: list[tuple[str, str]], *, checkpoint_ids: int | None = None,
               log: Callable[[str], None] = lambda line: None) -> Tally:
    """Every trick; ``checkpoint_ids``: how many hostile checkpoint ids each diff tries
    (all by default)."""
    conn = aio.connection("test", retries=0)
    server = start_jupyter(aio.env("test"), f"paths-{uuid.uuid4().hex[:8]}")
    http = server.raw_client()
    try:
        setup(http)
        checker = Checker(http, server.container, conn)
        ids = hostile_checkpoint_ids(http)[:checkpoint_ids]
        for i, (label, wire) in enumerate(tricks):
            checker.trick(label, wire.replace("{u}", f"-{i}"), ids)
            if i % 25 == 24:
                log(f"  {i + 1} tricks, {checker.tally.requests} requests, "
                    f"{checker.tally.strays} strays, {checker.tally.five_xx} 5xx")
        check_listing(checker, LISTING_NAMES)
        for name in BYSTANDERS:  # each still holds its own notebook
            checker.read_check("bystander", quote(name, safe="/"), name)
        if not server.alive():
            checker.tally.failures.append("the jupyter server died")
        return checker.tally
    finally:
        http.close()
        server.stop()
        wipe_container(conn, server.container)
        conn.close()


def report(tally: Tally) -> dict[str, Any]:
    lines = [f"path tricks: {tally.tricks} names, {tally.requests} requests checked "
             f"({tally.acted} acted on their own object, {tally.refused} refused with a 4xx)",
             f"  reached another object: {tally.strays} (target 0); 5xx: {tally.five_xx} (target 0)"]
    ok = tally.strays == tally.five_xx == 0 and not tally.failures
    return {"section": SECTION, "lines": lines, "ok": ok, "failures": tally.failures}


def all_tricks(quick: bool = False) -> list[tuple[str, str]]:
    return hand_tricks() + generated_tricks(10 if quick else 40)


def run(aio: Any, *, quick: bool = False) -> dict[str, Any]:
    return report(run_tricks(aio, all_tricks(quick), log=print))


def main(argv: list[str] | None = None) -> int:
    from bench.reliability import standalone

    return standalone(run, argv, description=__doc__.split("\n")[0], replicas=1)


if __name__ == "__main__":
    sys.exit(main())
