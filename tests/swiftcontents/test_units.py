"""Unit tests of the pure parts: models, codecs, checkpoint ids, stamps, storlet helpers."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import nbformat
import pytest
from swiftclient.exceptions import ClientException
from tornado import web

from swiftcontents import checkpoints, models, storlets
from swiftcontents.errors import SwiftContentsError
from swiftcontents.manager import SwiftContentsManager, swift_errors
from swiftcontents.store import (
    Entry, parse_http_date, parse_listing_time, parse_x_timestamp, status_for)
from swiftcontents.operations import rekey

FILES = Path(__file__).resolve().parent.parent / "files" / "swiftcontents"


def test_head_and_listing_times_agree_to_the_microsecond():
    exact = dt.datetime(2024, 5, 1, 12, 0, 0, 123450, tzinfo=dt.timezone.utc)
    assert parse_x_timestamp("1714564800.12345") == parse_listing_time("2024-05-01T12:00:00.123450") == exact
    assert parse_x_timestamp("1714564800.12345_0000000000000001") == exact  # an offset
    assert parse_x_timestamp("1714564800") == parse_listing_time("2024-05-01T12:00:00")
    # a PUT response's Last-Modified is that instant rounded up: never what a model shows
    assert parse_http_date("Wed, 01 May 2024 12:00:01 GMT") > exact


def test_entry_model_same_from_head_or_listing():
    when = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    m = models.entry_model("d/x.txt", Entry("d/x.txt", False, 3, when, "e"))
    assert m["type"] == "file" and m["mimetype"] == "text/plain" and m["size"] == 3
    assert m["created"] == m["last_modified"] == when and m["content"] is None
    nb = models.entry_model("a.ipynb", Entry("a.ipynb", False, 3, when))
    assert nb["type"] == "notebook" and nb["mimetype"] is None
    assert models.entry_model("d", Entry("d", True))["type"] == "directory"


@pytest.mark.parametrize("data, fmt, expected", [
    (b"hi", None, ("hi", "text")), (b"hi", "text", ("hi", "text")),
    (b"\xff", None, ("/w==\n", "base64")), (b"hi", "base64", ("aGk=\n", "base64")),
])
def test_decode_file(data, fmt, expected):
    assert models.decode_file("p", data, fmt) == expected


def test_decode_and_encode_errors_are_400():
    with pytest.raises(SwiftContentsError, match="not UTF-8"):
        models.decode_file("p", b"\xff", "text")
    with pytest.raises(SwiftContentsError, match="'text' or 'base64'"):
        models.encode_file("p", "x", "json")
    with pytest.raises(SwiftContentsError, match="Encoding error"):
        models.encode_file("p", "not base64 ***", "base64")
    assert models.encode_file("p", "/w==", "base64") == b"\xff"


def test_stamp_of_metadata():
    assert models.stamp_of({}) is None
    stamp = models.stamp_of({"nb-valid": "no", "nb-first-error": "cells[0]: bad",
                             "nb-validated-by": "server"})
    assert stamp == {"valid": False, "error_count": None, "truncated": False,
                     "validated_by": "server", "first_error": "cells[0]: bad"}


def test_checkpoint_ids_route_safe_and_ordered():
    a = checkpoints.new_checkpoint_id(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    b = checkpoints.new_checkpoint_id(dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc))
    assert a < b and all(c.isalnum() or c in "-_" for c in a)  # jupyter's [\w-]+ route
    assert checkpoints.checkpoint_time(a) == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    with pytest.raises(web.HTTPError) as err:
        checkpoints.checkpoint_time("nonsense")
    assert err.value.status_code == 404


@pytest.mark.parametrize("code, status", [(404, 404), (409, 409), (401, 403), (500, 503), (503, 503), (507, 507), (None, 503)])
def test_swift_status_translation(code, status):
    assert status_for(ClientException("x", http_status=code)) == status


def test_one_translation_point():
    import logging
    with pytest.raises(web.HTTPError) as err, swift_errors(logging.getLogger("t")):
        raise SwiftContentsError(503, "Swift unavailable")
    assert err.value.status_code == 503 and err.value.log_message == "Swift unavailable"
    with pytest.raises(web.HTTPError) as err, swift_errors(logging.getLogger("t"), "saving"):
        raise KeyError("boom")
    assert err.value.status_code == 500


def test_rekey():
    assert rekey("old/a/b", "old", "new") == "new/a/b" and rekey("old/", "old", "n") == "n/"


def test_in_process_summary_and_validation():
    data = (FILES / "titled.ipynb").read_bytes()
    row = storlets.summarize("titled.ipynb", data)
    assert row["title"] == "A titled notebook" and row["cells"]["code"] == 2
    assert row["outputs"]["count"] == 1 and row["max_execution_count"] == 3 and row["valid"]
    assert row["kernel"] == "python3" and row["language"] == "python"
    assert storlets.summarize("x", b"{not json")["error"] == "invalid_json"
    assert storlets.validation_report(data)["valid"] is True
    bad = json.loads(data)
    del bad["cells"][0]["source"]
    report = storlets.validation_report(json.dumps(bad).encode())
    assert report["valid"] is False and report["error_count"] >= 1


def test_in_process_diff_formats():
    base = (FILES / "titled.ipynb").read_bytes()
    nb = nbformat.reads(base.decode(), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("added"))
    current = nbformat.writes(nb).encode()
    ctype, diff = storlets.local_diff(base, current, "nbdime")
    import nbdime
    from nbdime.diff_utils import to_diffentry_dicts
    assert ctype == "application/json"
    assert nbdime.patch(nbformat.reads(base.decode(), as_version=4),
                        to_diffentry_dicts(diff)) == nb
    assert "added" in storlets.local_diff(base, current, "text")[1]
    assert storlets.local_diff(base, current, "html")[1].startswith("<!DOCTYPE html>")


def test_stamp_metadata_in_process():
    data = (FILES / "titled.ipynb").read_bytes()
    assert storlets.local_stamp(data)["X-Object-Meta-Nb-Valid"] == "yes"
    bad = json.loads(data)
    bad["cells"][0]["source"] = 7
    md = storlets.local_stamp(json.dumps(bad).encode())
    assert md["X-Object-Meta-Nb-Valid"] == "no" and "\n" not in md["X-Object-Meta-Nb-First-Error"]
    assert md["X-Object-Meta-Nb-Validated-By"] == "server"


def test_traits_have_help_and_validation():
    traits = SwiftContentsManager.class_traits(config=True)
    for name in ("container", "prefix", "create_container", "storlets", "request_timeout",
                 "pool_size", "auth_url", "storage_url", "auth_token", "allow_hidden"):
        assert traits[name].help, name
    with pytest.raises(Exception):
        SwiftContentsManager(pool_size=0)
    with pytest.raises(Exception):
        SwiftContentsManager(storlets="sometimes")


def test_container_template(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "alice@example.org")
    cm = SwiftContentsManager(container="nb-{username}")
    assert cm._template(cm.container) == "nb-alice-example.org"
    with pytest.raises(SwiftContentsError, match="Invalid Swift container"):
        cm._template("a/b")


def test_no_credentials_is_a_clear_503(monkeypatch):
    for var in ("ST_AUTH", "OS_AUTH_URL", "OS_STORAGE_URL", "OS_AUTH_TOKEN", "ST_STORAGE_URL", "ST_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    import asyncio
    cm = SwiftContentsManager(container="x")
    with pytest.raises(web.HTTPError) as err:
        asyncio.run(cm.get(""))
    assert err.value.status_code == 503 and "s2aio env" in err.value.log_message


def test_notebook_shape_problem_names_cell_and_field_and_lets_invalid_ones_through():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("m"),
                                         nbformat.v4.new_code_cell("1")])
    assert models.notebook_shape_problem(nb) is None
    del nb.cells[0]["source"]  # invalid, but signable and writable: saved with a message
    assert models.notebook_shape_problem(nb) is None
    nb.cells[1]["outputs"] = [{"output_type": "stream", "text": "x"}, "oops"]
    assert models.notebook_shape_problem(nb) == "cell 1 (code): output 1 must be an object, not a string"
    del nb.cells[1]["metadata"]
    assert models.notebook_shape_problem(nb) == "cell 1: missing field 'metadata'"
    assert models.notebook_shape_problem({**nb, "cells": {}}) == (
        "notebook: field 'cells' must be a list, not an object")
    assert models.notebook_shape_problem({**nb, "nbformat": True}) == (
        "notebook: field 'nbformat' must be an integer, not bool")
