"""In a real Swift: the storlets' answers and the server fallbacks' are equal.

The same objects are asked twice, once with storlets on (the deployed storlet
runs in the engine) and once off (the server runs it in-process): validation
reports, stamps, listings and diffs in every format must match field for field.
"""
from __future__ import annotations

import json
import random
from typing import Any

import pytest

from storlets_apps import _nbcommon
from swiftcontents.storlets import DIFF_TYPES, NotebookStorlets
from tests.storlets_apps import corpus

pytestmark = [pytest.mark.integration, pytest.mark.anyio,
              pytest.mark.filterwarnings("ignore")]
SAMPLE = 24


def picked(corpus_bytes: dict[str, bytes]) -> list[bytes]:
    """Some corpus notebooks, plus invalid and unreadable variants of the first."""
    originals = [corpus_bytes[k] for k in sorted(corpus_bytes)[:SAMPLE]]
    variants = [json.dumps(v).encode() for _, v in corpus.variants(json.loads(originals[0]))]
    return originals + variants + [b"{truncated", b"\xff\xfe not utf-8"]


def answer(result: dict[str, Any], path: str) -> dict[str, Any]:
    """The answer without the note on which path computed it (checked here)."""
    result = dict(result)
    assert result.pop("computed_by") == path, result.get("fallback_reason")
    result.pop("fallback_reason", None)
    return result


async def test_fallbacks_answer_as_the_storlets(make_cm, deployed, corpus_bytes):
    cm = make_cm(storlets="on")
    on, off = NotebookStorlets("on"), NotebookStorlets("off")
    names = []
    for i, data in enumerate(picked(corpus_bytes)):
        names.append(f"n/{i:03d} a&b=c.ipynb")
        await cm.run(cm.store.write, names[-1], data, "application/x-ipynb+json")

    for name in names:
        storlet = await cm.run(on.validate, cm.store, name)
        server = await cm.run(off.validate, cm.store, name)
        assert answer(storlet, "storlet") == answer(server, "server"), name

    storlet = await cm.run(on.listing, cm.store, names)
    server = await cm.run(off.listing, cm.store, names)
    assert answer(storlet, "storlet") == answer(server, "server")
    assert any("error" in row for row in storlet["notebooks"])


async def test_stamps_on_save_are_the_same_verdict(make_cm, deployed, corpus_bytes):
    cm = make_cm(storlets="on")
    on, off = NotebookStorlets("on"), NotebookStorlets("off")
    for i, data in enumerate(picked(corpus_bytes)):
        await cm.run(on.save_notebook, cm.store, f"on/{i}.ipynb", data)
        await cm.run(off.save_notebook, cm.store, f"off/{i}.ipynb", data)
        stamped = _nbcommon.parse_stamp((await cm.run(cm.store.head, f"on/{i}.ipynb")).meta)
        ours = _nbcommon.parse_stamp((await cm.run(cm.store.head, f"off/{i}.ipynb")).meta)
        assert (stamped["validated_by"], ours["validated_by"]) == ("storlet", "server")
        assert {**ours, "validated_by": "storlet"} == stamped, i


async def test_diffs_in_every_format(make_cm, deployed, v4_corpus):
    cm = make_cm(storlets="on")
    on, off = NotebookStorlets("on"), NotebookStorlets("off")
    rng = random.Random(20241130)
    for i, base in enumerate(list(v4_corpus.values())[:12]):
        name, checkpoint = f"d/{i} é #1.ipynb", f"checkpoints/{i}"
        current = json.dumps(corpus.random_edit(json.loads(base), rng)).encode()
        await cm.run(cm.store.write, name, current, "application/x-ipynb+json")
        await cm.run(cm.store.write_aux, checkpoint, base)
        for fmt in DIFF_TYPES:
            storlet = await cm.run(on.diff, cm.store, name, checkpoint, fmt)
            server = await cm.run(off.diff, cm.store, name, checkpoint, fmt)
            assert answer(storlet, "storlet") == answer(server, "server"), (name, fmt)
