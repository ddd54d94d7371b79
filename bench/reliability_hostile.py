"""Reliability campaign, hostile input: malformed notebooks against the storlets and the API.

Each case (hand-made, or generated with hypothesis: notebook-shaped JSON that is wrong
in one or more ways) goes through:

- ``nbvalidate`` on a PUT (``mode=stamp``: the bytes are stored unchanged, the verdict
  in metadata) and on a GET (``mode=report``), on the real engine;
- ``nblisting`` (on the proxy, the case as its one input, with a ``names`` parameter);
- ``nbdiff`` of the case against a sane checkpoint (an extra resource);
- the contents API of a real jupyter_server on Swift: a REST save with the case as the
  model's content (sent byte for byte), then a REST get of the same bytes stored
  directly in Swift, and swiftcontents' validation endpoint on them.

Per case: no 5xx, a clear answer (a 4xx naming the problem, an error document, or a
verdict that says why it is not valid), the sandboxes' long-lived processes (bwrap,
init, daemon factory, storlet daemons) unchanged, and a good request served right
after. ``run(aio, quick=...)`` returns the section's figures; standalone,
``python -m bench.reliability_hostile [--quick]`` starts its own s2aio.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from swiftclient.exceptions import ClientException

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script, not only as -m from the repo root
    sys.path.insert(0, str(REPO))

from bench._jupyter import RawClient, Reply, drop_containers, start_jupyter  # noqa: E402
from storlets_apps import _nbcommon  # noqa: E402
from swiftproto import run_headers  # noqa: E402

SECTION = "hostile"
MIN_CASES = 300
MB = 1 << 20
BUDGET = _nbcommon.CEILING_MAX_BYTES  # the storlets' per-input ceiling (64 MiB)
HOSTILE_TARGETS = ("nbvalidate PUT", "nbvalidate GET", "nblisting", "nbdiff",
                   "contents save", "contents get", "contents validate")


# --- the cases -------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    big: bool = False  # costs seconds per call: one pass, not repeated in tests


def sane_notebook(cells: int = 3) -> dict[str, Any]:
    """A valid nbformat 4.5 notebook: the base the cases corrupt, and the checkpoint."""
    nb_cells: list[dict[str, Any]] = []
    for i in range(cells):
        if i % 2:
            nb_cells.append({"cell_type": "markdown", "id": f"m{i}", "metadata": {},
                             "source": f"# Part {i}\nSome text."})
        else:
            nb_cells.append({"cell_type": "code", "id": f"c{i}", "metadata": {},
                             "execution_count": i + 1, "source": f"x = {i}\nprint(x)",
                             "outputs": [{"output_type": "stream", "name": "stdout",
                                          "text": f"{i}\n"}]})
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"},
                         "language_info": {"name": "python"}},
            "cells": nb_cells}


def dumps(nb: Any) -> bytes:
    return json.dumps(nb, allow_nan=True).encode("utf-8")


def _nested(depth: int, open_: str, close: str, inner: str = "1") -> str:
    return open_ * depth + inner + close * depth


def _with(path: str, value_json: str) -> bytes:
    """The sane notebook's JSON with the value at ``path`` replaced by raw JSON text
    (raw text: NaN, duplicate keys and nesting that json.dumps would not write)."""
    marker = "\"@@HOSTILE@@\""
    nb = sane_notebook()
    target: Any = nb
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = "@@HOSTILE@@"
    else:
        target[last] = "@@HOSTILE@@"
    return json.dumps(nb).replace(marker, value_json, 1).encode("utf-8")


def hand_cases(big: bool = True) -> list[Case]:
    """The hand-made cases; ``big`` adds the ones of tens of megabytes."""
    good = dumps(sane_notebook())
    text = good.decode()
    out: list[Case] = []

    def add(name: str, data: bytes | str, is_big: bool = False) -> None:
        out.append(Case(name, data.encode("utf-8") if isinstance(data, str) else data, is_big))

    # truncated JSON, cut everywhere that matters
    for cut in (1, 2, 10, len(good) // 3, len(good) // 2, len(good) - 2, len(good) - 1):
        add(f"truncated at {cut}/{len(good)}", good[:cut])
    add("truncated inside a \\u escape", text[:text.index("# Part")] + "\\u00")
    add("truncated after a key", '{"nbformat": 4, "cells"')
    # not a notebook at all
    for name, data in (("empty", b""), ("whitespace", b" \n\t "), ("null", b"null"),
                       ("a list", b"[]"), ("an empty object", b"{}"), ("a string", b'"nb"'),
                       ("a number", b"42"), ("true", b"true"), ("two documents", good + good),
                       ("trailing garbage", good + b"}]x"), ("raw NUL inside", good[:20] + b"\0"
                                                                            + good[20:])):
        add(name, data)
    # deep nesting
    for depth in (1000, 10_000, 100_000):
        add(f"{depth}-deep lists in a cell's metadata",
            _with("cells.0.metadata", '{"x": ' + _nested(depth, "[", "]") + "}"))
        add(f"{depth}-deep objects in the notebook metadata",
            _with("metadata", _nested(depth, '{"a":', "}", "{}")))
    add("10000-deep top level", _nested(10_000, "[", "]"))
    add("10000-deep cells", _with("cells", _nested(10_000, "[", "]", "")))
    # encodings
    add("latin-1 byte in a source", good.replace(b"Some text", b"Some t\xe9xt"))
    add("\\xff\\xfe start", b"\xff\xfe" + good)
    add("UTF-16 notebook", text.encode("utf-16"))
    add("UTF-32 notebook", text.encode("utf-32"))
    add("UTF-8 BOM", b"\xef\xbb\xbf" + good)
    add("two UTF-8 BOMs", b"\xef\xbb\xbf\xef\xbb\xbf" + good)
    add("BOM inside a string", good.replace(b"Some text", b"Some \xef\xbb\xbftext"))
    add("overlong UTF-8 slash", good.replace(b"Some text", b"Some \xc0\xaftext"))
    add("encoded surrogate bytes", good.replace(b"Some text", b"Some \xed\xa0\x80text"))
    add("lone surrogate escape in a source", text.replace("Some text", "Some \\ud800text"))
    add("lone surrogate escape as a key", _with("metadata", '{"\\udfff": 1}'))
    add("lone surrogate in the kernel name",
        _with("metadata.kernelspec.name", '"\\ud83d"'))
    add("escaped NULs and controls", text.replace("Some text", "\\u0000\\u0001\\u001b[31m"))
    add("bidi and zero-width text", text.replace("Some text", "\u202e\u200b\u2066evil"))
    # wrong types per field
    wrong_values = ('"4"', "4.0", "true", "null", "-1", "[]", "{}", "1e400", "-1e400",
                    "1" + "0" * 5000, "NaN", "Infinity", "-Infinity")
    for field_path in ("nbformat", "nbformat_minor", "cells.0.execution_count",
                       "cells.0.source", "cells.0.outputs", "cells.0.metadata",
                       "cells.0.cell_type", "cells.0.id", "metadata", "metadata.kernelspec",
                       "metadata.kernelspec.name", "metadata.language_info", "cells",
                       "cells.0.outputs.0.output_type", "cells.0.outputs.0.text",
                       "cells.1", "cells.1.attachments"):
        for value in wrong_values:
            add(f"{field_path} = {value[:12]}", _with(field_path, value))
    # found by generated cases: each was an internal error once
    for value in ("5", "true", '"abc"', '{"cells": []}'):
        add(f"nbformat 3, worksheets = {value}", '{"nbformat": 3, "nbformat_minor": 0, '
            '"metadata": {}, "worksheets": ' + value + "}")
    add("nbformat 3 with a top-level cells list", '{"nbformat": 3, "metadata": {}, "cells": '
        '[{"cell_type": "raw"}, {"cell_type": [], "metadata": {}, "source": []}]}')
    add("a source list holding a number", _with("cells.0.source", '["a", 1.5, null]'))
    add("an output text list holding a list", _with("cells.0.outputs.0.text", '["a", ["b"]]'))
    # duplicate keys
    add("duplicate nbformat (4 then 3)", text.replace('"nbformat": 4', '"nbformat": 4, "nbformat": 3'))
    add("duplicate nbformat (3 then 4)", text.replace('"nbformat": 4', '"nbformat": 3, "nbformat": 4'))
    add("duplicate cells", text.replace('"cells": [', '"cells": 7, "cells": [', 1))
    add("duplicate cells (list then int)", text[:-1] + ', "cells": 7}')
    add("duplicate cell_type", text.replace('"cell_type": "code"',
                                            '"cell_type": "code", "cell_type": "markdown"', 1))
    add("100000 duplicate keys", _with("metadata", "{" + ", ".join(['"k": 1'] * 100_000) + "}"))
    # blow-ups: small or repetitive inputs that make a lot of work or output
    many_errors = sane_notebook(0)
    many_errors["cells"] = [{"cell_type": "code"} for _ in range(100_000)]
    add("100000 invalid cells", dumps(many_errors))
    many = sane_notebook(0)
    many["cells"] = [{"cell_type": "markdown", "id": f"c{i}", "metadata": {}, "source": "x"}
                     for i in range(100_000)]
    add("100000 cells", dumps(many))
    dup_ids = sane_notebook(0)
    dup_ids["cells"] = [{"cell_type": "raw", "id": "same", "metadata": {}, "source": ""}
                        for _ in range(20_000)]
    add("20000 cells with one id", dumps(dup_ids))
    add("1000000 tiny metadata entries",
        _with("metadata", "{" + ",".join(f'"k{i}":[{{}}]' for i in range(1_000_000)) + "}"))
    add("100000 outputs in one cell", _with("cells.0.outputs", "[" + ",".join(
        ['{"output_type":"stream","name":"stdout","text":"&<>\\"\'"}'] * 100_000) + "]"))
    add("2000000 source lines", _with("cells.0.source", json.dumps("\n" * 2_000_000)))
    add("1000000 unicode line breaks", _with("cells.0.source", json.dumps("\u2028\x85" * 500_000)))
    add("escapes that expand 6:1 in HTML", _with("cells.0.source", json.dumps("&\"'<>" * 400_000)))
    add("4 MB of \\u0000 escapes", _with("cells.0.source", '"' + "\\u0000" * 700_000 + '"'))
    add("a 5 MB key", _with("metadata", "{" + json.dumps("k" * (5 * MB)) + ": 1}"))
    add("5 MB metadata", _with("metadata.blob", json.dumps(["v" * 1000] * 5000)))
    add("a 5 MB output", _with("cells.0.outputs.0.text", json.dumps("o" * (5 * MB))))
    add("a 5 MB image", _with("cells.0.outputs", json.dumps([{
        "output_type": "display_data", "metadata": {},
        "data": {"image/png": "iVBORw0KGgo" * (MB // 2)}}])))
    if big:
        add("a 50 MB source string", _with("cells.0.source", json.dumps("s" * (50 * MB))), True)
        add("a 50 MB output", _with("cells.0.outputs.0.text", json.dumps("&" * (50 * MB))), True)
        add("30 MB metadata", _with("metadata.blob", json.dumps(["v" * 1000] * 30_000)), True)
        add("just over the storlets' budget", good + b" " * (BUDGET + 1 - len(good)), True)
        add("just under the storlets' budget", good + b" " * (BUDGET - len(good)), True)
    return out


# --- generated cases (hypothesis) ---------------------------------------------------

def _strategies() -> Any:
    """hypothesis strategies, built on first use (hypothesis is a dev/bench dependency)."""
    from hypothesis import strategies as st

    scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70)
               | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
    anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                            max_leaves=12)

    def maybe(right: Any) -> Any:  # mostly right, sometimes any JSON value at all
        return st.one_of(right, right, right, anything)

    source = st.text(max_size=40) | st.lists(st.text(max_size=12), max_size=4)
    output = st.fixed_dictionaries(
        {"output_type": maybe(st.sampled_from(["stream", "execute_result", "display_data",
                                               "error", "bogus"]))},
        optional={"name": maybe(st.sampled_from(["stdout", "stderr"])), "text": maybe(source),
                  "data": maybe(st.dictionaries(st.sampled_from(["text/plain", "image/png",
                                                                 "application/json"]),
                                                anything, max_size=2)),
                  "metadata": maybe(st.just({})), "execution_count": maybe(st.integers(0, 99)),
                  "ename": anything, "traceback": maybe(st.lists(st.text(max_size=8)))})
    cell = st.fixed_dictionaries(
        {"cell_type": maybe(st.sampled_from(["code", "markdown", "raw", "heading"]))},
        optional={"id": maybe(st.text(min_size=1, max_size=10)), "metadata": maybe(st.just({})),
                  "source": maybe(source), "outputs": maybe(st.lists(output, max_size=3)),
                  "execution_count": maybe(st.none() | st.integers(0, 999)),
                  "attachments": anything})
    metadata = st.fixed_dictionaries(
        {}, optional={"kernelspec": maybe(st.fixed_dictionaries(
            {"name": maybe(st.text(max_size=8)), "display_name": maybe(st.text(max_size=8))})),
            "language_info": maybe(st.fixed_dictionaries({"name": maybe(st.text(max_size=8))})),
            "title": anything, "orig_nbformat": anything})
    document = st.fixed_dictionaries(
        {"nbformat": maybe(st.sampled_from([4, 4, 4, 3, 5])),
         "cells": maybe(st.lists(cell, max_size=6))},
        optional={"nbformat_minor": maybe(st.integers(0, 6)), "metadata": maybe(metadata),
                  "worksheets": anything})
    top = document | anything
    # how the JSON text itself goes wrong after serialising
    edits = st.sampled_from(["none", "none", "truncate", "byte", "bom", "duplicate", "nest"])
    return st.tuples(top, edits, st.integers(0, 10**9), st.integers(0, 255))


def _serialise(doc: Any, edit: str, where: int, byte: int) -> bytes:
    data = json.dumps(doc, allow_nan=True).encode("utf-8")
    at = where % (len(data) + 1)
    if edit == "truncate":
        return data[:at]
    if edit == "byte":  # a byte that is not UTF-8 on its own (or a control byte)
        return data[:at] + bytes([byte | 0x80 if byte > 31 else byte]) + data[at:]
    if edit == "bom":
        return b"\xef\xbb\xbf" + data
    if edit == "duplicate" and data.startswith(b"{") and len(data) > 2:
        return b'{"nbformat": ' + str(byte - 128).encode() + b", " + data[1:]
    if edit == "nest":
        depth = 1000 + where % 20_000
        return b"[" * depth + data + b"]" * depth
    return data


def generated_cases(count: int) -> list[Case]:
    """``count`` notebook-shaped documents that are wrong, from hypothesis (derandomized:
    the same cases on every run)."""
    from hypothesis import HealthCheck, Phase, given, settings

    found: dict[bytes, None] = {}

    @settings(max_examples=count * 3, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(_strategies())
    def collect(drawn: tuple[Any, str, int, int]) -> None:
        if len(found) < count:
            found[_serialise(*drawn)] = None

    collect()
    # The digest names the bytes: hypothesis also draws literals of the local modules
    # loaded (its "local constants"), so a process that imported other modules, or code
    # edited since, draws a different "generated N". Replay a failure from its bytes.
    return [Case(f"generated {i} (sha1 {hashlib.sha1(data).hexdigest()[:10]})", data)
            for i, data in enumerate(found)]


def all_cases(quick: bool = False) -> list[Case]:
    hand = hand_cases(big=not quick)
    return hand + generated_cases(max(MIN_CASES - len(hand), 60 if quick else 200))


# --- watching the engine -----------------------------------------------------------------

def sandbox_processes(data_dir: Path, depth: int = 3) -> frozenset[tuple[str, int]]:
    """The sandboxes' long-lived processes: (pid file, pid) of bubblewrap, its init, the
    daemon factory and each storlet daemon (the depth below bubblewrap). Task processes,
    forked per request one level further down, come and go and are not counted."""
    from s2aio.procs import child_pids

    found: set[tuple[str, int]] = set()
    for pid_file in sorted((data_dir / "run").glob("sandbox-*.pid")):
        try:
            root = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        level = [root]
        for _ in range(depth + 1):
            found.update((pid_file.name, pid) for pid in level)
            level = [child for pid in level for child in child_pids(pid)]
    return frozenset(found)


# --- one answer ----------------------------------------------------------------------------

@dataclass
class Outcome:
    target: str
    status: int  # the HTTP status; 0: no answer at all
    clear: bool  # a verdict, an error document or a 4xx that names the problem
    detail: str
    seconds: float


def _client_failure(target: str, exc: ClientException, began: float) -> Outcome:
    body = exc.http_response_content or b""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    status = exc.http_status or 0
    return Outcome(target, status, 400 <= status < 500 and bool(text.strip()),
                   f"{status} {text[:200]}", time.perf_counter() - began)


def _timed(target: str, call: Callable[[], tuple[int, bool, str]]) -> Outcome:
    began = time.perf_counter()
    try:
        status, clear, detail = call()
    except ClientException as exc:
        return _client_failure(target, exc, began)
    except Exception as exc:  # no HTTP answer (reset, timeout): counted as a failure
        return Outcome(target, 0, False, f"{type(exc).__name__}: {exc}"[:300],
                       time.perf_counter() - began)
    return Outcome(target, status, clear, detail, time.perf_counter() - began)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _is_error_document(doc: Any) -> bool:
    """A storlet's error naming the problem (an internal error names a bug, not the input)."""
    return (isinstance(doc, dict) and isinstance(doc.get("error"), str)
            and doc["error"] != "internal_error"
            and isinstance(doc.get("detail"), str) and bool(doc["detail"]))


