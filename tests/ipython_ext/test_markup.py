"""The magics' rich output on hostile results: escaped, and HTML pages in a sandboxed frame."""
from __future__ import annotations

import json

import pytest

from ipython_ext import render
from ipython_ext.result import StorletLog, StorletResult, StorletTable
from swiftproto.harness import run_storlet
from storlets_apps.nbdiff import DiffStorlet
from storlets_apps.nblisting import ListingStorlet
from storlets_apps.nbvalidate import ValidateStorlet
from tests.markup import (DIFF_TAGS, HOSTILE_NAME, LISTING_TAGS, VALIDATION_TAGS,
                          assert_safe_html, assert_shows, benign_checkpoint, hostile_bytes,
                          hostile_version_bytes, parse, payload)

pytestmark = pytest.mark.filterwarnings("ignore:Non-unique cell id")

# render.py's own markup.
RESULT_TAGS = ("div", "p", "b", "small", "i", "iframe", "details", "summary", "table", "caption",
               "thead", "tbody", "tr", "th", "td", "code", "pre", "ul", "ol", "li")
RESULT_ATTRS = ("class", "style", "srcdoc", "sandbox")


def shown(body: bytes, storlet: str, ctype: str = "application/json", **headers: str) -> str:
    """The HTML Jupyter shows for a GET of the hostile object with ``storlet``."""
    result = StorletResult(200, {"Content-Type": ctype, "X-Trans-Id": "tx1", **headers},
                           iter([body]), storlet=storlet, target=f"/c/{HOSTILE_NAME}")
    return result._repr_html_()


def frames(page: str) -> list[dict[str, str | None]]:
    return [dict(attrs) for tag, attrs in parse(page).tags if tag == "iframe"]


@pytest.mark.parametrize("storlet_class, params, frame_tags", [
    (DiffStorlet, {"format": "html"}, DIFF_TAGS),
    (ListingStorlet, {"format": "html", "names": json.dumps([HOSTILE_NAME])}, LISTING_TAGS),
    (ValidateStorlet, {"format": "html"}, VALIDATION_TAGS),
], ids=["nbdiff", "nblisting", "nbvalidate"])
def test_storlet_pages_go_in_a_sandboxed_frame_as_escaped_srcdoc(storlet_class, params,
                                                                  frame_tags):
    result = run_storlet(storlet_class, hostile_bytes(), params=params,
                         extra=[(benign_checkpoint(), {})] if storlet_class is DiffStorlet else ())
    page = shown(result.body, storlet_class.__name__, result.metadata["Content-Type"])
    assert_safe_html(page, RESULT_TAGS, RESULT_ATTRS, frame_tags)
    [frame] = frames(page)
    assert frame["sandbox"] == ""  # no tokens: no scripts, opaque origin
    assert "allow-same-origin" not in page and "allow-scripts" not in page
    assert frame["srcdoc"] == result.body.decode()  # escaped once, read back intact


def test_any_text_html_result_is_sandboxed():
    body = f"<script>parent.fetch('/api/kernels')</script><p>{payload('page')}</p>".encode()
    page = shown(body, "evil.py", "text/html; charset=utf-8")
    [frame] = frames(page)
    assert frame["sandbox"] == "" and "<script>parent" not in page
    assert frame["srcdoc"].startswith("<script>parent.fetch")  # only inside the sandbox


def test_listing_table():
    result = run_storlet(ListingStorlet, hostile_bytes(), extra=[(hostile_version_bytes(), {})],
                         params={"names": json.dumps([HOSTILE_NAME, payload("name2")])})
    text = assert_safe_html(shown(result.body, "nblisting.py"), RESULT_TAGS, RESULT_ATTRS)
    assert_shows(text, "title", "kernel_name", "language_info", "name2", "nbformat")
    assert HOSTILE_NAME in text


def test_diff_table():
    result = run_storlet(DiffStorlet, hostile_bytes(), extra=[(benign_checkpoint(), {})])
    text = assert_safe_html(shown(result.body, "nbdiff.py"), RESULT_TAGS, RESULT_ATTRS)
    # cells are shown as JSON cut at render.CELL_CHARS: their first fields
    assert_shows(text, "cell_type", "title", "display_name", "metadata_key", "top_level_key")


def test_diff_table_of_changed_outputs():
    base = json.loads(hostile_bytes())
    base["cells"][2]["outputs"] = []
    result = run_storlet(DiffStorlet, hostile_bytes(), extra=[(json.dumps(base).encode(), {})])
    text = assert_safe_html(shown(result.body, "nbdiff.py"), RESULT_TAGS, RESULT_ATTRS)
    assert_shows(text, "stream_text", "display_html", "ename")


def test_validation_report():
    result = run_storlet(ValidateStorlet, hostile_bytes())
    text = assert_safe_html(shown(result.body, "nbvalidate.py"), RESULT_TAGS, RESULT_ATTRS)
    assert_shows(text, "top_level_key", "cell_id")


def test_error_document_text_json_and_log():
    detail = {"X-Object-Meta-Nb-Error": payload("code"),
              "X-Object-Meta-Nb-Error-Detail": payload("detail")}
    for page in (shown(b"{}", "nbvalidate.py", **detail),
                 shown(payload("plain").encode(), "x.py", "text/plain"),
                 shown(json.dumps({payload("key"): payload("value")}).encode(), "x.py"),
                 StorletLog.of(payload("log"), payload("storlet"))._repr_html_(),
                 StorletTable([{"name": payload("storlet_name")}], payload("container"))
                 ._repr_html_()):
        assert_safe_html(page, RESULT_TAGS, RESULT_ATTRS)


def test_frame_helper_escapes_quotes_of_both_kinds():
    frame = render.html_frame("\"' onload=alert(1) x=\"")
    assert frame.startswith('<iframe srcdoc="&quot;&#x27; onload=alert(1) x=&quot;" sandbox=""')
