"""Rendering of results as HTML (Jupyter) and text (terminal).

Pure functions over a ``View`` (status, headers, a body preview). The body is
recognised by shape, so results of the project's notebook storlets get a
fitting display and anything else a generic one:

- an error document (``X-Object-Meta-Nb-Error`` or ``-Storlet-Error`` set): the message;
- a notebook listing (a list of dicts with notebook fields): a table;
- an nbdime diff (a list of ``{"op", "key"}`` dicts): before | after, side by side;
- a validation report (a dict with ``valid``): verdict and errors;
- an HTML page (``text/html``, e.g. the diff storlet's side-by-side page): in a
  sandboxed frame (no scripts, opaque origin);
- other JSON: pretty printed; text: a preview; binary: a hex preview.
"""
from __future__ import annotations

import dataclasses
import html
import json
import re
from typing import Any, Iterable, Mapping, Sequence

from storlets_apps import _nbcommon

TEXT_PREVIEW_CHARS = 4000
HEX_PREVIEW_BYTES = 256
CELL_CHARS = 200
MAX_ROWS = 500
HTML_FRAME_PX = 480
# Error metadata of storlets: this project's (``Nb-Error`` + ``Nb-Error-Detail``)
# and a generic one. On PUT/COPY the engine drops ``Storlet-*`` metadata.
ERROR_HEADERS = ((_nbcommon.META_PREFIX + _nbcommon.ERROR).lower(),
                 "x-object-meta-storlet-error")
LISTING_KEYS = frozenset({"name", "path", "title", "kernel", "cells", "language",
                          "nbformat", "valid", "size", "output_bytes"})
LISTING_CONTAINER_KEYS = ("notebooks", "entries", "items", "listing", "files")
DIFF_CONTAINER_KEYS = ("diff", "patch")
# Headers users care about first; the rest follow alphabetically.
KEY_HEADERS = ("content-type", "content-length", "etag", "last-modified", "x-trans-id")


def escape(text: Any) -> str:
    """The one escaping step of every HTML rendering here: text and quoted attributes."""
    return html.escape(str(text), quote=True)


@dataclasses.dataclass(frozen=True)
class View:
    """What a renderer needs to know about one result."""

    title: str
    status: int
    headers: Mapping[str, str]
    body: bytes | None
    complete: bool = True
    storlet: str = ""
    log: str | None = None


# -- classification -------------------------------------------------------

def decode_json(body: bytes | None, complete: bool) -> Any:
    """The body as JSON, or ``None`` if it is not (or only partly read)."""
    if not body or not complete:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def is_diff(doc: Any) -> bool:
    return isinstance(doc, list) and all(
        isinstance(e, dict) and "op" in e and "key" in e for e in doc)


def listing_rows(doc: Any) -> list[dict] | None:
    """Rows of a notebook listing, wherever the document keeps them."""
    if isinstance(doc, dict):
        for key in LISTING_CONTAINER_KEYS:
            if isinstance(doc.get(key), list):
                return listing_rows(doc[key])
        return None
    if isinstance(doc, list) and doc and all(isinstance(r, dict) for r in doc) \
            and not is_diff(doc) and any(LISTING_KEYS & set(r) for r in doc):
        return doc
    return None


def diff_entries(doc: Any) -> list[dict] | None:
    if is_diff(doc) and doc:
        return doc
    if isinstance(doc, dict):
        for key in DIFF_CONTAINER_KEYS:
            if is_diff(doc.get(key)):
                return doc[key]
    return None


def error_message(headers: Mapping[str, str]) -> str | None:
    """The error a storlet reported in its metadata, with its detail."""
    for name in ERROR_HEADERS:
        if headers.get(name):
            detail = headers.get(f"{name}-detail")
            return f"{headers[name]}: {detail}" if detail else headers[name]
    return None


def error_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items()
            if any(k == h or k == f"{h}-detail" for h in ERROR_HEADERS)}


