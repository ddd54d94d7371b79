"""nbvalidate through the local harness: same verdict as nbformat.validate."""
from __future__ import annotations

import copy
import json
import warnings

import nbformat
import pytest

from swiftproto.harness import run_storlet
from storlets_apps.nbvalidate import ValidateStorlet

from . import corpus
from .conftest import huge_output_notebook


def nbformat_verdict(data: bytes) -> bool:
    """nbformat.validate on a copy (it mutates its input); anything raised = invalid."""
    try:
        nb = json.loads(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(copy.deepcopy(nb))
    except Exception:
        return False
    return True


def report(data, **params):
    result = run_storlet(ValidateStorlet, data, params={"mode": "report", **params})
    return result, json.loads(result.body)


def test_verdict_equals_nbformat_on_corpus_and_variants(corpus_bytes):
    checked = invalid = 0
    for path, data in corpus_bytes.items():
        samples = [("original", data)]
        raw = json.loads(data)
        if isinstance(raw, dict):
            samples += [(name, json.dumps(v).encode()) for name, v in corpus.variants(raw)]
        for name, sample in samples:
            result, doc = report(sample)
            expected = nbformat_verdict(sample)
            got = doc.get("valid", False)
            assert got == expected, f"{path} [{name}]: storlet {got}, nbformat {expected}: {doc}"
            assert result.metadata["Nb-Valid"] == ("yes" if expected else "no")
            checked += 1
            invalid += not expected
            if "error" not in doc:
                assert doc["error_count"] == len(doc["errors"]) and (doc["errors"] != []) != got
    assert checked > 1000 and 300 < invalid < checked - 100


@pytest.mark.parametrize("minor", range(6))
def test_every_v4_minor_uses_its_schema(minor):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("hi"))
    nb.nbformat_minor = minor
    if minor < 5:
        nb.cells[0].pop("id")
    data = json.dumps(nb).encode()
    result, doc = report(data)
    assert doc["valid"] is nbformat_verdict(data) is True
    assert result.metadata["Nb-Schema"] == f"nbformat.v4.{minor}.schema.json"
    assert result.metadata["Nb-Nbformat"] == f"4.{minor}"


def test_report_lists_errors_with_paths_and_truncates():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x") for _ in range(8)]
    for cell in nb.cells:
        cell["execution_count"] = "bad"
    data = json.dumps(nb).encode()
    _, doc = report(data, max_errors=3)
    assert doc["valid"] is False and doc["truncated"] is True and doc["error_count"] == 3
    assert [e["path"] for e in doc["errors"]] == ["cells[0].execution_count",
                                                   "cells[1].execution_count",
                                                   "cells[2].execution_count"]
    _, full = report(data)
    assert full["error_count"] == 8 and full["truncated"] is False


def test_stamp_passes_bytes_through_with_verdict(corpus_bytes):
    for path, data in list(corpus_bytes.items())[:40]:
        result = run_storlet(ValidateStorlet, data, params={"mode": "stamp"})
        assert result.body == data
        assert result.metadata["Nb-Valid"] == ("yes" if nbformat_verdict(data) else "no"), path
        assert "Content-Type" not in result.metadata


MALFORMED = {
    "truncated_json": b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_ty',
    "not_utf8": b'{"nbformat": 4, "cells": ["\xff\xfe"]}',
    "not_a_notebook": b'{"name": "package.json", "version": "1.0"}',
    "unknown_version": b'{"nbformat": 9, "nbformat_minor": 0, "cells": []}',
    "invalid_json": b'{"nbformat": 4,, }',
    "empty": b"",
}


@pytest.mark.parametrize("code", sorted(MALFORMED))
def test_malformed_inputs_give_error_documents(code):
    data = MALFORMED[code]
    result, doc = report(data)
    assert doc["error"] == code and doc["detail"]
    assert result.metadata["Nb-Error"] == code and result.metadata["Nb-Valid"] == "no"
    stamped = run_storlet(ValidateStorlet, data, params={"mode": "stamp"})
    assert stamped.body == data and stamped.metadata["Nb-Error"] == code


def test_200mb_output_is_refused_then_next_call_works():
    result, doc = report(huge_output_notebook())
    assert doc["error"] == "too_large" and "max_bytes" in doc["detail"]
    assert result.metadata["Nb-Valid"] == "unknown"
    small = nbformat.writes(nbformat.v4.new_notebook()).encode()
    assert report(small)[1]["valid"] is True


def test_stamp_of_a_too_large_input_keeps_every_byte():
    data = b"x" * 3_000_000
    result = run_storlet(ValidateStorlet, data, params={"mode": "stamp", "max_bytes": "1000"})
    assert result.body == data and result.metadata["Nb-Valid"] == "unknown"


@pytest.mark.parametrize("params", [{"mode": "bogus"}, {"max_bytes": "lots"},
                                    {"max_seconds": "-1"}, {"max_errors": "0"}])
def test_bad_parameters(params):
    data = nbformat.writes(nbformat.v4.new_notebook()).encode()
    result = run_storlet(ValidateStorlet, data, params=params)
    assert json.loads(result.body)["error"] == "bad_parameter"
    stamped = run_storlet(ValidateStorlet, data, params={**params, "mode": "stamp"})
    assert stamped.body == data


def test_time_budget():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x" * 1000) for _ in range(3000)]
    nb.cells[0]["execution_count"] = "bad"  # invalid: detailed per-cell pass
    _, doc = report(json.dumps(nb).encode(), max_seconds="0.001")
    assert doc["error"] == "time_budget_exceeded"


def test_stamp_empties_stale_verdict_keys_only_when_present():
    from swiftproto.harness import run_storlet
    from storlets_apps.nbvalidate import ValidateStorlet

    data = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
    fresh = run_storlet(ValidateStorlet, data, params={"mode": "stamp"})
    assert "Nb-First-Error" not in fresh.metadata and "Nb-Error" not in fresh.metadata
    stale = run_storlet(ValidateStorlet, data, params={"mode": "stamp"},
                        metadata={"Nb-First-Error": "old", "Nb-Validated-By": "server"})
    assert stale.metadata["Nb-First-Error"] == "" and stale.metadata["Nb-Valid"] == "yes"
    assert stale.metadata["Nb-Validated-By"] == "storlet"


@pytest.mark.parametrize("params", [{"max_bytes": str((64 << 20) + 1)}, {"max_seconds": "31"},
                                    {"max_seconds": "nan"}, {"max_bytes": str(1 << 30)}])
def test_a_caller_cannot_raise_the_operators_budgets(params):
    _, doc = report(b"{}", **params)
    assert doc["error"] == "bad_parameter" and "ceiling" in doc["detail"], doc


def test_a_caller_may_lower_the_budgets():
    _, doc = report(b"x" * 2000, max_bytes="1000")
    assert doc["error"] == "too_large" and "max_bytes=1000" in doc["detail"]
