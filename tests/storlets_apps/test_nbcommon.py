"""The validation stamp's one vocabulary: written by nbvalidate, read by every client."""
from __future__ import annotations

import json

from storlets_apps import _nbcommon
from storlets_apps.nbvalidate import ValidateStorlet
from swiftproto.harness import run_storlet


def report(**changes):
    doc = {"valid": False, "nbformat": 4, "nbformat_minor": 5, "schema": "s.json",
           "error_count": 2, "truncated": False, "warnings": [],
           "errors": [{"path": "cells[0].source", "message": "bad\nsource é"}]}
    doc.update(changes)
    return doc


def test_a_report_round_trips_as_the_typed_verdict():
    stamp = _nbcommon.parse_stamp(_nbcommon.stamp_metadata(report()))
    assert stamp == {"valid": False, "error_count": 2, "truncated": False,
                     "validated_by": "storlet", "nbformat": "4.5", "schema": "s.json",
                     "first_error": "cells[0].source: bad source \\xe9"}
    truncated = _nbcommon.stamp_metadata(report(error_count=50, truncated=True))
    assert truncated[_nbcommon.ERROR_COUNT] == "50+"
    assert _nbcommon.parse_stamp(truncated)["error_count"] == 50
    assert _nbcommon.parse_stamp(truncated)["truncated"] is True


def test_any_spelling_of_the_keys_reads_the_same():
    md = _nbcommon.stamp_metadata(report(valid=True, error_count=0, errors=[]))
    spellings = [md, {f"X-Object-Meta-{k}": v for k, v in md.items()},
                 {f"x-object-meta-{k.lower()}": v for k, v in md.items()},
                 {k.lower(): v for k, v in md.items()}]
    stamps = [_nbcommon.parse_stamp(s) for s in spellings]
    assert all(s == stamps[0] for s in stamps) and stamps[0]["valid"] is True
    assert _nbcommon.parse_stamp({"Content-Type": "x"}) is None


def test_unchecked_and_blanked_stamps():
    big = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [],
                      "pad": "x" * 5000}).encode()
    result = run_storlet(ValidateStorlet, big, params={"mode": "stamp", "max_bytes": "100"})
    stamp = _nbcommon.parse_stamp(result.metadata)
    assert stamp["valid"] is None and stamp["error"] == "too_large"
    assert stamp["error_count"] is None
    # a COPY over an older stamp blanks its keys: blank means absent
    assert "first_error" not in _nbcommon.parse_stamp(
        {"Nb-Valid": "yes", "Nb-First-Error": "", "Nb-Validated-By": "storlet"})