class EngineProbe:
    """The three storlets on the real engine, one case at a time."""

    def __init__(self, conn: Any, container: str) -> None:
        self.conn, self.container = conn, container
        self.checkpoint = "checkpoint.ipynb"
        self.good = "good.ipynb"
        conn.put_container(container)
        conn.put_object(container, self.checkpoint, dumps(sane_notebook()))
        conn.put_object(container, self.good, dumps(sane_notebook(5)))

    def validate_put(self, name: str, data: bytes) -> Outcome:
        def call() -> tuple[int, bool, str]:
            answer: dict[str, Any] = {}
            self.conn.put_object(self.container, name, data, response_dict=answer,
                                 headers=run_headers("nbvalidate.py", {"mode": "stamp"}))
            head = self.conn.head_object(self.container, name)
            kept = head.get("etag") == hashlib.md5(data).hexdigest()
            stamp = _nbcommon.parse_stamp(head)
            clear = bool(stamp) and kept and (stamp["valid"] is True or bool(
                stamp.get("first_error") or stamp.get("error")))
            return answer["status"], clear, f"stamp {stamp} stored={'same' if kept else 'CHANGED'}"
        return _timed("nbvalidate PUT", call)

    def validate_get(self, name: str) -> Outcome:
        def call() -> tuple[int, bool, str]:
            answer: dict[str, Any] = {}
            _, body = self.conn.get_object(self.container, name, response_dict=answer,
                                           headers=run_headers("nbvalidate.py", {"mode": "report"}))
            doc = _json(body)
            clear = _is_error_document(doc) or (isinstance(doc, dict) and (
                doc.get("valid") is True or bool(doc.get("errors"))))
            return answer["status"], clear, body[:200].decode("utf-8", "replace")
        return _timed("nbvalidate GET", call)

    def listing(self, name: str) -> Outcome:
        def call() -> tuple[int, bool, str]:
            answer: dict[str, Any] = {}
            _, body = self.conn.get_object(
                self.container, name, response_dict=answer,
                headers=run_headers("nblisting.py", {"names": json.dumps([name])}, on_proxy=True))
            doc = _json(body)
            row = doc[0] if isinstance(doc, list) and len(doc) == 1 else None
            clear = isinstance(row, dict) and row.get("name") == name and (
                _is_error_document(row) or "valid" in row)
            return answer["status"], clear, body[:200].decode("utf-8", "replace")
        return _timed("nblisting", call)

    def diff(self, name: str) -> Outcome:
        def call() -> tuple[int, bool, str]:
            answer: dict[str, Any] = {}
            headers, body = self.conn.get_object(
                self.container, name, response_dict=answer,
                headers=run_headers("nbdiff.py", {"format": "nbdime"},
                                    extra=[(self.container, self.checkpoint)]))
            doc = _json(body)
            error = headers.get("x-object-meta-nb-error")
            clear = (bool(error) and _is_error_document(doc)) or (
                not error and isinstance(doc, list))
            return answer["status"], clear, body[:200].decode("utf-8", "replace")
        return _timed("nbdiff", call)

    def serves_good_request(self) -> bool:
        outcome = self.validate_get(self.good)
        return outcome.status == 200 and '"valid": true' in outcome.detail


