"""Notebook listing storlet: one summary per notebook, without shipping the notebooks.

Inputs: the object of the request plus any extra resources
(``X-Storlet-Extra-Resources: /c/a.ipynb,/c/b.ipynb``). Run it on the proxy
(``X-Storlet-Run-On-Proxy``), which is where extra resources are gathered.

Parameters (``X-Storlet-Parameter-N`` headers; a query string reaches the
storlet as Latin-1, which garbles non-ASCII names):

- ``names``: the display name of each input, in input order, as a JSON list
  (``["a.ipynb", "b.ipynb"]``) or comma-separated. The engine does not tell a
  storlet its object names, so callers pass them; missing names become
  ``input-N``.
- ``format=json`` (default): a JSON list, one entry per input in input order:
  ``{name, bytes, nbformat, kernel, language, title, cells: {code, markdown,
  raw, other}, outputs: {count, bytes, images}, max_execution_count, valid}``,
  or ``{name, bytes, error, detail}`` for an input that is not a readable
  notebook (truncated JSON, not UTF-8, not a notebook, unknown version, too large).
- ``format=html`` / ``format=markdown``: the same as a table, one row per notebook
  showing its name.
- ``max_bytes`` (per input) and ``max_seconds`` (whole call): lower only; the
  operator's ceilings (64 MiB, 30 s) are the defaults.

Metadata: ``Nb-Listing-Count``, ``Nb-Listing-Errors``.

Batch size: Swift's 8 KiB header lines and the engine's 4 KiB SBus message
(which carries every input's metadata and the ``names`` list) bound how many
inputs one call may take: about 20 with validation stamps. Callers split their
notebooks with ``swiftproto.batching`` (not uploaded: the storlet never needs
it). Parameters arrive URL-unquoted by the engine, so any name round-trips.
"""

import json

try:
    import _nbcommon
    import _nbschema
except ImportError:  # imported from the repository (local harness, tests)
    from storlets_apps import _nbcommon, _nbschema

# _nbschema.py declares the schemas and fastjsonschema.zip it needs itself.
STORLET_DEPENDENCIES = {
    "_nbcommon.py": "repo:_nbcommon.py",
    "_nbschema.py": "repo:_nbschema.py",
}

FORMATS = ("json", "html", "markdown")
COLUMNS = ("name", "title", "kernel", "language", "nbformat", "cells", "outputs",
           "output bytes", "images", "max exec", "valid", "bytes")


def parse_names(raw, count):
    """Names for ``count`` inputs from the ``names`` parameter."""
    names = []
    if raw:
        if raw.lstrip().startswith("["):
            try:
                names = [str(n) for n in json.loads(raw)]
            except (ValueError, TypeError):
                raise _nbcommon.NotebookProblem(
                    "bad_parameter", "names must be a JSON list of strings or comma-separated")
        else:
            names = [n.strip() for n in raw.split(",")]
    return [names[k] if k < len(names) and names[k] else "input-%d" % (k + 1)
            for k in range(count)]


def _cells(nb):
    if nb.get("nbformat") == 3:
        cells = []
        sheets = nb.get("worksheets")
        for sheet in sheets if isinstance(sheets, list) else ():  # hostile: any JSON value
            if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list):
                cells.extend(sheet["cells"])
        return cells
    cells = nb.get("cells")
    return cells if isinstance(cells, list) else []


def _cell_text(cell):
    text = _nbcommon.source_text(cell)
    if not text and isinstance(cell, dict) and isinstance(cell.get("input"), (str, list)):
        text = _nbcommon.source_text({"source": cell["input"]})  # nbformat 3 code cells
    return text


def title(cells):
    """The first markdown heading, else the first non-empty line of any cell."""
    first_line = None
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        text = _cell_text(cell)
        if cell.get("cell_type") == "heading" and text.strip():
            return text.strip().splitlines()[0]
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if cell.get("cell_type") == "markdown" and line.startswith("#"):
                return line.lstrip("#").strip()
            if first_line is None:
                first_line = line
    return first_line or ""


def _output_stats(outputs, stats):
    for output in outputs:
        if not isinstance(output, dict):
            continue
        stats["count"] += 1
        stats["bytes"] += len(json.dumps(output, ensure_ascii=False).encode("utf-8"))
        data = output.get("data")
        if isinstance(data, dict) and any(str(k).startswith("image/") for k in data):
            stats["images"] += 1
        elif any(str(k) in ("png", "jpeg", "svg") for k in output):  # nbformat 3
            stats["images"] += 1


