"""The REST endpoints' HTML pages on hostile notebooks, for both computing paths."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from swiftproto.harness import run_storlet
from storlets_apps.nbdiff import DiffStorlet
from storlets_apps.nbvalidate import ValidateStorlet
from swiftcontents import pages, storlets
from swiftcontents.errors import SwiftContentsError
from tests.markup import (DIFF_TAGS, HOSTILE_NAME, LISTING_TAGS, PAGE_ATTRS, SERVED_ATTRS,
                          VALIDATION_TAGS, assert_safe_html, assert_shows, benign_checkpoint,
                          hostile_bytes, hostile_version_bytes, payload, served)

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
    text = assert_safe_html(page, served(LISTING_TAGS), SERVED_ATTRS)
    assert_shows(text, "title", "kernel_name", "language_info", "name2", "nbformat", "reason")
    assert HOSTILE_NAME in text and "computed by server" in text


def test_validation_page_of_a_storlet_report_and_of_a_server_report():
    storlet_report = json.loads(run_storlet(ValidateStorlet, hostile_bytes()).body)
    for report in (storlet_report, storlets.validation_report(hostile_bytes())):
        page = pages.validation_page({**report, "computed_by": "storlet", "path": HOSTILE_NAME})
        text = assert_safe_html(page, served(VALIDATION_TAGS), SERVED_ATTRS)
        assert_shows(text, "top_level_key")
        assert "invalid" in text


def test_validation_page_of_error_documents():
    storlet_doc = json.loads(run_storlet(ValidateStorlet, hostile_version_bytes()).body)
    server_doc = storlets.validation_report(hostile_version_bytes())
    for doc in (storlet_doc, server_doc):
        page = pages.validation_page({**doc, "computed_by": "server"})
        assert_shows(assert_safe_html(page, served(VALIDATION_TAGS), SERVED_ATTRS), "nbformat")


def test_server_diff_page_is_the_storlets_page():
    ctype, page = storlets.local_diff(benign_checkpoint(), hostile_bytes(), "html")
    assert ctype == "text/html"
    storlet = run_storlet(DiffStorlet, hostile_bytes(), extra=[(benign_checkpoint(), {})],
                          params={"format": "html"})
    assert page == storlet.body.decode("utf-8")
    text = assert_safe_html(page, DIFF_TAGS, PAGE_ATTRS)
    assert_shows(text, "cell_type", "source_a", "source_b", "title", "top_level_key")


def test_served_diff_page_links_the_stylesheet_in_place_of_the_inline_style():
    _, body = storlets.local_diff(benign_checkpoint(), hostile_bytes(), "html")
    style = pages.page_style("/base/", "dark")
    page = pages.diff_page({"body": body, "computed_by": "server",
                            "fallback_reason": payload("reason")}, style)
    text = assert_safe_html(page, served(DIFF_TAGS), SERVED_ATTRS)
    assert_shows(text, "cell_type", "source_a", "source_b", "reason")
    assert "<style" not in page and "style=" not in page  # the policy allows none
    assert page.count('<link rel="stylesheet" href="/base/swiftcontents/static/pages.css">') == 1
    assert page.index("<link") < page.index("</head>")
    assert '<html data-theme="dark">' in page and '<body class="diff">' in page


@pytest.mark.parametrize("theme, attribute", [("", "<html>"), ("light", '<html data-theme="light">')])
def test_page_themes(theme, attribute):
    report = storlets.validation_report(hostile_bytes())
    page = pages.validation_page({**report, "computed_by": "storlet"}, pages.page_style("/", theme))
    assert attribute in page and '<body class="validation invalid">' in page
    assert '<p class="computed-by">computed by storlet</p>' in page


@pytest.mark.parametrize("theme", ["blue", "dark'><script>", "x" * 10_000, "\x00"])
def test_a_theme_other_than_light_or_dark_is_a_400(theme):
    with pytest.raises(SwiftContentsError) as info:
        pages.page_style("/", theme)
    assert info.value.status == 400 and "light, dark" in info.value.message
    assert len(info.value.message) < 200


def test_the_stylesheet_styles_what_the_pages_hold():
    """Light and dark, the diff's added/removed cells, monospace cells, bordered tables."""
    css = (Path(pages.STATIC_DIR) / pages.STYLESHEET).read_text()
    for needed in ("@media (prefers-color-scheme: dark)", ':root[data-theme="dark"]',
                   ':root:not([data-theme="light"])', "td.del", "td.add", "monospace",
                   "border: 1px solid", "p.computed-by", "body.invalid h1"):
        assert needed in css, needed
    assert "url(" not in css and "@import" not in css  # loads nothing else