class ApiProbe:
    """jupyter_server's contents API (and swiftcontents' validation endpoint) on Swift."""

    def __init__(self, http: RawClient, container: str, conn: Any, directory: str) -> None:
        self.http, self.container, self.conn, self.dir = http, container, conn, directory
        reply = http.request("PUT", f"/api/contents/{directory}", {"type": "directory"})
        if reply.status >= 300:
            raise RuntimeError(f"cannot make {directory}: {reply.status} {reply.message()}")
        reply = http.request("PUT", f"/api/contents/{directory}/good.ipynb",
                             {"type": "notebook", "content": sane_notebook()})
        if reply.status >= 300:
            raise RuntimeError(f"cannot save a good notebook: {reply.status} {reply.message()}")

    @staticmethod
    def _outcome(target: str, reply: Reply) -> Outcome:
        clear = 200 <= reply.status < 300 or (400 <= reply.status < 500 and bool(
            reply.message().strip()))
        return Outcome(target, reply.status, clear, f"{reply.status} {reply.message()[:200]}",
                       reply.elapsed)

    def save(self, index: int, data: bytes) -> Outcome:
        """The case as a model's ``content``, byte for byte (so not-JSON stays not-JSON)."""
        body = b'{"type": "notebook", "format": "json", "content": ' + data + b"}"
        return self._outcome("contents save", self.http.request(
            "PUT", f"/api/contents/{self.dir}/saved-{index}.ipynb", raw=body))

    def get(self, index: int, data: bytes) -> list[Outcome]:
        """The case stored by another tool, then opened and validated through the API."""
        name = f"{self.dir}/raw-{index}.ipynb"
        self.conn.put_object(self.container, name, data)
        got = self._outcome("contents get", self.http.request("GET", f"/api/contents/{name}"))
        checked = self._outcome("contents validate", self.http.request(
            "GET", f"/api/swiftcontents/validate/{name}"))
        return [got, checked]

    def serves_good_request(self) -> bool:
        reply = self.http.request("GET", f"/api/contents/{self.dir}/good.ipynb")
        return reply.status == 200 and reply.json() is not None