def summarize(nb, size):
    """The listing entry of a parsed notebook of ``size`` bytes."""
    major, minor = _nbcommon.notebook_version(nb)
    if major not in (3, 4):
        raise _nbcommon.NotebookProblem(
            "unknown_version", "nbformat %s.%s is not a known notebook version" % (major, minor))
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    kernelspec = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    language_info = meta.get("language_info") if isinstance(
        meta.get("language_info"), dict) else {}
    cells = _cells(nb)
    counts = {"code": 0, "markdown": 0, "raw": 0, "other": 0}
    outputs = {"count": 0, "bytes": 0, "images": 0}
    max_count = None
    for cell in cells:
        kind = cell.get("cell_type") if isinstance(cell, dict) else None
        kind = kind if isinstance(kind, str) and kind in counts else "other"
        counts[kind] += 1
        if kind != "code":
            continue
        if isinstance(cell.get("outputs"), list):
            _output_stats(cell["outputs"], outputs)
        count = cell.get("execution_count", cell.get("prompt_number"))
        if isinstance(count, int) and not isinstance(count, bool):
            max_count = count if max_count is None else max(max_count, count)
    return {
        "bytes": size,
        "nbformat": "%s.%s" % (major, minor),
        "kernel": kernelspec.get("name") or "",
        "language": language_info.get("name") or kernelspec.get("language") or "",
        "title": title(cells),
        "cells": counts,
        "outputs": outputs,
        "max_execution_count": max_count,
        "valid": _nbschema.is_valid(nb),
    }


def summary_entry(name, data):
    """The listing entry of notebook bytes: a summary or an error entry."""
    try:
        result = {"name": name}
        result.update(summarize(_nbcommon.parse_notebook(data), len(data)))
        return result
    except _nbcommon.NotebookProblem as problem:
        return {"name": name, "bytes": len(data), "error": problem.code, "detail": problem.detail}


def entry(name, in_file, budget):
    """One listing entry: a summary or an error entry, never an exception."""
    try:
        data = _nbcommon.read_input(in_file, budget)
    except _nbcommon.NotebookProblem as problem:
        if problem.code == "time_budget_exceeded":
            raise
        return {"name": name, "bytes": None, "error": problem.code, "detail": problem.detail}
    return summary_entry(name, data)


def _row(item):
    if "error" in item:
        return [item["name"], "error: %s (%s)" % (item["error"], item["detail"])] + \
            [""] * (len(COLUMNS) - 3) + [str(item["bytes"] if item["bytes"] is not None else "")]
    cells = item["cells"]
    # kernel/language are whatever the notebook's metadata holds, not always strings
    return [item["name"], item["title"], str(item["kernel"]), str(item["language"]),
            item["nbformat"],
            "%d (%d code, %d md)" % (sum(cells.values()), cells["code"], cells["markdown"]),
            str(item["outputs"]["count"]), str(item["outputs"]["bytes"]),
            str(item["outputs"]["images"]),
            "" if item["max_execution_count"] is None else str(item["max_execution_count"]),
            _nbcommon.VALID_WORDS[item["valid"]], str(item["bytes"])]


def render_markdown(items):
    def cell(text):
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines.extend("| " + " | ".join(cell(v) for v in _row(item)) + " |" for item in items)
    return "\n".join(lines) + "\n"


def render_html(items):
    """The table as a page; names and every notebook-derived cell go through html_text."""
    esc = _nbcommon.html_text
    head = "".join("<th>%s</th>" % esc(c) for c in COLUMNS)
    rows = "".join(
        "<tr>%s</tr>" % "".join("<td>%s</td>" % esc(v) for v in _row(item))
        for item in items)
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Notebooks</title>"
            "<style>table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:2px 6px;text-align:left}</style></head><body>"
            "<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table></body></html>\n"
            % (head, rows))


class ListingStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        _nbcommon.run_guarded(
            self.logger, in_files, out_files, lambda: self._list(in_files, params), params)

    def _list(self, in_files, params):
        fmt = _nbcommon.choice_param(params, "format", FORMATS, "json")
        budget = _nbcommon.Budget.from_params(params)
        names = parse_names(params.get("names"), len(in_files))
        items = []
        for name, in_file in zip(names, in_files):
            items.append(entry(name, in_file, budget))
            # Free the engine's writer for this input early (drained when too large).
            _nbcommon.close_inputs([in_file], budget)
            budget.check()
        md = {
            "Nb-Listing-Count": str(len(items)),
            "Nb-Listing-Errors": str(sum(1 for item in items if "error" in item)),
        }
        if fmt == "json":
            md["Content-Type"] = _nbcommon.JSON_TYPE
            return md, _nbcommon.json_body(items)
        if fmt == "markdown":
            md["Content-Type"] = "text/markdown; charset=utf-8"
            return md, render_markdown(items).encode("utf-8")
        md["Content-Type"] = "text/html; charset=utf-8"
        return md, render_html(items).encode("utf-8")
