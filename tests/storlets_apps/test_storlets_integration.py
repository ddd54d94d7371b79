"""The notebook storlets through a real s2aio: object server, proxy, PUT, COPY, extras."""
from __future__ import annotations

import json
import random
import uuid

import nbformat
import pytest
from nbdime import patch
from nbdime.diff_utils import to_diffentry_dicts

from swiftproto import listing_calls, parameter_headers
from tests.idle import assert_idle
from tests.markup import (DIFF_TAGS, HOSTILE_NAME, LISTING_TAGS, PAGE_ATTRS, VALIDATION_TAGS,
                          assert_safe_html, assert_shows, benign_checkpoint, hostile_bytes,
                          hostile_version_bytes, payload)

from . import corpus
from .conftest import huge_output_notebook
from .test_nbvalidate import MALFORMED

pytestmark = pytest.mark.integration

PROXY = {"X-Storlet-Run-On-Proxy": ""}


def run(conn, container, name, storlet, params=None, headers=None, query=None):
    """GET with a storlet; parameters as X-Storlet-Parameter-N headers."""
    hdrs = {"X-Run-Storlet": storlet, **(headers or {}), **parameter_headers(params or {})}
    resp_headers, body = conn.get_object(container, name, headers=hdrs, query_string=query)
    return resp_headers, body


def notebook(source="print(1)", valid=True) -> bytes:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3",
                                                           "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell(source)]
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i}"
    if not valid:
        nb.cells[1]["execution_count"] = "bad"
    return json.dumps(nb).encode()


@pytest.mark.parametrize("where", ["object", "proxy"])
def test_validate_report_object_server_and_proxy(deployed, conn, container, where):
    conn.put_object(container, "good.ipynb", notebook())
    conn.put_object(container, "bad.ipynb", notebook(valid=False))
    extra = PROXY if where == "proxy" else {}
    headers, body = run(conn, container, "good.ipynb", "nbvalidate.py", headers=extra,
                        query="mode=report")
    doc = json.loads(body)
    assert doc["valid"] is True and headers["x-object-meta-nb-valid"] == "yes"
    assert headers["content-type"].startswith("application/json")
    headers, body = run(conn, container, "bad.ipynb", "nbvalidate.py", {"mode": "report"}, extra)
    doc = json.loads(body)
    assert doc["valid"] is False and doc["errors"][0]["path"] == "cells[1].execution_count"
    assert headers["x-object-meta-nb-error-count"] == "1"


def test_stamp_on_put_get_and_copy(deployed, conn, container):
    data = notebook(valid=False)
    stamp = {"X-Run-Storlet": "nbvalidate.py", "X-Storlet-Parameter-1": "mode:stamp"}
    conn.put_object(container, "saved.ipynb", data, headers=stamp,
                    content_type="application/x-ipynb+json")
    head = conn.head_object(container, "saved.ipynb")
    assert head["x-object-meta-nb-valid"] == "no"
    assert head["x-object-meta-nb-nbformat"] == "4.5"
    assert head["x-object-meta-nb-schema"] == "nbformat.v4.5.schema.json"
    assert head["content-type"] == "application/x-ipynb+json"
    assert conn.get_object(container, "saved.ipynb")[1] == data  # bytes unchanged

    conn.put_object(container, "plain.ipynb", notebook())
    headers, body = run(conn, container, "plain.ipynb", "nbvalidate.py", {"mode": "stamp"})
    assert body == notebook() and headers["x-object-meta-nb-valid"] == "yes"

    # COPY keeps the source's metadata: the stamp must replace a stale verdict
    conn.post_object(container, "plain.ipynb", headers={
        "X-Object-Meta-Nb-Valid": "no", "X-Object-Meta-Nb-First-Error": "stale",
        "X-Object-Meta-Nb-Validated-By": "server", "X-Object-Meta-Owner": "alice"})
    conn.copy_object(container, "plain.ipynb", f"/{container}/copied.ipynb", headers=stamp)
    copied = conn.head_object(container, "copied.ipynb")
    assert copied["x-object-meta-nb-valid"] == "yes"
    assert copied.get("x-object-meta-nb-first-error", "") == ""
    assert copied["x-object-meta-nb-validated-by"] == "storlet"
    assert copied["x-object-meta-owner"] == "alice"  # the user's own metadata survives
    assert conn.get_object(container, "copied.ipynb")[1] == notebook()


def test_put_stamp_keeps_non_notebooks_intact(deployed, conn, container):
    stamp = {"X-Run-Storlet": "nbvalidate.py", "X-Storlet-Parameter-1": "mode:stamp"}
    for code, data in MALFORMED.items():
        if not data:
            continue
        conn.put_object(container, f"{code}.ipynb", data, headers=stamp)
        head = conn.head_object(container, f"{code}.ipynb")
        assert head["x-object-meta-nb-error"] == code
        assert conn.get_object(container, f"{code}.ipynb")[1] == data


