"""nbdime's diff API on Swift, without servers: bases, the answer's shape, the wrapper."""
from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import nbdime
import nbformat
import pytest
from nbdime.diff_format import DiffEntry, is_valid_diff
from nbdime.webapp.nb_server_extension import ExtensionApiDiffHandler

from swiftcontents import nbdime_api, storlets
from swiftcontents.errors import SwiftContentsError
from swiftcontents.nbdime_api import CheckpointBase, parse_base

V4 = nbformat.v4


def as_diff_entries(diff: list[dict]) -> list:
    """JSON diff -> nbdime DiffEntry objects (what nbdime.patch expects)."""
    return [DiffEntry(**{**e, "diff": as_diff_entries(e["diff"])} if "diff" in e else e)
            for e in diff]


def small_pair() -> tuple[bytes, bytes]:
    """A checkpoint and the notebook after an edit: a line added, a cell replaced."""
    base = V4.new_notebook(cells=[V4.new_markdown_cell("# Title", id="a"),
                                  V4.new_code_cell("x = 1\nprint(x)", id="b"),
                                  V4.new_markdown_cell("Old notes", id="c")])
    current = V4.new_notebook(cells=[V4.new_markdown_cell("# Title", id="a"),
                                     V4.new_code_cell("x = 1\nimport os\nprint(x)", id="b"),
                                     V4.new_code_cell("z = 3", id="e")])
    return nbformat.writes(base).encode(), nbformat.writes(current).encode()


@pytest.mark.parametrize("base, expected", [
    ("checkpoint:nb.ipynb", CheckpointBase("nb.ipynb")),
    ("checkpoint:dir/sub é/n b.ipynb", CheckpointBase("dir/sub é/n b.ipynb")),
    ("checkpoint@20260101T000000000000-abc123:dir/nb.ipynb",
     CheckpointBase("dir/nb.ipynb", "20260101T000000000000-abc123")),
    ("checkpoint:notes:v2.ipynb", CheckpointBase("notes:v2.ipynb")),  # a colon in a name is fine
])
def test_checkpoint_bases(base, expected):
    assert nbdime_api.is_checkpoint_base(base)
    assert parse_base(base) == expected


@pytest.mark.parametrize("base", ["nb.ipynb", "git:nb.ipynb", "", None, 3, ["checkpoint:x"],
                                  "Checkpoint:nb.ipynb", "checkpoints:nb.ipynb"])
def test_other_bases_are_nbdimes(base):
    assert not nbdime_api.is_checkpoint_base(base)


@pytest.mark.parametrize("base, words", [
    ("checkpoint:../etc/passwd.ipynb", "'..' segments"),
    ("checkpoint:a/../../b.ipynb", "'..' segments"),
    ("checkpoint:a/./b.ipynb", "'.'"),
    ("checkpoint:/etc/passwd.ipynb", "absolute paths"),
    ("checkpoint://x.ipynb", "absolute paths"),
    ("checkpoint:\\x.ipynb", "absolute paths"),
    ("checkpoint:C:/x.ipynb", "absolute paths"),
    ("checkpoint:a\x00b.ipynb", "control characters"),
    ("checkpoint:a\nb.ipynb", "control characters"),
    ("checkpoint:", "only notebooks"),
    ("checkpoint:notes.txt", "only notebooks"),
    ("checkpoint:" + "a/" * 5000 + "b.ipynb", "at most 2048"),
    ("checkpoint@:nb.ipynb", "Invalid checkpoint id"),
    ("checkpoint@../x:nb.ipynb", "Invalid checkpoint id"),
    ("checkpoint@a b:nb.ipynb", "Invalid checkpoint id"),
    ("checkpoint@" + "a" * 65 + ":nb.ipynb", "Invalid checkpoint id"),
    ("checkpoint@id\x00:nb.ipynb", "Invalid checkpoint id"),
    ("checkpoint@id", "use 'checkpoint:<path>'"),
])
def test_hostile_bases_are_400s_that_say_why(base, words):
    with pytest.raises(SwiftContentsError) as info:
        parse_base(base)
    assert info.value.status == 400 and words in info.value.message, info.value.message
    assert len(info.value.message) < 400  # a huge base is never echoed back