def stamp_text(headers: Mapping[str, str]) -> str | None:
    """The validation stamp in the headers as the typed verdict (JSON), if stamped."""
    stamp = _nbcommon.parse_stamp(headers)
    return None if stamp is None else json.dumps(stamp, ensure_ascii=False)


def classify(view: View) -> tuple[str, Any]:
    """``(kind, data)``: error, html, listing, diff, validation, json, text, binary or empty."""
    error = error_message(view.headers)
    if error:
        return "error", error
    if not view.body:
        return "empty", None
    if view.headers.get("content-type", "").startswith("text/html") and view.complete:
        return "html", view.body.decode("utf-8", errors="replace")
    doc = decode_json(view.body, view.complete)
    if doc is not None:
        name = view.storlet.lower()
        rows = listing_rows(doc)
        diff = diff_entries(doc)
        if diff is not None and ("diff" in name or rows is None):
            return "diff", diff
        if rows is not None:
            return "listing", rows
        if isinstance(doc, dict) and "valid" in doc:
            return "validation", doc
        return "json", doc
    try:
        return "text", view.body.decode("utf-8")
    except UnicodeDecodeError:
        # A preview may cut a multi-byte character: tolerate one at the end.
        if not view.complete:
            try:
                return "text", view.body[:-3].decode("utf-8", errors="strict") + "…"
            except UnicodeDecodeError:
                pass
        return "binary", view.body


# StorletLogger writes "<module.Class> LEVEL: message" with no line end.
_LOG_LEVELS = r" (?:DEBUG|INFO|WARN|ERROR): "


def log_lines(text: str, storlet: str = "") -> str:
    """A storlet log with one entry per line (``storlet`` names its module precisely)."""
    module = storlet.rsplit(".", 1)[0] if storlet.endswith(".py") else ""
    name = re.escape(module) if module else r"\b[A-Za-z_]\w*"
    return re.sub(rf"(?<!\n)(?<!^)(?={name}\.[A-Za-z_]\w*{_LOG_LEVELS})", "\n", text)


# -- diff flattening ------------------------------------------------------

def flatten_diff(entries: Sequence[Mapping[str, Any]], path: str = "") -> list[dict[str, str]]:
    """nbdime diff entries as rows ``{path, op, before, after}``.

    Without the base document the "before" side says what goes away
    (removed keys or ranges) and the "after" side what comes in.
    """
    rows: list[dict[str, str]] = []
    for entry in entries:
        op, key = entry.get("op"), entry.get("key")
        here = f"{path}/{key}"
        if op == "patch":
            rows.extend(flatten_diff(entry.get("diff") or [], here))
        elif op == "add":
            rows.append(_diff_row(here, "add", "", entry.get("value")))
        elif op == "remove":
            rows.append(_diff_row(here, "remove", f"{key} removed", ""))
        elif op == "replace":
            rows.append(_diff_row(here, "replace", "(replaced)", entry.get("value")))
        elif op == "addrange":
            for offset, value in enumerate(entry.get("valuelist") or []):
                rows.append(_diff_row(f"{path}/{_offset(key, offset)}", "add", "", value))
        elif op == "removerange":
            length = entry.get("length", 1)
            rows.append(_diff_row(here, "remove", f"{length} item(s) from {key} removed", ""))
        else:
            rows.append(_diff_row(here, str(op), "", entry))
    return rows


def _offset(key: Any, offset: int) -> str:
    return str(key + offset) if isinstance(key, int) else f"{key}+{offset}"


def _diff_row(path: str, op: str, before: Any, after: Any) -> dict[str, str]:
    return {"path": path, "op": op, "before": _short(before), "after": _short(after)}


def _short(value: Any, limit: int = CELL_CHARS) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = "".join(value)  # nbformat multiline strings
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# -- HTML -----------------------------------------------------------------

def ordered_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    first = [(k, headers[k]) for k in KEY_HEADERS if k in headers]
    rest = sorted((k, v) for k, v in headers.items() if k not in KEY_HEADERS)
    return first + rest


