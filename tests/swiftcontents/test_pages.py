"""The REST endpoints' HTML pages on hostile notebooks, for both computing paths."""
from __future__ import annotations

import json

import pytest

from swiftproto.harness import run_storlet
from storlets_apps.nbdiff import DiffStorlet
from storlets_apps.nbvalidate import ValidateStorlet
from swiftcontents import pages, storlets
from tests.markup import (DIFF_TAGS, HOSTILE_NAME, LISTING_TAGS, PAGE_ATTRS, VALIDATION_TAGS,
                          assert_safe_html, assert_shows, benign_checkpoint, hostile_bytes,
                          hostile_version_bytes, payload)

pytestmark = pytest.mark.filterwarnings("ignore:Non-unique cell id")  # hostile.ipynb repeats one


def test_escape_is_for_text_and_quoted_attributes():
    assert pages.escape("<a title='x' href=\"y\">&") == \
        "&lt;a title=&#x27;x&#x27; href=&quot;y&quot;&gt;&amp;"
    assert pages.escape(["<b>"]) == "[&#x27;&lt;b&gt;&#x27;]"


def test_listing_page_computed_in_the_server():
    rows = [storlets.summarize(HOSTILE_NAME, hostile_bytes()),
            storlets.summarize(payload("name2"), hostile_version_bytes())]
    page = pages.listing_page({"notebooks": rows, "computed_by": "server",
                               "fallback_reason": payload("reason")})
    text = assert_safe_html(page, LISTING_TAGS, PAGE_ATTRS)
    assert_shows(text, "title", "kernel_name", "language_info", "name2", "nbformat", "reason")
    assert HOSTILE_NAME in text and "computed by server" in text


def test_validation_page_of_a_storlet_report_and_of_a_server_report():
    storlet_report = json.loads(run_storlet(ValidateStorlet, hostile_bytes()).body)
    for report in (storlet_report, storlets.validation_report(hostile_bytes())):
        page = pages.validation_page({**report, "computed_by": "storlet", "path": HOSTILE_NAME})
        text = assert_safe_html(page, VALIDATION_TAGS, PAGE_ATTRS)
        assert_shows(text, "top_level_key")
        assert "invalid" in text


def test_validation_page_of_error_documents():
    storlet_doc = json.loads(run_storlet(ValidateStorlet, hostile_version_bytes()).body)
    server_doc = storlets.validation_report(hostile_version_bytes())
    for doc in (storlet_doc, server_doc):
        page = pages.validation_page({**doc, "computed_by": "server"})
        assert_shows(assert_safe_html(page, VALIDATION_TAGS, PAGE_ATTRS), "nbformat")


def test_server_diff_page_is_the_storlets_page():
    ctype, page = storlets.local_diff(benign_checkpoint(), hostile_bytes(), "html")
    assert ctype == "text/html"
    storlet = run_storlet(DiffStorlet, hostile_bytes(), extra=[(benign_checkpoint(), {})],
                          params={"format": "html"})
    assert page == storlet.body.decode("utf-8")
    text = assert_safe_html(page, DIFF_TAGS, PAGE_ATTRS)
    assert_shows(text, "cell_type", "source_a", "source_b", "title", "top_level_key")