# --- the section ---------------------------------------------------------------------------

@dataclass
class Tally:
    cases: int = 0
    answered: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HOSTILE_TARGETS, 0))
    clear: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HOSTILE_TARGETS, 0))
    five_xx: int = 0
    no_answer: int = 0
    unclear: int = 0
    crashes: int = 0
    not_served_after: int = 0
    longest: tuple[float, str] = (0.0, "")
    failures: list[str] = field(default_factory=list)
    failed: list[Case] = field(default_factory=list)  # to save and replay byte for byte

    def record(self, case: Case, outcome: Outcome) -> None:
        if outcome.status:
            self.answered[outcome.target] += 1
        if outcome.clear:
            self.clear[outcome.target] += 1
        if outcome.seconds > self.longest[0]:
            self.longest = (outcome.seconds, f"{outcome.target} on {case.name!r}")
        problem = None
        if outcome.status >= 500:
            self.five_xx += 1
            problem = "5xx"
        elif outcome.status == 0:
            self.no_answer += 1
            problem = "no answer"
        elif not outcome.clear:
            self.unclear += 1
            problem = "unclear answer"
        if problem:
            self.failures.append(f"{case.name}: {outcome.target}: {problem}: {outcome.detail}")


def check_case(index: int, case: Case, engine: EngineProbe, api: ApiProbe | None) -> list[Outcome]:
    name = f"case-{index}.ipynb"
    outcomes = [engine.validate_put(name, case.data), engine.validate_get(name),
                engine.listing(name), engine.diff(name)]
    if api is not None:
        outcomes.append(api.save(index, case.data))
        outcomes.extend(api.get(index, case.data))
    return outcomes


