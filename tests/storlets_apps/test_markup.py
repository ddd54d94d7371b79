"""The storlets' HTML formats on hostile notebooks (markup in every field): no raw markup."""
from __future__ import annotations

import json

import pytest

from storlets_apps._nbcommon import html_text
from swiftproto.harness import run_storlet
from storlets_apps.nbdiff import DiffStorlet
from storlets_apps.nblisting import ListingStorlet
from storlets_apps.nbvalidate import ValidateStorlet
from tests.markup import (DIFF_TAGS, HOSTILE_NAME, LISTING_TAGS, PAGE_ATTRS, VALIDATION_TAGS,
                          assert_safe_html, assert_shows, benign_checkpoint, hostile_bytes,
                          hostile_version_bytes, payload)


def html_body(result) -> str:
    assert result.metadata["Content-Type"] == "text/html; charset=utf-8", result.metadata
    return result.body.decode("utf-8")


@pytest.mark.parametrize("value, expected", [
    ("<a href=\"x\" title='y'>&</a>",
     "&lt;a href=&quot;x&quot; title=&#x27;y&#x27;&gt;&amp;&lt;/a&gt;"),
    (["<b>"], "[&#x27;&lt;b&gt;&#x27;]"),
    (None, "None"),
])
def test_html_text_escapes_text_and_both_quotes(value, expected):
    assert html_text(value) == expected


def test_diff_page_shows_hostile_cell_types_and_sources_as_text():
    result = run_storlet(DiffStorlet, hostile_bytes(), extra=[(benign_checkpoint(), {})],
                         params={"format": "html"})
    text = assert_safe_html(html_body(result), DIFF_TAGS, PAGE_ATTRS)
    assert_shows(text, "cell_type", "source_a", "source_b", "title", "top_level_key")
    assert f"notebook cell 1 ({payload('cell_type')})" in text  # the label, as text


def test_diff_page_of_a_modified_hostile_cell_on_both_sides():
    base = json.loads(hostile_bytes())
    base["cells"][0]["source"] = payload("old_source") + "\nmore"
    result = run_storlet(DiffStorlet, hostile_bytes(), extra=[(json.dumps(base).encode(), {})],
                         params={"format": "html"})
    text = assert_safe_html(html_body(result), DIFF_TAGS, PAGE_ATTRS)
    assert_shows(text, "old_source", "source_a")
    assert f"checkpoint cell 1 ({payload('cell_type')})" in text


def test_listing_page_with_hostile_names_metadata_and_error_details():
    result = run_storlet(
        ListingStorlet, hostile_bytes(), extra=[(hostile_version_bytes(), {})],
        params={"format": "html", "names": json.dumps([HOSTILE_NAME, payload("name2")])})
    text = assert_safe_html(html_body(result), LISTING_TAGS, PAGE_ATTRS)
    assert_shows(text, "title", "kernel_name", "language_info", "name2", "nbformat")
    assert HOSTILE_NAME in text


def test_listing_page_with_non_string_kernel_and_language():
    nb = json.loads(hostile_bytes())
    nb["metadata"]["kernelspec"]["name"] = [payload("kernel_list")]
    nb["metadata"]["language_info"]["name"] = {payload("language_key"): 1}
    data = json.dumps(nb).encode()
    markdown = run_storlet(ListingStorlet, data, params={"format": "markdown"})
    assert "Nb-Error" not in markdown.metadata, markdown.body  # a table, not an internal error
    page = html_body(run_storlet(ListingStorlet, data, params={"format": "html"}))
    assert_shows(assert_safe_html(page, LISTING_TAGS, PAGE_ATTRS), "kernel_list", "language_key")


def test_validation_page_shows_hostile_keys_and_ids_in_messages():
    result = run_storlet(ValidateStorlet, hostile_bytes(),
                         params={"mode": "report", "format": "html"})
    assert result.metadata["Nb-Valid"] == "no"
    text = assert_safe_html(html_body(result), VALIDATION_TAGS, PAGE_ATTRS)
    assert_shows(text, "top_level_key", "cell_id")  # an error message and a warning
    assert text.startswith("Notebook validation") and "invalid" in text


def test_validation_html_of_an_unreadable_notebook_stays_a_json_error_document():
    result = run_storlet(ValidateStorlet, hostile_version_bytes(),
                         params={"mode": "report", "format": "html"})
    assert result.metadata["Content-Type"].startswith("application/json")
    assert json.loads(result.body)["error"] == "unknown_version"


def test_validation_page_of_an_error_document():
    from storlets_apps.nbvalidate import render_html

    page = render_html({"error": payload("error"), "detail": payload("detail"),
                        "errors": [payload("bare_error")], "warnings": [payload("warning")]})
    text = assert_safe_html(page, VALIDATION_TAGS, PAGE_ATTRS)
    assert_shows(text, "error", "detail", "bare_error", "warning")


def test_bad_format_for_a_report():
    result = run_storlet(ValidateStorlet, hostile_bytes(), params={"format": "pdf"})
    doc = json.loads(result.body)
    assert doc["error"] == "bad_parameter" and "json, html" in doc["detail"]