def test_malformed_inputs_and_200mb_then_next_call(s2aio, deployed, conn, container):
    for code, data in MALFORMED.items():
        if not data:
            continue
        conn.put_object(container, f"{code}.ipynb", data)
        headers, body = run(conn, container, f"{code}.ipynb", "nbvalidate.py",
                            {"mode": "report"})
        assert json.loads(body)["error"] == code
        assert headers["x-object-meta-nb-error"] == code
    conn.put_object(container, "huge.ipynb", huge_output_notebook())
    for extra in ({}, PROXY):
        headers, body = run(conn, container, "huge.ipynb", "nbvalidate.py", headers=extra)
        assert json.loads(body)["error"] == "too_large"
        conn.put_object(container, "after.ipynb", notebook())
        headers, body = run(conn, container, "after.ipynb", "nbvalidate.py", headers=extra)
        assert json.loads(body)["valid"] is True
    # 200 MB refused on the proxy: past what a storlet drains, the gateway's input
    # writer must stop at the closed pipe instead of spinning (s2aio.gateway.PipeWriter).
    assert_idle(s2aio, "a 200 MB input refused on the proxy")


def test_diff_with_checkpoint_as_extra_resource(deployed, conn, container, v4_corpus):
    rng = random.Random(3)
    samples = [d for d in v4_corpus.values() if len(json.loads(d)["cells"]) > 3][:4]
    for k, base in enumerate(samples):
        edited = json.dumps(corpus.random_edit(json.loads(base), rng, edits=6)).encode()
        conn.put_object(container, f"nb{k}.ipynb", edited)
        conn.put_object(container, f"nb{k}.ipynb.checkpoint", base)
        extra = {"X-Storlet-Extra-Resources": f"/{container}/nb{k}.ipynb.checkpoint"}
        headers, body = run(conn, container, f"nb{k}.ipynb", "nbdiff.py",
                            {"format": "nbdime"}, {**PROXY, **extra})
        diff = to_diffentry_dicts(json.loads(body))
        assert patch(corpus.reads_v4(base), diff) == corpus.reads_v4(edited)
        assert int(headers["x-object-meta-nb-cells-added"]) >= 0
    headers, body = run(conn, container, "nb0.ipynb", "nbdiff.py", {"format": "html"},
                        {**PROXY, **extra})
    assert headers["content-type"].startswith("text/html") and body.startswith(b"<!DOCTYPE")
    _, body = run(conn, container, "nb0.ipynb", "nbdiff.py", {"format": "text"},
                  {**PROXY, **extra})
    assert body.startswith(b"--- checkpoint")
    headers, body = run(conn, container, "nb0.ipynb", "nbdiff.py", headers=PROXY)
    assert json.loads(body)["error"] == "bad_request"


def test_listing_in_batches_with_names(deployed, conn, container, corpus_paths):
    names = []
    for path in corpus_paths[:55]:
        name = f"dir/{uuid.uuid4().hex[:6]}-{path.name}"
        conn.put_object(container, name, path.read_bytes())
        names.append(name)
    conn.put_object(container, "dir/broken.ipynb", MALFORMED["truncated_json"])
    names.append("dir/broken.ipynb")
    entries = []
    for call in listing_calls(container, names, names, metadata_bytes=0):
        _, body = conn.get_object(container, call.obj, headers=call.headers)
        entries += json.loads(body)
    assert [e["name"] for e in entries] == names
    assert entries[-1]["error"] == "truncated_json"
    assert sum(1 for e in entries if "error" not in e) >= 45
    headers, body = run(conn, container, names[0], "nblisting.py",
                        {"format": "markdown", "names": names[0]}, PROXY)
    assert names[0] in body.decode() and headers["x-object-meta-nb-listing-count"] == "1"


def test_html_pages_of_a_hostile_notebook_escape_every_field(deployed, conn, container):
    conn.put_object(container, HOSTILE_NAME, hostile_bytes())
    conn.put_object(container, "old.ipynb", benign_checkpoint())
    conn.put_object(container, "version.ipynb", hostile_version_bytes())
    names = json.dumps([HOSTILE_NAME, payload("name2")])
    pages = {
        "nbdiff.py": ({"format": "html"}, {"X-Storlet-Extra-Resources": f"/{container}/old.ipynb"}),
        "nblisting.py": ({"format": "html", "names": names},
                         {**PROXY, "X-Storlet-Extra-Resources": f"/{container}/version.ipynb"}),
        "nbvalidate.py": ({"mode": "report", "format": "html"}, {}),
    }
    texts = {}
    for storlet, (params, headers) in pages.items():
        resp_headers, body = run(conn, container, HOSTILE_NAME, storlet, params, headers)
        assert resp_headers["content-type"] == "text/html; charset=utf-8", (storlet, body[:300])
        tags = {"nbdiff.py": DIFF_TAGS, "nblisting.py": LISTING_TAGS}.get(storlet, VALIDATION_TAGS)
        texts[storlet] = assert_safe_html(body.decode("utf-8"), tags, PAGE_ATTRS)
    assert_shows(texts["nbdiff.py"], "cell_type", "source_a", "source_b", "top_level_key")
    assert_shows(texts["nblisting.py"], "title", "kernel_name", "language_info", "name2",
                 "nbformat")
    assert HOSTILE_NAME in texts["nblisting.py"]
    assert_shows(texts["nbvalidate.py"], "top_level_key", "cell_id")
