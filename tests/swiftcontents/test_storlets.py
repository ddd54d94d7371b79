"""NotebookStorlets: which storlet failures fall back in-process and which are answered."""
from __future__ import annotations

import json

import nbformat
import pytest

from swiftcontents import storlets
from swiftcontents.errors import SwiftContentsError
from swiftcontents.storlets import NotebookStorlets

NB = nbformat.writes(nbformat.v4.new_notebook(
    cells=[nbformat.v4.new_markdown_cell("# T")])).encode()


class FakeStore:
    """Plain requests succeed; a request that runs a storlet fails with ``status``."""

    container = "c"
    aux_container = "c_aux"

    def __init__(self, status: int) -> None:
        self.status = status
        self.storlet_calls = 0
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {"n.ipynb": (NB, {})}

    def key(self, path: str) -> str:
        return path

    def _storlet(self, headers: dict[str, str] | None) -> None:
        if headers and any(k.lower() == "x-run-storlet" for k in headers):
            self.storlet_calls += 1
            raise SwiftContentsError(self.status, f"Swift answered {self.status}")

    def write(self, path, data, content_type, headers=None, query_string=None):
        self._storlet(headers)
        self.objects[path] = (data, dict(headers or {}))
        return {"last-modified": "Mon, 30 Nov 2026 12:00:00 GMT"}

    def read(self, path, headers=None):
        self._storlet(headers)
        data, meta = self.objects[path]
        return {}, data

    def read_aux(self, name):
        return {}, NB

    def read_capped(self, name, limit, aux=False):  # what the fallbacks read
        data = NB if aux else self.objects[name][0]
        if len(data) > limit:
            raise SwiftContentsError(413, f"{name} is larger than the {limit}-byte limit")
        return data


def calls(nbs: NotebookStorlets, store: FakeStore) -> dict:
    return {
        "save": lambda: nbs.save_notebook(store, "n.ipynb", NB),
        "validate": lambda: nbs.validate(store, "n.ipynb"),
        "listing": lambda: nbs.listing(store, ["n.ipynb"]),
        "diff": lambda: nbs.diff(store, "n.ipynb", "ckpt", "text"),
    }


@pytest.mark.parametrize("status", [422, 413])
@pytest.mark.parametrize("what", ["save", "validate", "listing", "diff"])
def test_a_user_level_storlet_error_is_answered_and_disables_nothing(status, what):
    nbs, store = NotebookStorlets("auto"), FakeStore(status)
    store.objects["n.ipynb"] = (b"stored before", {})
    with pytest.raises(SwiftContentsError) as err:
        calls(nbs, store)[what]()
    assert err.value.status == status and "storlet nb" in err.value.message
    assert store.objects["n.ipynb"][0] == b"stored before"  # no fallback write either
    assert nbs.wanted() == (True, None)  # every other caller still gets the storlet


@pytest.mark.parametrize("what", ["save", "validate", "listing", "diff"])
def test_swift_out_of_space_is_answered_and_rests_nothing(what):
    nbs, store = NotebookStorlets("auto"), FakeStore(507)
    store.objects["n.ipynb"] = (b"stored before", {})
    with pytest.raises(SwiftContentsError) as err:
        calls(nbs, store)[what]()
    assert err.value.status == 507
    assert store.objects["n.ipynb"][0] == b"stored before"
    assert nbs.wanted() == (True, None)  # a full disk is no engine fault


@pytest.mark.parametrize("what", ["save", "validate", "listing", "diff"])
def test_an_engine_fault_falls_back_and_rests_the_engine(what):
    nbs, store = NotebookStorlets("auto"), FakeStore(503)
    result = calls(nbs, store)[what]()
    assert result["computed_by"] == "server" and "503" in result["fallback_reason"]
    use, reason = nbs.wanted()
    assert not use and "failed recently" in reason
    calls(nbs, store)[what]()
    assert store.storlet_calls == 1  # not tried again while it rests


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_refusals_fall_back_for_that_call_only(status):
    nbs, store = NotebookStorlets("auto"), FakeStore(status)
    result = nbs.save_notebook(store, "n.ipynb", NB)
    assert result["computed_by"] == "server" and str(status) in result["fallback_reason"]
    assert json.loads(store.objects["n.ipynb"][0]) == json.loads(NB)
    assert nbs.wanted() == (True, None)


def test_the_engine_rests_for_retry_after(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(storlets.time, "monotonic", lambda: now[0])
    nbs = NotebookStorlets("auto")
    nbs.validate(FakeStore(503), "n.ipynb")
    assert nbs.wanted()[0] is False
    now[0] += storlets.RETRY_AFTER + 0.1
    assert nbs.wanted() == (True, None)
