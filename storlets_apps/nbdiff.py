"""Checkpoint diff storlet: what changed in a notebook since one of its checkpoints.

Inputs: the notebook (the object of the request) and one checkpoint, given as
an extra resource (``X-Storlet-Extra-Resources: /container/checkpoint``).
Both must be nbformat 4 notebooks; they are compared as ``nbformat.reads``
holds them in memory (multi-line fields joined, transient keys dropped).

Parameters (query string or ``X-Storlet-Parameter-N``):

- ``format=nbdime`` (default): JSON, a diff in nbdime's diff format from the
  checkpoint to the notebook: ``nbdime.patch(checkpoint, diff) == notebook``.
  Lists get ``addrange``/``removerange``/``patch`` entries, dicts
  ``add``/``remove``/``replace``/``patch``, multi-line strings line-based
  ``patch`` entries, exactly the ops nbdime's own ``diff_format`` defines.
- ``format=text``: a readable unified diff (no context lines) per changed cell.
- ``format=html``: a self-contained side-by-side HTML page.
- ``max_bytes`` (per input) and ``max_seconds``: lower only; the operator's
  ceilings (64 MiB, 30 s) are the defaults.

Metadata (``X-Object-Meta-`` on the response): ``Nb-Cells-Added``,
``Nb-Cells-Removed``, ``Nb-Cells-Modified``, ``Nb-Cells-Moved`` (moved cells
are also counted as removed + added, the only way nbdime's format expresses a
move), ``Nb-Metadata-Changed: yes|no``.

Never quadratic: sequences (cells, outputs, lines) are matched on hashed keys
(cell id, then whole content, then source, then first line), each a linear
pass; the kept order is a longest increasing subsequence (n log n); what is
left between kept items is paired by position when similar, else removed and
added. A 2,000-cell notebook with every cell changed and reordered takes well
under a second. Problems (bad input, no checkpoint, budgets) give a JSON error
document ``{"error", "detail"}`` and ``Nb-Error`` metadata.
"""

import bisect
import hashlib
import json

try:
    import _nbcommon
except ImportError:  # imported from the repository (local harness, tests)
    from storlets_apps import _nbcommon

STORLET_DEPENDENCIES = {"_nbcommon.py": "repo:_nbcommon.py"}

FORMATS = ("nbdime", "text", "html")
SIMILAR_RATIO = 0.5


# --- nbdime diff entries (nbdime/diff_format.py documents the format) ---------

def op_add(key, value):
    return {"op": "add", "key": key, "value": value}


def op_remove(key):
    return {"op": "remove", "key": key}


def op_replace(key, value):
    return {"op": "replace", "key": key, "value": value}


def op_addrange(key, valuelist):
    return {"op": "addrange", "key": key, "valuelist": valuelist}


def op_removerange(key, length):
    return {"op": "removerange", "key": key, "length": length}


def op_patch(key, diff):
    return {"op": "patch", "key": key, "diff": diff}


# --- matching sequences without going quadratic -------------------------------