def run_cases(aio: Any, cases: Iterable[Case], *, api: bool = True,
              log: Callable[[str], None] = lambda line: None) -> Tally:
    """Every case through every target; the tally of what happened."""
    tally = Tally()
    run_id = uuid.uuid4().hex[:8]
    conn = aio.connection("test", retries=0, timeout=120)
    server = start_jupyter(aio.env("test"), f"hostile-api-{run_id}") if api else None
    http = server.raw_client() if server else None
    try:
        engine = EngineProbe(conn, f"hostile-{run_id}")
        api_probe = ApiProbe(http, server.container, conn, "hostile") if server and http else None
        before = sandbox_processes(Path(aio.data_dir))
        for index, case in enumerate(cases):
            tally.cases += 1
            failures_before = len(tally.failures)
            for outcome in check_case(index, case, engine, api_probe):
                tally.record(case, outcome)
            after = sandbox_processes(Path(aio.data_dir))
            # A process gone is a crash; a new one is not (a first call on another
            # node, or of another storlet, starts its sandbox or daemon).
            if before - after or (server and not server.alive()):
                tally.crashes += 1
                tally.failures.append(f"{case.name}: a sandbox process or the server ended: "
                                      f"{sorted(before - after)} gone, {sorted(after - before)} new")
            before = after
            served = engine.serves_good_request() and (api_probe is None or api_probe.serves_good_request())
            if not served:
                tally.not_served_after += 1
                tally.failures.append(f"{case.name}: the next good request failed")
            if len(tally.failures) > failures_before:
                tally.failed.append(case)
            if index % 50 == 49:
                log(f"  {index + 1} cases, {tally.five_xx} 5xx, {tally.crashes} crashes")
    finally:
        if server and http:
            http.close()
            server.stop()
        drop_containers(conn, [f"hostile-{run_id}", f"hostile-api-{run_id}",
                     f"hostile-api-{run_id}_swiftcontents"])
        conn.close()
    return tally


