"""Hostile notebooks and one check for every HTML renderer: no markup gets through.

``tests/files/notebooks/hostile.ipynb`` carries the same payload in every field
(cell types and ids, sources, stream/error/data outputs, metadata keys and
values, kernelspec, language_info, title, a top-level key), each tagged with the
field's name: ``<script>alert('<field>')</script>"><img src=x onerror=...>'
</textarea></style><svg onload=...>``. ``hostile-version.ipynb`` puts it in
``nbformat``, so renderers show it inside error messages.

:func:`assert_safe_html` parses a page with ``html.parser`` and asserts that
only the renderer's own tags and attributes occur, that no attribute value
carries payload, and that the payload came out as visible text.
"""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterable

NOTEBOOKS = Path(__file__).resolve().parent / "files" / "notebooks"
HOSTILE_PATH = NOTEBOOKS / "hostile.ipynb"
HOSTILE_VERSION_PATH = NOTEBOOKS / "hostile-version.ipynb"
# An object/file name with markup but no "/" (that would make it a folder).
HOSTILE_NAME = "\"'><img src=x onerror=alert('name')><svg onload=alert(1)>.ipynb"
# Raw openings that only markup from the payload could produce.
RAW_MARKERS = ("<script", "<img", "<svg", "</textarea", "onerror=alert(1)>")
PAYLOAD_PARTS = ("alert(", "onerror", "onload", "javascript:")


def payload(field: str) -> str:
    """The payload as hostile.ipynb stores it for ``field``."""
    return (f"<script>alert('{field}')</script>\"><img src=x onerror=alert(1)>'"
            "</textarea></style><svg onload=alert(1)>")


def hostile_bytes() -> bytes:
    return HOSTILE_PATH.read_bytes()


def hostile_version_bytes() -> bytes:
    return HOSTILE_VERSION_PATH.read_bytes()


def benign_checkpoint() -> bytes:
    """An earlier, harmless version of hostile.ipynb: a diff shows every hostile cell."""
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "id": "old", "metadata": {}, "source": "old"}]}).encode()


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.other: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.other.append(f"comment {data!r}")

    def handle_pi(self, data: str) -> None:
        self.other.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.other.append(f"declaration {data!r}")


def parse(page: str) -> _Collector:
    parser = _Collector()
    parser.feed(page)
    parser.close()
    return parser


def assert_safe_html(page: str, tags: Iterable[str], attrs: Iterable[str] = (),
                     frame_tags: Iterable[str] = ()) -> str:
    """Assert ``page`` holds only its renderer's own markup; return its visible text.

    ``tags``/``attrs``: the renderer's fixed tag and attribute names. No
    attribute value may contain a payload part (nothing from a notebook lands
    unescaped in an attribute). ``iframe srcdoc`` values are pages themselves,
    checked the same way with ``frame_tags`` (a storlet page's tags).
    """
    for marker in RAW_MARKERS:
        assert marker not in page, f"raw {marker!r} in the page"
    parsed = parse(page)
    assert not parsed.other, parsed.other
    allowed_tags, allowed_attrs = set(tags), set(attrs)
    for tag, tag_attrs in parsed.tags:
        assert tag in allowed_tags, f"unexpected tag <{tag}>"
        for name, value in tag_attrs:
            assert name in allowed_attrs and not name.startswith("on"), \
                f"unexpected attribute {name!r} on <{tag}>"
            if tag == "iframe" and name == "srcdoc":
                assert_safe_html(value or "", frame_tags, PAGE_ATTRS)
                continue
            for part in PAYLOAD_PARTS:
                assert part not in (value or ""), f"payload in <{tag} {name}={value!r}>"
    return "".join(parsed.text)


def assert_shows(text: str, *fields: str) -> None:
    """The payload of each field appears as visible text (as is, or in a repr/JSON)."""
    plain = text.replace("\\", "")
    for field in fields:
        assert f"<script>alert('{field}')" in plain, f"{field} is not shown as text"


# The storlets' own markup (and the server's note paragraph).
DIFF_TAGS = ("html", "head", "meta", "title", "style", "body", "h1", "h2", "p",
             "table", "tr", "th", "td")
LISTING_TAGS = ("html", "head", "meta", "title", "style", "body", "p",
                "table", "thead", "tbody", "tr", "th", "td")
VALIDATION_TAGS = ("html", "head", "meta", "title", "style", "body", "h1", "p", "ul", "li",
                   "table", "tr", "th", "td")
PAGE_ATTRS = ("charset", "class")
# The server's pages (swiftcontents.pages): the storlets' markup, their inline
# <style> replaced by a <link> to the extension's stylesheet, a theme on <html>.
SERVED_ATTRS = PAGE_ATTRS + ("rel", "href", "data-theme")


def served(tags: tuple[str, ...]) -> tuple[str, ...]:
    """A storlet's tags as the server serves its page: no <style>, one <link>."""
    return tuple(t for t in tags if t != "style") + ("link",)