def test_the_diff_is_nbdimes_own_on_a_small_notebook():
    """The storlet's code (run here as the engine would) gives what nbdime.diff_notebooks
    gives, on the base this API returns; nbdime validates and applies it."""
    base_bytes, current_bytes = small_pair()
    _, diff = storlets.local_diff(base_bytes, current_bytes, "nbdime")
    base, current = nbdime_api.base_notebook(base_bytes), nbdime_api.base_notebook(current_bytes)
    assert diff == json.loads(json.dumps(nbdime.diff_notebooks(base, current)))
    assert is_valid_diff(as_diff_entries(diff), deep=True)
    assert nbdime.patch(base, as_diff_entries(diff)) == current


def test_base_notebook_is_what_nbformat_reads():
    base_bytes, _ = small_pair()
    raw = json.loads(base_bytes)
    assert isinstance(raw["cells"][1]["source"], list)  # stored as lines
    base = nbdime_api.base_notebook(base_bytes)
    assert base == json.loads(json.dumps(nbformat.reads(base_bytes.decode(), as_version=4)))
    assert base["cells"][1]["source"] == "x = 1\nprint(x)"


@pytest.mark.parametrize("data, words", [
    (b"", "empty"), (b"{not json", "JSON"), (b'{"nbformat": 3, "worksheets": []}', "nbformat"),
    (b"\xff\xfe", "UTF-8")])
def test_an_unreadable_checkpoint_is_a_422(data, words):
    with pytest.raises(SwiftContentsError) as info:
        nbdime_api.base_notebook(data)
    assert info.value.status == 422 and "checkpoint" in info.value.message
    assert words in info.value.message, info.value.message


def test_answer_shape():
    result = {"body": [], "computed_by": "storlet", "path": "a.ipynb", "checkpoint": "c1"}
    answer = nbdime_api.answer_shape({"cells": []}, result)
    assert answer == {"base": {"cells": []}, "diff": [], "computed_by": "storlet",
                      "path": "a.ipynb", "checkpoint": "c1"}
    result.update(computed_by="server", fallback_reason="storlets are off")
    answer = nbdime_api.answer_shape({"cells": []}, result)
    assert answer["computed_by"] == "server" and answer["fallback_reason"] == "storlets are off"


class FakeHandler:
    """Just what ``serve`` reads before it decides to delegate."""

    def __init__(self, body: bytes, cm: object) -> None:
        self.request = SimpleNamespace(body=body)
        self.contents_manager = cm


@pytest.mark.parametrize("body", [
    b'{"base": "a.ipynb", "remote": "b.ipynb"}', b'{"base": "git:a.ipynb"}', b"not json",
    b"\xff", b"[1]", b'{"base": 7}'])
def test_other_requests_go_to_nbdime(body):
    seen = []

    async def delegate(handler):
        seen.append(handler)

    handler = FakeHandler(body, cm=object())
    asyncio.run(nbdime_api.serve(handler, delegate))
    assert seen == [handler]


def test_checkpoint_bases_on_another_contents_manager_go_to_nbdime():
    seen = []
    handler = FakeHandler(b'{"base": "checkpoint:a.ipynb"}', cm=object())
    asyncio.run(nbdime_api.serve(handler, seen.append))  # (a plain function works too)
    assert seen == [handler]


def test_install_wraps_nbdimes_handler_once():
    assert nbdime_api.install() is True
    wrapped = ExtensionApiDiffHandler.post
    assert getattr(wrapped, nbdime_api._INSTALLED) is True
    assert nbdime_api.install() is True
    assert ExtensionApiDiffHandler.post is wrapped  # not wrapped twice
