"""nblisting through the local harness, checked against nbformat's own reading."""
from __future__ import annotations

import json
import warnings

import nbformat
import pytest

from swiftproto.harness import run_storlet
from storlets_apps.nblisting import ListingStorlet

from .conftest import huge_output_notebook
from .test_nbvalidate import MALFORMED, nbformat_verdict


def listing(inputs: list[bytes], names=None, fmt="json", **params):
    p = {"format": fmt, **params}
    if names is not None:
        p["names"] = json.dumps(names)
    return run_storlet(ListingStorlet, inputs[0], extra=[(d, {}) for d in inputs[1:]], params=p)


def expected_summary(data: bytes) -> dict:
    """What nbformat says about a v4 notebook (read without conversion)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = nbformat.reads(data.decode("utf-8"), as_version=nbformat.NO_CONVERT)
    counts = {"code": 0, "markdown": 0, "raw": 0, "other": 0}
    outputs = images = 0
    for cell in nb.cells:
        counts[cell.cell_type if cell.cell_type in counts else "other"] += 1
        for out in cell.get("outputs", []):
            outputs += 1
            images += any(k.startswith("image/") for k in out.get("data", {}))
    return {"cells": counts, "count": outputs, "images": images,
            "kernel": nb.metadata.get("kernelspec", {}).get("name", "")}


def test_corpus_in_batches(corpus_bytes):
    items = list(corpus_bytes.items())
    compared = 0
    for start in range(0, len(items), 50):
        batch = items[start:start + 50]
        result = listing([d for _, d in batch], names=[p for p, _ in batch])
        entries = json.loads(result.body)
        assert [e["name"] for e in entries] == [p for p, _ in batch]
        assert result.metadata["Nb-Listing-Count"] == str(len(batch))
        for (path, data), entry in zip(batch, entries):
            compared += 1
            assert entry["bytes"] == len(data)
            raw = json.loads(data)
            if raw.get("nbformat") not in (3, 4):
                assert entry["error"] == "unknown_version", path
                continue
            assert entry["valid"] == nbformat_verdict(data), path
            if raw["nbformat"] == 4 and entry["valid"]:
                want = expected_summary(data)
                assert entry["cells"] == want["cells"], path
                assert entry["outputs"]["count"] == want["count"], path
                assert entry["outputs"]["images"] == want["images"], path
                assert entry["kernel"] == want["kernel"], path
    assert compared == len(items)


def test_summary_of_a_known_notebook(corpus_paths):
    report = next(p for p in corpus_paths if p.name == "report.ipynb")
    r_nb = next(p for p in corpus_paths if p.name == "r-analysis.ipynb")
    entries = json.loads(listing([report.read_bytes(), r_nb.read_bytes()],
                                 names=["report.ipynb", "r-analysis.ipynb"]).body)
    first, second = entries
    assert first["title"] == "Sales report" and first["kernel"] == "python3"
    assert first["language"] == "python" and first["nbformat"] == "4.5"
    assert first["cells"] == {"code": 2, "markdown": 1, "raw": 1, "other": 0}
    assert first["outputs"]["count"] == 2 and first["outputs"]["images"] == 1
    assert first["max_execution_count"] == 7 and first["valid"] is True
    assert second["title"] == "x <- 1" and second["language"] == "R"
    assert second["nbformat"] == "4.4" and second["max_execution_count"] == 3


def test_error_entries_keep_order_and_next_call_works():
    good = nbformat.writes(nbformat.v4.new_notebook()).encode()
    bad = [MALFORMED[k] for k in ("truncated_json", "not_utf8", "not_a_notebook",
                                   "unknown_version")]
    result = listing([good] + bad + [good])
    entries = json.loads(result.body)
    assert [e.get("error") for e in entries] == [
        None, "truncated_json", "not_utf8", "not_a_notebook", "unknown_version", None]
    assert [e["name"] for e in entries] == [f"input-{k}" for k in range(1, 7)]
    assert result.metadata["Nb-Listing-Errors"] == "4"
    huge = run_storlet(ListingStorlet, good, extra=[(huge_output_notebook(), {})])
    assert [e.get("error") for e in json.loads(huge.body)] == [None, "too_large"]
    assert json.loads(listing([good]).body)[0]["valid"] is True


@pytest.mark.parametrize("fmt,marker", [("html", "<td>a|b.ipynb</td>"),
                                        ("markdown", "| a\\|b.ipynb |")])
def test_tables_show_names(fmt, marker):
    good = nbformat.writes(nbformat.v4.new_notebook()).encode()
    result = listing([good, b"nope"], names=["a|b.ipynb", "<x>.ipynb"], fmt=fmt)
    body = result.body.decode()
    assert marker in body
    assert ("&lt;x&gt;.ipynb" if fmt == "html" else "<x>.ipynb") in body
    assert "not_a_notebook" in body or "invalid_json" in body


def test_comma_separated_names_and_defaults():
    good = nbformat.writes(nbformat.v4.new_notebook()).encode()
    result = run_storlet(ListingStorlet, good, extra=[(good, {}), (good, {})],
                         params={"names": "a.ipynb,b.ipynb"})
    assert [e["name"] for e in json.loads(result.body)] == ["a.ipynb", "b.ipynb", "input-3"]