def table_html(rows: Sequence[Mapping[str, Any]], columns: Iterable[str] | None = None,
               caption: str = "") -> str:
    cols = list(columns) if columns else _columns(rows)
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(r.get(c)))}</td>" for c in cols) + "</tr>"
        for r in rows[:MAX_ROWS])
    more = f"<p>… {len(rows) - MAX_ROWS} more rows</p>" if len(rows) > MAX_ROWS else ""
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows[:MAX_ROWS]:
        cols.extend(k for k in row if k not in cols)
    return cols


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):  # e.g. a listing's {"code": 2, "markdown": 1}
        return ", ".join(f"{k} {_short(v, 40)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_short(v, 60) for v in value)
    return _short(value)


def diff_html(entries: Sequence[Mapping[str, Any]]) -> str:
    rows = flatten_diff(entries)
    colour = {"add": "#e6ffed", "remove": "#ffeef0", "replace": "#fff5b1"}
    body = "".join(
        f"<tr style='background:{colour.get(r['op'], 'inherit')}'>"
        f"<td><code>{escape(r['path'])}</code></td><td>{escape(r['op'])}</td>"
        f"<td><pre style='margin:0;white-space:pre-wrap'>{escape(r['before'])}</pre></td>"
        f"<td><pre style='margin:0;white-space:pre-wrap'>{escape(r['after'])}</pre></td></tr>"
        for r in rows[:MAX_ROWS])
    return ("<table class='storlet-diff'><thead><tr><th>path</th><th>op</th>"
            f"<th>before</th><th>after</th></tr></thead><tbody>{body}</tbody></table>"
            f"<p>{len(rows)} change(s)</p>")


def validation_html(doc: Mapping[str, Any]) -> str:
    verdict = "valid" if doc.get("valid") else "INVALID"
    colour = "green" if doc.get("valid") else "#b00"
    details = {k: v for k, v in doc.items() if k not in ("valid", "errors")}
    errors = doc.get("errors") or []
    items = "".join(f"<li><code>{escape(_short(e, 500))}</code></li>" for e in errors[:MAX_ROWS])
    facts = "".join(f"<li>{escape(k)}: {escape(_short(v))}</li>" for k, v in details.items())
    return (f"<p><b style='color:{colour}'>{verdict}</b></p><ul>{facts}</ul>"
            + (f"<p>{len(errors)} error(s):</p><ol>{items}</ol>" if errors else ""))


def html_frame(page: str) -> str:
    """A storlet's page in a frame that keeps its styles but not its powers.

    The page is data from Swift (notebook text included), shown on Jupyter's
    origin: an empty ``sandbox`` gives it an opaque origin with no scripts,
    forms, popups or top navigation, so it cannot reach the Jupyter API or
    kernels. ``srcdoc`` is an escaped, double-quoted attribute value.
    """
    return (f"<iframe srcdoc=\"{escape(page)}\" sandbox=\"\" "
            f"style='width:100%;height:{HTML_FRAME_PX}px;border:1px solid #ccc'></iframe>")


def body_html(kind: str, data: Any, view: View) -> str:
    if kind == "error":
        return f"<p style='color:#b00'><b>storlet error:</b> {escape(data)}</p>"
    if kind == "listing":
        return table_html(data)
    if kind == "diff":
        return diff_html(data)
    if kind == "validation":
        return validation_html(data)
    if kind == "json":
        return f"<pre>{escape(json.dumps(data, indent=2, ensure_ascii=False))}</pre>"
    if kind == "html":
        return html_frame(data)
    if kind == "text":
        more = "…" if len(data) > TEXT_PREVIEW_CHARS or not view.complete else ""
        return f"<pre>{escape(data[:TEXT_PREVIEW_CHARS])}{more}</pre>"
    if kind == "binary":
        return f"<pre>{escape(hex_preview(data))}</pre>"
    return "<p><i>no body</i></p>"


def result_html(view: View) -> str:
    kind, data = classify(view)
    headers = "".join(f"<tr><td><code>{escape(k)}</code></td><td>{escape(v)}</td></tr>"
                      for k, v in ordered_headers(view.headers))
    log = (f"<details><summary>storlet log</summary><pre>{escape(log_lines(view.log, view.storlet))}</pre>"
           "</details>"
           if view.log is not None else "")
    stamp = stamp_text(view.headers)
    stamp_line = f"<p>validation stamp: <code>{escape(stamp)}</code></p>" if stamp else ""
    return (f"<div class='storlet-result'><p><b>{escape(view.title)}</b> → "
            f"status <b>{view.status}</b> <small>({escape(kind)})</small></p>{stamp_line}"
            f"{body_html(kind, data, view)}"
            f"<details><summary>headers</summary><table>{headers}</table></details>"
            f"{log}</div>")


def log_html(storlet: str, text: str) -> str:
    return f"<p><b>log of {escape(storlet)}</b></p><pre>{escape(log_lines(text, storlet))}</pre>"


# -- text -----------------------------------------------------------------

def table_text(rows: Sequence[Mapping[str, Any]], columns: Iterable[str] | None = None,
               caption: str = "") -> str:
    cols = list(columns) if columns else _columns(rows)
    cells = [[_short(_cell(r.get(c)), 40) for c in cols] for r in rows[:MAX_ROWS]]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    out = ([caption] if caption else []) + [line(cols), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    if len(rows) > MAX_ROWS:
        out.append(f"... {len(rows) - MAX_ROWS} more rows")
    return "\n".join(out)


def diff_text(entries: Sequence[Mapping[str, Any]]) -> str:
    rows = flatten_diff(entries)
    marks = {"add": "+", "remove": "-", "replace": "~"}
    lines = [f"{marks.get(r['op'], '?')} {r['path']}: {r['before']} | {r['after']}"
             for r in rows[:MAX_ROWS]]
    return "\n".join(lines + [f"{len(rows)} change(s)"])


def body_text(kind: str, data: Any, view: View) -> str:
    if kind == "error":
        return f"storlet error: {data}"
    if kind == "listing":
        return table_text(data)
    if kind == "diff":
        return diff_text(data)
    if kind == "validation":
        errors = data.get("errors") or []
        lines = ["valid" if data.get("valid") else "INVALID"]
        lines += [f"  - {_short(e, 300)}" for e in errors[:MAX_ROWS]]
        return "\n".join(lines)
    if kind == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    if kind in ("text", "html"):
        more = "…" if len(data) > TEXT_PREVIEW_CHARS or not view.complete else ""
        return data[:TEXT_PREVIEW_CHARS] + more
    if kind == "binary":
        return hex_preview(data)
    return "(no body)"


def result_text(view: View) -> str:
    kind, data = classify(view)
    head = f"{view.title} -> status {view.status}"
    tx = view.headers.get("x-trans-id")
    lines = [head + (f" (transaction {tx})" if tx else "")]
    for key in ("content-type", "content-length", "etag"):
        if key in view.headers:
            lines.append(f"  {key}: {view.headers[key]}")
    stamp = stamp_text(view.headers)
    if stamp:
        lines.append(f"  validation stamp: {stamp}")
    lines.append(body_text(kind, data, view))
    if view.log is not None:
        lines += ["--- storlet log ---", log_lines(view.log, view.storlet)]
    return "\n".join(lines)


def hex_preview(data: bytes) -> str:
    chunk = data[:HEX_PREVIEW_BYTES]
    lines = [f"{i:08x}  {chunk[i:i + 16].hex(' ')}" for i in range(0, len(chunk), 16)]
    if len(data) > HEX_PREVIEW_BYTES:
        lines.append(f"... ({len(data)} bytes previewed)")
    return "\n".join(lines)
