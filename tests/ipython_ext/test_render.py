"""Unit tests: result objects and rendering (no servers)."""
from __future__ import annotations

import json

import pytest

from ipython_ext import render
from ipython_ext.commands import parse_env_lines
from ipython_ext.local import apply_range
from ipython_ext.progress import ProgressReader, TextProgress, bar_text, reporter_for
from ipython_ext.result import StorletResult, StorletTable

LISTING = [{"name": "a.ipynb", "title": "A <b>", "kernel": "python3", "cells": 3}]
DIFF = [{"op": "patch", "key": "cells", "diff": [
    {"op": "addrange", "key": 1, "valuelist": [{"source": "new cell"}]},
    {"op": "removerange", "key": 3, "length": 2},
    {"op": "patch", "key": 0, "diff": [{"op": "replace", "key": "source", "value": "x = 2"}]},
]}]


def result(body, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return StorletResult(200, {"Content-Type": "application/json", "X-Trans-Id": "tx1", **headers},
                         iter([data[:5], data[5:]]), storlet="nblisting.py", target="/c/o")


def test_result_keeps_upstream_surface_and_replays_body():
    r = StorletResult(200, {"X-Trans-Id": "tx9"}, iter([b"ab", b"cd", b"e"]))
    assert r.peek(3) == b"abcd"[:3]
    assert b"".join(r.iter_content()) == b"abcde"
    assert list(r.iter_content(2)) == [b"ab", b"cd", b"e"]
    assert r.content == b"abcde" and list(r) == [b"ab", b"cd", b"e"]
    assert r.transaction_id == "tx9"


@pytest.mark.parametrize("body, kind", [
    (LISTING, "listing"), ({"notebooks": LISTING}, "listing"), (DIFF, "diff"),
    ({"diff": DIFF, "base": "x"}, "diff"), ({"valid": False, "errors": ["bad"]}, "validation"),
    ({"x": 1}, "json"), (b"plain text", "text"), (b"\xff\xfe\x00", "binary"), (b"", "empty")])
def test_classify(body, kind):
    r = result(body)
    assert render.classify(r._view())[0] == kind


def test_html_page_goes_in_a_frame():
    page = b"<html><style>td{}</style><table><tr><td>a & b</td></tr></table></html>"
    r = StorletResult(200, {"Content-Type": "text/html; charset=utf-8"}, page)
    assert render.classify(r._view())[0] == "html"
    html = r._repr_html_()
    assert "<iframe srcdoc=\"&lt;html&gt;" in html and "a &amp; b" in html
    assert "<table><tr><td>a & b" in repr(r)


def test_error_document_wins():
    r = result({"error": "x"}, **{"X-Object-Meta-Nb-Error": "bad",
                                  "X-Object-Meta-Nb-Error-Detail": "bad notebook"})
    assert render.classify(r._view()) == ("error", "bad: bad notebook")
    generic = result({}, **{"X-Object-Meta-Storlet-Error": "oops"})
    assert render.classify(generic._view()) == ("error", "oops")
    assert "bad notebook" in r._repr_html_() and "bad notebook" in repr(r)


def test_listing_html_is_a_table_and_escaped():
    html = result(LISTING)._repr_html_()
    assert "<table>" in html and "<td>A &lt;b&gt;</td>" in html and "<b>A" not in html
    text = repr(result(LISTING))
    assert "a.ipynb" in text and "python3" in text and "tx1" in text


def test_diff_side_by_side():
    rows = render.flatten_diff(DIFF)
    assert [(r["path"], r["op"]) for r in rows] == [
        ("/cells/1", "add"), ("/cells/3", "remove"), ("/cells/0/source", "replace")]
    assert rows[0]["after"] == '{"source": "new cell"}'
    html = result(DIFF)._repr_html_()
    assert "<th>before</th><th>after</th>" in html and "x = 2" in html
    assert "3 change(s)" in repr(result(DIFF))


def test_validation_and_json_and_binary_text():
    html = result({"valid": False, "errors": ["cells: required"], "nbformat": 4})._repr_html_()
    assert "INVALID" in html and "cells: required" in html
    assert '"x": 1' in repr(result({"x": 1}))
    assert "00000000  ff fe" in repr(result(b"\xff\xfe\x00"))


def test_table_text_and_html():
    rows = [{"name": "identity.py", "main": "identity.IdentityStorlet", "language": "python",
             "size": 10, "last_modified": "2024", "dependencies": ["a.zip", "b.json"]}]
    table = StorletTable(rows, "storlet")
    assert "a.zip, b.json" in table._repr_html_()
    assert repr(table).splitlines()[1].startswith("name")
    assert table.names() == ["identity.py"]


def test_progress_reader_reports_and_text_bar(tmp_path):
    f = tmp_path / "big"
    f.write_bytes(b"x" * 1000)
    seen = []
    with f.open("rb") as fh:
        reader = ProgressReader(fh, 1000, lambda d, t: seen.append((d, t)))
        while reader.read(300):
            pass
    assert seen[-1] == (1000, 1000)
    assert reporter_for("x", 10, html=False) is None
    assert isinstance(reporter_for("x", 10 << 20, html=False), TextProgress)
    assert "100%" in bar_text("PUT", 5, 5)


def test_apply_range_matches_http_semantics():
    data = b"0123456789"
    assert apply_range(data, "bytes=2-4") == b"234"
    assert apply_range(data, "bytes=7-") == b"789"
    assert apply_range(data, "bytes=-3") == b"789"
    assert apply_range(data, None) == data


def test_env_lines_from_s2aio_env():
    text = "export ST_AUTH=http://127.0.0.1:1/auth/v1.0\nexport ST_USER='test:tester'\n" \
           "unset OS_AUTH_TOKEN OS_STORAGE_URL\n# comment\n"
    assert parse_env_lines(text) == {"ST_AUTH": "http://127.0.0.1:1/auth/v1.0",
                                     "ST_USER": "test:tester", "OS_AUTH_TOKEN": None,
                                     "OS_STORAGE_URL": None}


def test_log_lines_split_entries():
    text = "m.C INFO: one m.C INFO: twom.C ERROR: three\nm.C DEBUG: four"
    assert render.log_lines(text, "m.py").splitlines() == [
        "m.C INFO: one ", "m.C INFO: two", "m.C ERROR: three", "m.C DEBUG: four"]
    assert render.log_lines("a.B INFO: x'a.B INFO: y").splitlines() == ["a.B INFO: x'", "a.B INFO: y"]


def test_html_progress_updates_one_display(monkeypatch):
    import IPython.display

    from ipython_ext.progress import HtmlProgress

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj.data))

    def display(obj, display_id=False):
        shown.append(("display", obj.data))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    progress = HtmlProgress("PUT /c/o")
    progress(1, 10)
    progress(10, 10)
    assert [kind for kind, _ in shown] == ["display", "update"]
    assert "<progress value='10' max='10'>" in shown[-1][1] and "100%" in shown[-1][1]