def digest(value):
    return hashlib.sha1(
        json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")).digest()


def match_by_keys(a_keys_levels, b_keys_levels, na, nb):
    """One-to-one pairs (i, j) with equal keys, level by level (k-th with k-th).

    Each level is a pair of key lists (None = no key); a linear pass per level.
    """
    a_to_b = {}
    b_taken = set()
    for a_keys, b_keys in zip(a_keys_levels, b_keys_levels):
        buckets = {}
        for j in range(nb):
            if j not in b_taken and b_keys[j] is not None:
                buckets.setdefault(b_keys[j], []).append(j)
        for bucket in buckets.values():
            bucket.reverse()
        for i in range(na):
            if i in a_to_b or a_keys[i] is None:
                continue
            bucket = buckets.get(a_keys[i])
            if bucket:
                j = bucket.pop()
                a_to_b[i] = j
                b_taken.add(j)
    return sorted(a_to_b.items())


def longest_increasing(pairs):
    """The longest subsequence of (i, j) pairs (sorted by i) increasing in j."""
    tails, tail_idx, prev = [], [], [None] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        pos = bisect.bisect_left(tails, j)
        if pos == len(tails):
            tails.append(j)
            tail_idx.append(k)
        else:
            tails[pos] = j
            tail_idx[pos] = k
        prev[k] = tail_idx[pos - 1] if pos else None
    out = []
    k = tail_idx[-1] if tail_idx else None
    while k is not None:
        out.append(pairs[k])
        k = prev[k]
    out.reverse()
    return out


def _keys(key, items, budget, every=1000):
    """``key`` of each item, checking the time budget as it goes: hashing 100,000 outputs
    takes seconds, and past the engine's storlet_timeout the call ends without this
    storlet's clear time_budget_exceeded error."""
    keys = []
    for n, item in enumerate(items):
        if n % every == 0:
            budget.check()
        keys.append(key(item))
    budget.check()
    return keys


def align(a, b, levels, similar, budget):
    """Align two sequences: a list of (i or None, j or None) steps in order.

    ``levels`` is a list of key functions; ``similar(x, y)`` says whether two
    leftover items at the same place in a gap are one item changed.
    Returns (steps, moved) where moved counts matched pairs that changed order.
    """
    a_levels = [_keys(key, a, budget) for key in levels]
    b_levels = [_keys(key, b, budget) for key in levels]
    pairs = match_by_keys(a_levels, b_levels, len(a), len(b))
    anchors = longest_increasing(pairs)
    steps = []
    i0 = j0 = 0
    for i1, j1 in anchors + [(len(a), len(b))]:
        for k in range(max(i1 - i0, j1 - j0)):
            i = i0 + k if i0 + k < i1 else None
            j = j0 + k if j0 + k < j1 else None
            if i is not None and j is not None and not similar(a[i], b[j]):
                steps.append((i, None))
                steps.append((None, j))
            else:
                steps.append((i, j))
        if i1 < len(a):
            steps.append((i1, j1))
        i0, j0 = i1 + 1, j1 + 1
        budget.check()
    return steps, len(pairs) - len(anchors)


def sequence_ops(steps, item_diff):
    """nbdime list entries for aligned steps; ``item_diff`` for pairs (or None)."""
    ops = []
    pending_add, pending_remove, run_key = [], 0, None
    next_i = 0

    def flush():
        if pending_add:
            ops.append(op_addrange(run_key, list(pending_add)))
        if pending_remove:
            ops.append(op_removerange(run_key, pending_remove))

    for i, j in steps:
        if i is not None and j is not None:
            flush()
            pending_add, pending_remove, run_key = [], 0, None
            sub = item_diff(i, j)
            if sub:
                ops.append(op_patch(i, sub))
            next_i = i + 1
            continue
        if run_key is None:
            run_key = next_i
        if i is not None:
            pending_remove += 1
            next_i = i + 1
        else:
            pending_add.append(j)
    flush()
    return ops


def _resolve_adds(ops, b):
    for op in ops:
        if op["op"] == "addrange":
            op["valuelist"] = [b[j] for j in op["valuelist"]]
    return ops


# --- generic values ------------------------------------------------------------

def is_multiline(value):
    return isinstance(value, str) and "\n" in value


def diff_value(a, b, budget):
    """nbdime diff of two containers/strings (None if equal)."""
    if a == b:
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        return diff_dict(a, b, budget)
    if isinstance(a, list) and isinstance(b, list):
        return diff_list(a, b, budget)
    if isinstance(a, str) and isinstance(b, str):
        return diff_lines(a, b, budget)
    raise TypeError("cannot patch %s into %s" % (type(a).__name__, type(b).__name__))


def _patchable(a, b):
    return ((isinstance(a, dict) and isinstance(b, dict))
            or (isinstance(a, list) and isinstance(b, list))
            or (is_multiline(a) and isinstance(b, str))
            or (isinstance(a, str) and is_multiline(b)))


def diff_dict(a, b, budget, special=None):
    ops = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            ops.append(op_remove(key))
        elif key not in a:
            ops.append(op_add(key, b[key]))
        elif a[key] != b[key]:
            if special and key in special:
                sub = special[key](a[key], b[key], budget)
                if sub is None:  # not patchable: replace it whole
                    ops.append(op_replace(key, b[key]))
                    continue
            elif _patchable(a[key], b[key]):
                sub = diff_value(a[key], b[key], budget)
            else:
                ops.append(op_replace(key, b[key]))
                continue
            if sub:
                ops.append(op_patch(key, sub))
    return ops


def diff_list(a, b, budget):
    steps, _ = align(a, b, [digest], _same_container_kind, budget)
    return _resolve_adds(
        sequence_ops(steps, lambda i, j: diff_value(a[i], b[j], budget)), b)


def _same_container_kind(x, y):
    return (isinstance(x, dict) and isinstance(y, dict)) or (
        isinstance(x, list) and isinstance(y, list))


def diff_lines(a, b, budget):
    """Line-based string diff, as nbdime's ``patch`` applies to strings."""
    a_lines, b_lines = a.splitlines(True), b.splitlines(True)
    steps, _ = align(a_lines, b_lines, [lambda line: line], lambda x, y: False, budget)
    return _resolve_adds(sequence_ops(steps, lambda i, j: None), b_lines)


# --- notebooks ---------------------------------------------------------------------

def _cell_id(cell):
    value = cell.get("id") if isinstance(cell, dict) else None
    return ("id", value) if isinstance(value, str) else None


def _source_key(cell):
    if not isinstance(cell, dict):
        return None
    return digest([cell.get("cell_type"), cell.get("source")])


def _text_or_none(value):
    """Keys are hashed: a field of the wrong type (a list, a dict) is no key at all."""
    return value if isinstance(value, str) else None


def _first_line_key(cell):
    text = _nbcommon.source_text(cell).strip()
    if not text:
        return None
    return (_text_or_none(cell.get("cell_type")), text.splitlines()[0].strip())


def _similar_cells(x, y):
    if not (isinstance(x, dict) and isinstance(y, dict)):
        return False
    if x.get("cell_type") != y.get("cell_type"):
        return False
    if _cell_id(x) and _cell_id(y):
        return _cell_id(x) == _cell_id(y)
    sx, sy = _nbcommon.source_text(x), _nbcommon.source_text(y)
    if not sx or not sy:
        return True
    return _quick_ratio(sx, sy) >= SIMILAR_RATIO


def _quick_ratio(x, y):
    """difflib's quick_ratio (character multiset overlap), linear time."""
    counts = {}
    for ch in y:
        counts[ch] = counts.get(ch, 0) + 1
    matches = 0
    for ch in x:
        if counts.get(ch, 0) > 0:
            counts[ch] -= 1
            matches += 1
    return 2.0 * matches / (len(x) + len(y))


def _output_key(output):
    if not isinstance(output, dict):
        return None
    return (_text_or_none(output.get("output_type")), _text_or_none(output.get("name")))


def _similar_outputs(x, y):
    return isinstance(x, dict) and isinstance(y, dict) and _output_key(x) == _output_key(y)


def diff_outputs(a, b, budget):
    if not (isinstance(a, list) and isinstance(b, list)):
        return None
    steps, _ = align(a, b, [digest, _output_key], _similar_outputs, budget)
    return _resolve_adds(
        sequence_ops(steps, lambda i, j: diff_value(a[i], b[j], budget)), b)


def diff_cell(a, b, budget):
    if not (isinstance(a, dict) and isinstance(b, dict)):
        raise TypeError("cells must be objects")
    return diff_dict(a, b, budget, special={"outputs": diff_outputs})


class CellDiff(object):
    """The cell-level result: nbdime entries for ``cells`` plus counts."""

    def __init__(self, base, remote, budget):
        self.base, self.remote = base, remote
        levels = [_cell_id, digest, _source_key, _first_line_key]
        self.steps, self.moved = align(base, remote, levels, _similar_cells, budget)
        self.patches = {}
        for i, j in self.steps:
            if i is not None and j is not None and base[i] != remote[j]:
                self.patches[i] = diff_cell(base[i], remote[j], budget)
            budget.check()
        self.ops = _resolve_adds(
            sequence_ops(self.steps, lambda i, j: self.patches.get(i)), remote)
        self.added = sum(1 for i, j in self.steps if i is None)
        self.removed = sum(1 for i, j in self.steps if j is None)
        self.modified = len(self.patches)


def diff_notebooks(base, remote, budget):
    """(nbdime diff, CellDiff) from the checkpoint ``base`` to ``remote``."""
    cells = CellDiff(base["cells"], remote["cells"], budget)
    special = {"cells": lambda a, b, budget: cells.ops}
    return diff_dict(base, remote, budget, special=special), cells


# --- renderings --------------------------------------------------------------------

def _label(cell, index, side):
    kind = cell.get("cell_type", "?") if isinstance(cell, dict) else "?"
    return "%s cell %d (%s)" % (side, index + 1, kind)


def _line_rows(a_text, b_text, budget):
    """Side-by-side rows (old, new, kind) for two sources, from our line diff."""
    a_lines, b_lines = a_text.splitlines(), b_text.splitlines()
    steps, _ = align(a_lines, b_lines, [lambda line: line], lambda x, y: False, budget)
    rows = []
    for i, j in steps:
        old = a_lines[i] if i is not None else None
        new = b_lines[j] if j is not None else None
        kind = "same" if old is not None and new is not None else ("del" if new is None else "add")
        rows.append((old, new, kind))
    return rows


def _changes(cells):
    """(kind, base index or None, remote index or None) for each changed cell."""
    for i, j in cells.steps:
        if i is None:
            yield "added", None, j
        elif j is None:
            yield "removed", i, None
        elif i in cells.patches:
            yield "modified", i, j


def render_text(nb_diff, cells, budget):
    out = ["--- checkpoint", "+++ notebook",
           "# cells: %d added, %d removed, %d modified" % (cells.added, cells.removed,
                                                           cells.modified)]
    for key in (op["key"] for op in nb_diff if op["key"] != "cells"):
        out.append("# notebook %s changed" % key)
    for kind, i, j in _changes(cells):
        a = _nbcommon.source_text(cells.base[i]) if i is not None else ""
        b = _nbcommon.source_text(cells.remote[j]) if j is not None else ""
        where = _label(cells.base[i], i, "checkpoint") if i is not None else \
            _label(cells.remote[j], j, "notebook")
        out.append("## %s %s" % (where, kind))
        for old, new, row_kind in _line_rows(a, b, budget):
            if row_kind == "del":
                out.append("-" + old)
            elif row_kind == "add":
                out.append("+" + new)
        if kind == "modified":
            changed = [op["key"] for op in cells.patches[i] if op["key"] != "source"]
            if changed:
                out.append("# also changed: " + ", ".join(changed))
    return "\n".join(out) + "\n"


HTML_STYLE = (
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;width:100%;"
    "table-layout:fixed;margin-bottom:1.5em}td{font-family:monospace;white-space:pre-wrap;"
    "vertical-align:top;padding:0 .4em;border-left:1px solid #ddd}"
    "td.del{background:#fdd}td.add{background:#dfd}th{text-align:left;background:#eee}"
    "h2{font-size:1em}")


def _html_label(cells, index, side):
    """An escaped column header (the label holds the notebook's own cell_type)."""
    if index is None:
        return "&nbsp;"
    cell = (cells.base if side == "checkpoint" else cells.remote)[index]
    return _nbcommon.html_text(_label(cell, index, side))


def render_html(nb_diff, cells, budget):
    """The side-by-side page; every notebook-derived string goes through html_text."""
    esc = _nbcommon.html_text
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Notebook diff</title>",
        "<style>%s</style></head><body>" % HTML_STYLE,
        "<h1>Checkpoint &rarr; notebook</h1><p>%d added, %d removed, %d modified cells</p>"
        % (cells.added, cells.removed, cells.modified),
    ]
    for kind, i, j in _changes(cells):
        a = _nbcommon.source_text(cells.base[i]) if i is not None else ""
        b = _nbcommon.source_text(cells.remote[j]) if j is not None else ""
        parts.append("<h2>%s</h2><table><tr><th>%s</th><th>%s</th></tr>" % (
            esc(kind), _html_label(cells, i, "checkpoint"), _html_label(cells, j, "notebook")))
        for old, new, row_kind in _line_rows(a, b, budget):
            left_cls = "del" if row_kind == "del" else ""
            right_cls = "add" if row_kind == "add" else ""
            parts.append("<tr><td class='%s'>%s</td><td class='%s'>%s</td></tr>" % (
                left_cls, esc(old or ""), right_cls, esc(new or "")))
        parts.append("</table>")
    other = [op["key"] for op in nb_diff if op["key"] != "cells"]
    if other:
        parts.append("<p>Notebook fields changed: %s</p>" % esc(", ".join(other)))
    parts.append("</body></html>\n")
    return "".join(parts)