def report(tally: Tally) -> dict[str, Any]:
    answered = ", ".join(f"{t} {tally.answered[t]}" for t in HOSTILE_TARGETS)
    clear = ", ".join(f"{t} {tally.clear[t]}" for t in HOSTILE_TARGETS)
    lines = [f"hostile input: {tally.cases} cases (target >= {MIN_CASES})",
             f"  answered per storlet/API: {answered}",
             f"  clear answers: {clear}",
             f"  5xx: {tally.five_xx} (target 0); no answer: {tally.no_answer}; "
             f"unclear: {tally.unclear}",
             f"  daemon/server crashes: {tally.crashes} (target 0); next good request failed: "
             f"{tally.not_served_after}",
             f"  longest answer: {tally.longest[0]:.2f} s ({tally.longest[1]})"]
    ok = (tally.five_xx == tally.no_answer == tally.unclear == tally.crashes
          == tally.not_served_after == 0)
    return {"section": SECTION, "lines": lines, "ok": ok, "failures": tally.failures}


def save_cases(cases: Iterable[Case], folder: Path) -> None:
    """Each case's bytes as ``<sha1>.bin`` with its name in ``index.txt``: generated cases
    are not the same bytes in another process, so a failure is replayed from these."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "index.txt", "a", encoding="utf-8") as index:
        for case in cases:
            digest = hashlib.sha1(case.data).hexdigest()
            (folder / f"{digest}.bin").write_bytes(case.data)
            index.write(f"{digest}.bin\t{case.name}\n")


def run(aio: Any, *, quick: bool = False, save_failures: Path | None = None) -> dict[str, Any]:
    cases = all_cases(quick)
    tally = run_cases(aio, cases, log=print)
    if save_failures is not None:
        save_cases(tally.failed, save_failures)
    result = report(tally)
    if len(cases) < MIN_CASES:
        result["ok"] = False
        result["failures"].append(f"only {len(cases)} cases (at least {MIN_CASES})")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="no cases of tens of megabytes")
    parser.add_argument("--save-failures", type=Path, metavar="DIR",
                        help="write the bytes of every case that missed a target to DIR")
    args = parser.parse_args(argv)
    from bench._common import fresh_s2aio
    from deploy.api import deploy

    with fresh_s2aio() as aio:
        conn = aio.connection("test")
        try:
            deploy(conn, warm=True)
        finally:
            conn.close()
        result = run(aio, quick=args.quick, save_failures=args.save_failures)
    print("\n".join(result["lines"]))
    for failure in result["failures"][:50]:
        print("FAIL", failure)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