def test_translate_errors_one_line_and_redacted():
    from swiftclient.exceptions import ClientException

    from swiftproto import SwiftSettings
    from ipython_ext.swiftio import translate

    settings = SwiftSettings(mode="token", storage_url="http://127.0.0.1:1/v1/AUTH_t",
                             token="AUTH_tksecret")
    exc = ClientException("Object GET failed", http_status=404, http_reason="Not Found",
                          http_response_content=b"<html><h1>Not Found</h1></html>",
                          http_response_headers={"X-Trans-Id": "tx123"})
    err = translate(exc, "reading AUTH_tksecret", settings)
    assert str(err) == ("reading *** failed: 404 Not Found (transaction tx123)"
                        " - check the container/object names")
    assert (err.status, err.transaction_id) == (404, "tx123")
    assert err._render_traceback_() == [f"UsageError: {err}"]
    local = translate(PermissionError(13, "Permission denied", "/x/f"), "uploading", settings)
    assert str(local) == "uploading failed: Permission denied: /x/f"


def test_a_validation_stamp_is_shown_as_the_typed_verdict():
    stamped = StorletResult(201, {"X-Object-Meta-Nb-Valid": "no",
                                  "X-Object-Meta-Nb-Error-Count": "2",
                                  "X-Object-Meta-Nb-First-Error": "cells[0]: <b>"},
                            b"", action="PUT", storlet="nbvalidate.py", target="/c/n.ipynb")
    assert stamped.validation == {"valid": False, "error_count": 2, "truncated": False,
                                  "validated_by": "storlet", "first_error": "cells[0]: <b>"}
    assert 'validation stamp: {"valid": false, "error_count": 2' in repr(stamped)
    page = stamped._repr_html_()
    assert "&quot;valid&quot;: false" in page and "cells[0]: &lt;b&gt;&quot;}" in page
    plain = StorletResult(200, {}, b"x")
    assert plain.validation is None and "validation stamp" not in repr(plain)