# --- the storlet -------------------------------------------------------------------

def load(in_file, budget, what):
    try:
        nb = _nbcommon.parse_notebook(_nbcommon.read_input(in_file, budget))
        _nbcommon.require_v4(nb)
    except _nbcommon.NotebookProblem as problem:
        problem.detail = "%s: %s" % (what, problem.detail)
        raise
    return _nbcommon.in_memory_form(nb)


class DiffStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        _nbcommon.run_guarded(
            self.logger, in_files, out_files, lambda: self._diff(in_files, params), params)

    def _diff(self, in_files, params):
        fmt = _nbcommon.choice_param(params, "format", FORMATS, "nbdime")
        budget = _nbcommon.Budget.from_params(params)
        if len(in_files) != 2:
            raise _nbcommon.NotebookProblem(
                "bad_request",
                "nbdiff needs the notebook and exactly one checkpoint (as "
                "X-Storlet-Extra-Resources), got %d input(s)" % len(in_files))
        remote = load(in_files[0], budget, "notebook")
        base = load(in_files[1], budget, "checkpoint")
        nb_diff, cells = diff_notebooks(base, remote, budget)
        md = {
            "Nb-Cells-Added": str(cells.added),
            "Nb-Cells-Removed": str(cells.removed),
            "Nb-Cells-Modified": str(cells.modified),
            "Nb-Cells-Moved": str(cells.moved),
            "Nb-Metadata-Changed": "yes" if base.get("metadata") != remote.get("metadata")
            else "no",
            # A GET answer also carries the object's own metadata: blank the error keys
            # a validation stamp may have stored, so this diff does not read as an error.
            _nbcommon.ERROR: "",
            _nbcommon.ERROR_DETAIL: "",
        }
        if fmt == "nbdime":
            md["Content-Type"] = _nbcommon.JSON_TYPE
            return md, _nbcommon.json_body(nb_diff)
        if fmt == "text":
            md["Content-Type"] = "text/plain; charset=utf-8"
            return md, render_text(nb_diff, cells, budget).encode("utf-8")
        md["Content-Type"] = "text/html; charset=utf-8"
        return md, render_html(nb_diff, cells, budget).encode("utf-8")
