"""_nbschema's verdict equals nbformat's on notebooks from the future (4.6+).

For them nbformat adjusts its latest schema (``additionalProperties`` relaxed,
unknown cell and output types allowed); _nbschema checks against the schema
storlets-deploy derives with nbformat itself, so the verdicts must agree for any
nbformat release, unknown types and extra keys included.
"""
from __future__ import annotations

import copy
import json
from typing import Callable

import nbformat
import pytest

from deploy.dependencies import build_dependency
from storlets_apps import _nbschema
from storlets_apps.nbvalidate import ValidateStorlet
from swiftproto.harness import run_storlet

from .test_nbvalidate import nbformat_verdict

LATEST = nbformat.v4.nbformat_minor
MINORS = (LATEST, LATEST + 1, LATEST + 2, 42)


def notebook(minor: int) -> dict:
    return {"nbformat": 4, "nbformat_minor": minor, "metadata": {}, "cells": [
        {"id": "a", "cell_type": "markdown", "metadata": {}, "source": "# T"},
        {"id": "b", "cell_type": "code", "metadata": {}, "source": "x", "execution_count": 1,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "1"}]}]}


def _cells(nb: dict) -> list:
    return nb["cells"]


def _outputs(nb: dict) -> list:
    return nb["cells"][1]["outputs"]


EDITS: dict[str, Callable[[dict], None]] = {
    "as is": lambda nb: None,
    "unknown cell type": lambda nb: _cells(nb).append(
        {"id": "c", "cell_type": "hologram", "metadata": {}, "source": "", "extra": [1]}),
    "unknown cell type without metadata": lambda nb: _cells(nb).append(
        {"id": "c", "cell_type": "hologram"}),
    "cell type not a string": lambda nb: _cells(nb).append(
        {"id": "c", "cell_type": 7, "metadata": {}}),
    "unknown output type": lambda nb: _outputs(nb).append(
        {"output_type": "hologram", "frames": 3}),
    "output without a type": lambda nb: _outputs(nb).append({"frames": 3}),
    "extra key in a known cell": lambda nb: _cells(nb)[0].update(future_key=1),
    "extra top-level key": lambda nb: nb.update(future_field=True),
    "extra key in a known output": lambda nb: _outputs(nb)[0].update(future_key=1),
    "known output, bad field": lambda nb: _outputs(nb)[0].update(name=7),
    "code cell without execution_count": lambda nb: _cells(nb)[1].pop("execution_count"),
    "source not a string": lambda nb: _cells(nb)[0].update(source=7),
    "markdown cell with outputs": lambda nb: _cells(nb)[0].update(outputs=[]),
}


def verdicts(nb: dict) -> tuple[bool, bool, bool]:
    """(nbformat's, the report's, the module's) verdicts on one notebook."""
    data = json.dumps(nb).encode()
    report = json.loads(run_storlet(ValidateStorlet, data).body)
    return nbformat_verdict(data), report.get("valid"), _nbschema.is_valid(copy.deepcopy(nb))


@pytest.mark.parametrize("minor", MINORS)
@pytest.mark.parametrize("edit", EDITS, ids=str)
def test_verdict_equals_nbformat(minor, edit):
    nb = notebook(minor)
    EDITS[edit](nb)
    expected, reported, module = verdicts(nb)
    assert reported == module == expected


def test_the_future_is_relaxed_as_nbformat_relaxes_it():
    # Guards the cases above against testing nothing: some edits are only valid
    # in the future, some never.
    future = {edit: verdicts(_edited(LATEST + 1, edit))[0] for edit in EDITS}
    now = {edit: verdicts(_edited(LATEST, edit))[0] for edit in EDITS}
    assert future["unknown cell type"] and not now["unknown cell type"]
    assert future["unknown output type"] and future["extra top-level key"]
    assert not future["source not a string"] and not future["output without a type"]


def _edited(minor: int, edit: str) -> dict:
    nb = notebook(minor)
    EDITS[edit](nb)
    return nb


def test_corpus_notebooks_from_the_future(v4_corpus):
    checked = 0
    for path, data in list(v4_corpus.items())[:60]:
        nb = json.loads(data)
        nb["nbformat_minor"] = LATEST + 1
        for cell in nb["cells"][:1]:
            cell["cell_type"], cell["future_key"] = "hologram", 1
        expected, reported, module = verdicts(nb)
        assert reported == module == expected, path
        checked += 1
    assert checked >= 50


def test_the_uploaded_schemas_are_nbformats_own(tmp_path):
    spec = _nbschema.STORLET_DEPENDENCIES[_nbschema.SCHEMAS_FILE]
    bundle = json.loads(build_dependency(_nbschema.SCHEMAS_FILE, spec, tmp_path).data)
    schemas = bundle["schemas"]
    assert schemas[_nbschema.FUTURE_V4]["schema"] == \
        nbformat.validator.get_validator(4, LATEST + 1)._schema
    assert schemas[f"4.{LATEST}"]["schema"] == nbformat.validator.get_validator(4, LATEST)._schema
    assert set(schemas) == {"3.0", *(f"4.{m}" for m in range(LATEST + 1)), _nbschema.FUTURE_V4}
