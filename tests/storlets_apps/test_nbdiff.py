"""nbdiff through the local harness, checked with nbdime itself."""
from __future__ import annotations

import json
import random
import time

import pytest
from nbdime import patch
from nbdime.diff_format import validate_diff
from nbdime.diff_utils import to_diffentry_dicts

from swiftproto.harness import run_storlet
from storlets_apps.nbdiff import DiffStorlet

from . import corpus
from .conftest import huge_output_notebook


def run_diff(notebook: bytes, checkpoint, fmt="nbdime", **params):
    extra = [] if checkpoint is None else [(checkpoint, {})]
    return run_storlet(DiffStorlet, notebook, extra=extra, params={"format": fmt, **params})


def assert_patches(checkpoint: bytes, notebook: bytes, body: bytes) -> None:
    diff = to_diffentry_dicts(json.loads(body))
    validate_diff(diff, deep=True)
    assert patch(corpus.reads_v4(checkpoint), diff) == corpus.reads_v4(notebook)


def test_random_edits_on_corpus_patch_back_with_nbdime(v4_corpus):
    rng = random.Random(20240601)
    checked = 0
    for path, data in v4_corpus.items():
        for _ in range(3):
            edited = json.dumps(corpus.random_edit(json.loads(data), rng)).encode()
            result = run_diff(edited, data)
            assert_patches(data, edited, result.body)
            checked += 1
    assert checked > 300


def test_identical_notebooks_give_an_empty_diff(v4_corpus):
    data = next(iter(v4_corpus.values()))
    result = run_diff(data, data)
    assert json.loads(result.body) == []
    assert result.metadata["Nb-Cells-Modified"] == "0"


def _big(n: int, ids: bool) -> dict:
    cells = []
    for i in range(n):
        cell = {"cell_type": "code", "metadata": {}, "execution_count": i,
                "source": f"x{i} = {i}\nprint(x{i})\n",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": f"{i}\n"}]}
        if ids:
            cell["id"] = f"c{i}"
        cells.append(cell)
    return {"nbformat": 4, "nbformat_minor": 5 if ids else 4, "metadata": {}, "cells": cells}


@pytest.mark.parametrize("ids", [True, False], ids=["cell-ids", "no-ids"])
def test_2000_cells_all_changed_and_reordered_stays_near_linear(ids):
    # The 2 s target is measured by bench/nbdiff_scale.py; this guard only
    # catches a quadratic regression (minutes), robust to a loaded machine.
    base = _big(2000, ids)
    remote = json.loads(json.dumps(base))
    for cell in remote["cells"]:
        cell["source"] += "# changed\n"
        cell["outputs"][0]["text"] = "changed\n"
    random.Random(7).shuffle(remote["cells"])
    base_b, remote_b = json.dumps(base).encode(), json.dumps(remote).encode()
    started = time.perf_counter()
    result = run_diff(remote_b, base_b)
    assert time.perf_counter() - started < 20.0
    assert_patches(base_b, remote_b, result.body)
    md = result.metadata
    assert int(md["Nb-Cells-Added"]) + int(md["Nb-Cells-Modified"]) == 2000


def test_counts_for_known_edits():
    base = _big(10, ids=True)
    remote = json.loads(json.dumps(base))
    remote["cells"][2]["source"] = "changed\n"
    del remote["cells"][5]
    remote["cells"].insert(0, {"id": "new", "cell_type": "markdown", "metadata": {},
                               "source": "# New"})
    remote["metadata"]["kernelspec"] = {"name": "python3", "display_name": "P"}
    base_b, remote_b = json.dumps(base).encode(), json.dumps(remote).encode()
    result = run_diff(remote_b, base_b)
    assert result.metadata == {
        "Nb-Cells-Added": "1", "Nb-Cells-Removed": "1", "Nb-Cells-Modified": "1",
        "Nb-Cells-Moved": "0", "Nb-Metadata-Changed": "yes",
        "Nb-Error": "", "Nb-Error-Detail": "",  # blanks a stored stamp's error keys
        "Content-Type": "application/json; charset=utf-8"}
    assert_patches(base_b, remote_b, result.body)
    text = run_diff(remote_b, base_b, "text").body.decode()
    assert "-x2 = 2" in text and "+changed" in text and "+# New" in text
    assert "1 added, 1 removed, 1 modified" in text
    page = run_diff(remote_b, base_b, "html")
    assert page.metadata["Content-Type"].startswith("text/html")
    body = page.body.decode()
    assert body.startswith("<!DOCTYPE html>") and "<script" not in body and "http" not in body
    assert "class='del'>x2 = 2</td>" in body and "class='add'>changed</td>" in body


def test_html_escapes_sources():
    base = _big(1, ids=True)
    remote = json.loads(json.dumps(base))
    remote["cells"][0]["source"] = "<script>alert(1)</script>"
    body = run_diff(json.dumps(remote).encode(), json.dumps(base).encode(), "html").body
    assert b"<script>" not in body and b"&lt;script&gt;" in body


V4 = json.dumps(_big(2, ids=True)).encode()


@pytest.mark.parametrize("notebook,checkpoint,code", [
    (V4, None, "bad_request"),
    (V4, b'{"nbformat": 4, "cells": [', "truncated_json"),
    (b"\xff\xfe", V4, "not_utf8"),
    (b'[1, 2]', V4, "not_a_notebook"),
    (b'{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}', V4, "unknown_version"),
    (huge_output_notebook, V4, "too_large"),
])
def test_malformed_inputs(notebook, checkpoint, code):
    data = notebook() if callable(notebook) else notebook
    result = run_diff(data, checkpoint)
    doc = json.loads(result.body)
    assert doc["error"] == code and result.metadata["Nb-Error"] == code
    assert json.loads(run_diff(V4, V4).body) == []  # the next call still works


def test_bad_format_parameter():
    doc = json.loads(run_diff(V4, V4, "pdf").body)
    assert doc["error"] == "bad_parameter" and "nbdime, text, html" in doc["detail"]
