"""Hostile inputs the campaign found, checked in-process (the harness runs the storlets
with the engine's file rules): each is a clear problem, never an internal error."""
from __future__ import annotations

import json

import pytest

from storlets_apps import _nbcommon
from storlets_apps.nbdiff import DiffStorlet
from storlets_apps.nblisting import ListingStorlet
from storlets_apps.nbvalidate import ValidateStorlet
from swiftproto.harness import run_storlet

GOOD = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# T"}]}


def text_with(key: str, raw_value: str) -> bytes:
    return json.dumps({**GOOD, key: "@"}).replace('"@"', raw_value).encode()


@pytest.mark.parametrize("data, code", [
    (text_with("nbformat_minor", "1" + "0" * 5000), "invalid_json"),  # > 4300 digits
    (text_with("metadata", '{"k": "\\ud800"}'), "not_utf8"),
    (text_with("metadata", '{"\\udfff": 1}'), "not_utf8"),
])
def test_parse_problems_are_named(data, code):
    with pytest.raises(_nbcommon.NotebookProblem) as caught:
        _nbcommon.parse_notebook(data)
    assert caught.value.code == code


def test_a_surrogate_pair_is_text():
    assert _nbcommon.parse_notebook(text_with("metadata", '{"k": "\\ud83d\\ude00"}'))


@pytest.mark.parametrize("data", [
    text_with("nbformat_minor", "1" + "0" * 5000),
    text_with("metadata", '{"kernelspec": {"name": "\\ud83d"}}'),
    json.dumps({**GOOD, "cells": [{"cell_type": [], "metadata": {}}, {"cell_type": {}}]}).encode(),
])
def test_listing_rows_say_what_is_wrong(data):
    rows = json.loads(run_storlet(ListingStorlet, data, params={"names": '["n.ipynb"]'}).body)
    assert rows[0]["name"] == "n.ipynb"
    assert rows[0].get("error") != "internal_error", rows


def test_listing_counts_a_cell_type_that_is_not_a_string_as_other():
    nb = {**GOOD, "cells": [{"cell_type": [], "metadata": {}}, {"cell_type": {"a": 1}}]}
    rows = json.loads(run_storlet(ListingStorlet, json.dumps(nb).encode()).body)
    assert rows[0]["cells"] == {"code": 0, "markdown": 0, "raw": 0, "other": 2}


def test_validate_names_a_surrogate_instead_of_failing():
    data = text_with("metadata", '{"k": "\\ud800"}')
    report = json.loads(run_storlet(ValidateStorlet, data).body)
    assert report["error"] == "not_utf8"
    stamp = run_storlet(ValidateStorlet, data, params={"mode": "stamp"})
    assert stamp.body == data and stamp.metadata[_nbcommon.VALID] == "no"


def test_a_diff_blanks_the_error_keys_of_a_stored_stamp():
    """A GET answer carries the object's own metadata too: a stamp's Nb-Error must not
    make a successful diff read as a failed one."""
    result = run_storlet(DiffStorlet, json.dumps(GOOD).encode(),
                         metadata={_nbcommon.ERROR: "unknown_version"},
                         extra=[(json.dumps(GOOD).encode(), {})])
    assert result.metadata[_nbcommon.ERROR] == "" and result.metadata[_nbcommon.ERROR_DETAIL] == ""
    assert json.loads(result.body) == []


@pytest.mark.parametrize("field, value", [("output_type", []), ("output_type", {}), ("name", [1])])
def test_a_diff_of_outputs_with_unhashable_fields_is_a_diff(field, value):
    cell = {"cell_type": "code", "id": "c", "metadata": {}, "source": "x", "execution_count": 1,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "1"}]}
    base = {**GOOD, "cells": [cell]}
    remote = json.loads(json.dumps(base))
    remote["cells"][0]["outputs"][0][field] = value
    remote["cells"].append({"cell_type": ["x"], "id": "d", "metadata": {}, "source": "y"})
    result = run_storlet(DiffStorlet, json.dumps(remote).encode(),
                         extra=[(json.dumps(base).encode(), {})])
    assert result.metadata[_nbcommon.ERROR] == "", result.body[:300]
    assert isinstance(json.loads(result.body), list)


def test_hashing_many_outputs_stops_at_the_time_budget():
    """100,000 outputs take seconds to key: the budget is checked while keying, so the
    answer is this storlet's clear error, not the engine ending the call."""
    cell = {"cell_type": "code", "id": "c", "metadata": {}, "source": "x", "execution_count": 1,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "1"}]}
    base = {**GOOD, "cells": [cell]}
    remote = json.loads(json.dumps(base))
    remote["cells"][0]["outputs"] *= 100_000
    result = run_storlet(DiffStorlet, json.dumps(remote).encode(), params={"max_seconds": "0.001"},
                         extra=[(json.dumps(base).encode(), {})])
    assert json.loads(result.body)["error"] == "time_budget_exceeded"


# Found by the campaign's generated cases (hypothesis), each an internal error before.
V3_WITH_TOP_LEVEL_CELLS = json.dumps({
    "nbformat": 3, "metadata": {},
    "cells": [{"cell_type": "raw"}, {"cell_type": [], "metadata": {}, "source": []}]}).encode()


@pytest.mark.parametrize("worksheets", [5, 2.5, True, "abc", {"cells": []}])
def test_listing_of_nbformat_3_with_worksheets_that_are_not_a_list(worksheets):
    data = json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                       "worksheets": worksheets}).encode()
    rows = json.loads(run_storlet(ListingStorlet, data, params={"names": '["n.ipynb"]'}).body)
    assert rows[0]["name"] == "n.ipynb" and "error" not in rows[0], rows
    assert rows[0]["valid"] is False and rows[0]["nbformat"] == "3.0"
    assert rows[0]["cells"] == {"code": 0, "markdown": 0, "raw": 0, "other": 0}


def test_nbformat_3_with_top_level_cells_is_invalid_as_nbformat_says():
    import nbformat  # a base dependency: never skipped
    with pytest.raises(nbformat.ValidationError):
        nbformat.validate(json.loads(V3_WITH_TOP_LEVEL_CELLS))
    report = json.loads(run_storlet(ValidateStorlet, V3_WITH_TOP_LEVEL_CELLS).body)
    assert report["valid"] is False and report["errors"], report
    assert report["schema"].startswith("nbformat.v3"), report
    stamp = run_storlet(ValidateStorlet, V3_WITH_TOP_LEVEL_CELLS, params={"mode": "stamp"})
    assert stamp.metadata[_nbcommon.VALID] == "no" and _nbcommon.ERROR not in stamp.metadata
    rows = json.loads(run_storlet(ListingStorlet, V3_WITH_TOP_LEVEL_CELLS).body)
    assert rows[0]["valid"] is False and "error" not in rows[0], rows


@pytest.mark.parametrize("source", [[1.5, "a"], [None], ["a", ["b"]]])
def test_diff_of_a_source_list_that_is_not_lines_is_an_answer(source):
    nb = {**GOOD, "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "source": source,
                             "outputs": [{"output_type": "stream", "name": "stdout",
                                          "text": [1, "x"]}], "execution_count": None}]}
    result = run_storlet(DiffStorlet, json.dumps(nb).encode(), params={"format": "nbdime"},
                         extra=[(json.dumps(GOOD).encode(), {})])
    assert not result.metadata.get(_nbcommon.ERROR), result.body[:300]
    assert isinstance(json.loads(result.body), list)
