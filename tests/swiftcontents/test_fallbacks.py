"""The server fallbacks give the storlets' answers, field for field, on the corpus.

The storlet side is what the engine runs: the storlet through the harness,
with its inputs laid out as the storlet path sends them (listing batches,
checkpoint as the extra resource).
"""
from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from storlets_apps import _nbcommon
from storlets_apps.nbdiff import DiffStorlet
from storlets_apps.nblisting import ListingStorlet
from storlets_apps.nbvalidate import ValidateStorlet
from swiftcontents import storlets
from swiftcontents.errors import SwiftContentsError
from swiftproto import listing_calls
from swiftproto.batching import STAMPED_METADATA_BYTES
from swiftproto.harness import run_storlet
from tests.storlets_apps import corpus

pytestmark = pytest.mark.filterwarnings("ignore")
VERDICT = ("valid", "error_count", "truncated")


def samples(corpus_bytes: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """Every corpus notebook and its invalid variants (unreadable ones included)."""
    out = []
    for path, data in corpus_bytes.items():
        out.append((path, data))
        raw = json.loads(data)
        if isinstance(raw, dict):
            out += [(f"{path} [{name}]", json.dumps(v).encode())
                    for name, v in corpus.variants(raw)]
    return out


def test_validation_report_and_stamp_equal_the_storlets(corpus_bytes):
    checked = invalid = 0
    for label, data in samples(corpus_bytes):
        storlet = json.loads(run_storlet(ValidateStorlet, data, params={"mode": "report"}).body)
        assert storlets.validation_report(data) == storlet, label
        stamped = run_storlet(ValidateStorlet, data, params={"mode": "stamp"}).metadata
        ours = _nbcommon.parse_stamp(storlets.local_stamp(data))
        assert ours["validated_by"] == "server", label
        assert {**ours, "validated_by": "storlet"} == _nbcommon.parse_stamp(stamped), label
        if "error" not in storlet:  # one verdict: the stamp says what /validate says
            assert {k: ours[k] for k in VERDICT} == {k: storlet[k] for k in VERDICT}, label
            assert isinstance(ours["valid"], bool) and isinstance(ours["error_count"], int)
        checked += 1
        invalid += ours["valid"] is False
    assert checked > 1000 and invalid > 300


def test_listing_rows_equal_the_batched_storlets(corpus_bytes):
    items = sorted(corpus_bytes.items())
    names = [f"{i:03d} {path.rpartition('/')[2]}" for i, (path, _) in enumerate(items)]
    storlet_rows = []
    for call in listing_calls("c", names, names, metadata_bytes=STAMPED_METADATA_BYTES,
                              max_count=storlets.LISTING_BATCH):
        first, *rest = [items[i][1] for i in call.indexes]
        result = run_storlet(ListingStorlet, first, extra=[(d, {}) for d in rest], params={
            "names": json.dumps([names[i] for i in call.indexes]), "format": "json"})
        storlet_rows += json.loads(result.body)
    ours = [storlets.summarize(name, data) for name, (_, data) in zip(names, items)]
    assert ours == storlet_rows
    assert any("error" in row for row in ours) and any(row.get("valid") for row in ours)


@pytest.mark.parametrize("fmt", storlets.DIFF_TYPES)
def test_diff_equals_the_storlets_in_every_format(v4_corpus, fmt):
    rng = random.Random(20241130)
    for path, base in v4_corpus.items():
        current = json.dumps(corpus.random_edit(json.loads(base), rng)).encode()
        storlet = run_storlet(DiffStorlet, current, extra=[(base, {})], params={"format": fmt})
        ctype, body = storlets.local_diff(base, current, fmt)
        assert storlet.metadata["Content-Type"].startswith(ctype), path
        expected = json.loads(storlet.body) if fmt == "nbdime" else storlet.body.decode()
        assert body == expected, path


def test_diff_problems_are_the_storlets_on_both_paths():
    v3 = json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                     "worksheets": []}).encode()
    v4 = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}).encode()
    storlet = run_storlet(DiffStorlet, v4, extra=[(v3, {})], params={"format": "text"})
    with pytest.raises(SwiftContentsError) as err:
        storlets.local_diff(v3, v4, "text")
    assert err.value.status == 422
    assert storlet.metadata[_nbcommon.ERROR] == "unknown_version"
    assert err.value.message.startswith("cannot diff: unknown_version: checkpoint: ")
    assert storlets.diff_error({"X-Object-Meta-Nb-Error": ""}) is None  # blanked by a COPY


def test_the_server_needs_no_nbdime_for_any_format():
    # nbdime is for tests and for users who ask for its format, not a runtime dependency.
    script = (
        "import sys, json\n"
        "sys.modules['nbdime'] = None  # any import of nbdime now fails\n"
        "import deploy, ipython_ext.magics, swiftcontents, swiftcontents.handlers\n"
        "from swiftcontents import storlets\n"
        "nb = {'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': []}\n"
        "base = json.dumps(nb).encode()\n"
        "nb['cells'].append({'id': 'a', 'cell_type': 'markdown', 'metadata': {}, 'source': 'x'})\n"
        "current = json.dumps(nb).encode()\n"
        "print(json.dumps([storlets.local_diff(base, current, f)[0] for f in storlets.DIFF_TYPES]))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == list(storlets.DIFF_TYPES.values())
