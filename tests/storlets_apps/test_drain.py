"""Every storlet reads each input to its end, on every path (errors too), within its budget.

An input a storlet leaves unread makes the engine's writer in the proxy (or object
server) hit EPIPE once the storlet's end closes; eventlet retries that forever, and a
thread spins in the server for good. Through the harness each input is fed by a
writer thread from a generator: the generator only finishes when the storlet read
everything its writer wrote, so an unread input shows as an unfinished feed.
"""
from __future__ import annotations

import json
import threading

import pytest

from storlets_apps import _nbcommon
from storlets_apps.identity import IdentityStorlet
from storlets_apps.nbdiff import DiffStorlet
from storlets_apps.nblisting import ListingStorlet
from storlets_apps.nbvalidate import ValidateStorlet
from swiftproto.harness import run_storlet

CHUNK = 64 * 1024
SIZE = 1 << 20  # 16 pipe buffers: a writer cannot finish into the pipe alone


def notebook(size: int = SIZE) -> bytes:
    """A valid nbformat 4 notebook of about ``size`` bytes."""
    return json.dumps({"cells": [{"cell_type": "raw", "id": "pad", "metadata": {},
                                  "source": "x" * size}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


class Feed:
    """An input as chunks; ``finished`` once the writer got past its last chunk."""

    def __init__(self, data: bytes, endless: bool = False) -> None:
        self.data, self.endless = data, endless
        self.finished = threading.Event()
        self.fed = 0

    def __iter__(self):
        while True:
            for i in range(0, len(self.data), CHUNK):
                self.fed += len(self.data[i:i + CHUNK])
                yield self.data[i:i + CHUNK]
            if not self.endless:
                break
        self.finished.set()


def run(storlet, main: Feed, *extra: Feed, **params) -> dict:
    result = run_storlet(storlet, main, extra=[(feed, {}) for feed in extra],
                         params=params, timeout=60)
    for n, feed in enumerate((main,) + extra):
        assert feed.finished.is_set(), f"input {n} was left unread ({feed.fed} bytes fed)"
    return result.metadata


def test_nbdiff_with_one_input_drains_it():
    """The warm-up's call: nbdiff without a checkpoint answers bad_request at once."""
    md = run(DiffStorlet, Feed(notebook()))
    assert md[_nbcommon.ERROR] == "bad_request"


def test_nbdiff_drains_the_checkpoint_when_the_notebook_is_bad():
    md = run(DiffStorlet, Feed(b"{not json" + b" " * SIZE), Feed(notebook()))
    assert md[_nbcommon.ERROR] == "invalid_json"


def test_nbdiff_drains_both_inputs_on_a_bad_parameter():
    md = run(DiffStorlet, Feed(notebook()), Feed(notebook()), format="pdf")
    assert md[_nbcommon.ERROR] == "bad_parameter"


def test_nbdiff_drains_extra_inputs_it_refuses():
    md = run(DiffStorlet, Feed(notebook()), Feed(notebook()), Feed(notebook()))
    assert md[_nbcommon.ERROR] == "bad_request"


def test_nbdiff_drains_an_input_it_refused_as_too_large():
    """A notebook over the caller's max_bytes is refused after max_bytes + 1 bytes; the
    rest is drained all the same (a caller cannot make a storlet leave input unread by
    lowering max_bytes), and the checkpoint too."""
    md = run(DiffStorlet, Feed(notebook(SIZE)), Feed(notebook()), max_bytes="1000")
    assert md[_nbcommon.ERROR] == "too_large"


def test_nblisting_drains_an_input_past_its_budget_and_the_others():
    small = notebook(1000)
    md = run(ListingStorlet, Feed(small), Feed(notebook(SIZE)), Feed(small),
             max_bytes=str(SIZE // 2))
    assert md["Nb-Listing-Count"] == "3" and md["Nb-Listing-Errors"] == "1"


def test_nblisting_drains_every_input_on_a_bad_parameter():
    md = run(ListingStorlet, Feed(notebook()), Feed(notebook()), format="pdf")
    assert md[_nbcommon.ERROR] == "bad_parameter"


def test_nbvalidate_report_drains_on_a_bad_parameter():
    md = run(ValidateStorlet, Feed(notebook()), max_errors="many")
    assert md[_nbcommon.ERROR] == "bad_parameter"


def test_nbvalidate_report_drains_extra_inputs():
    md = run(ValidateStorlet, Feed(notebook()), Feed(notebook()))
    assert md[_nbcommon.VALID] == "yes"


def test_nbvalidate_stamp_drains_extra_inputs():
    md = run(ValidateStorlet, Feed(notebook()), Feed(notebook()), mode="stamp")
    assert md[_nbcommon.VALID] == "yes"


def test_identity_reads_everything():
    run(IdentityStorlet, Feed(notebook()), Feed(notebook()))


@pytest.mark.parametrize("storlet,params", [
    (DiffStorlet, {"format": "pdf"}),
    (ListingStorlet, {"format": "pdf"}),
    (ValidateStorlet, {"max_errors": "many"}),
])
def test_an_endless_input_is_drained_up_to_the_ceiling_then_closed(storlet, params):
    """The drain is bounded: a storlet does not hang on an input that never ends."""
    endless = Feed(b"x" * CHUNK, endless=True)
    result = run_storlet(storlet, endless, params=params, timeout=60)
    assert result.metadata[_nbcommon.ERROR] == "bad_parameter"
    assert not endless.finished.is_set()
    # The ceiling drained, plus what the pipe and the reader's buffer held.
    ceiling = _nbcommon.CEILING_MAX_BYTES
    assert ceiling <= endless.fed <= ceiling + 4 * CHUNK + _nbcommon.READ_CHUNK


class _Input:
    """A minimal input file: ``size`` bytes, read in pieces."""

    def __init__(self, size: int) -> None:
        self.left, self.closed, self.reads = size, False, 0

    def read(self, n: int) -> bytes:
        self.reads += 1
        piece = min(n, self.left)
        self.left -= piece
        return b"x" * piece

    def close(self) -> None:
        self.closed = True


def test_drain_stops_at_its_limit_whatever_max_bytes_says():
    budget, limit = _nbcommon.Budget(max_bytes=1), 3 * _nbcommon.READ_CHUNK
    assert _nbcommon.drain(_Input(2 * _nbcommon.READ_CHUNK), budget, limit) is True
    big = _Input(10 * _nbcommon.READ_CHUNK)
    assert _nbcommon.drain(big, budget, limit) is False
    assert big.left == 10 * _nbcommon.READ_CHUNK - limit - 1


def test_drain_stops_past_the_time_budget():
    budget = _nbcommon.Budget(max_seconds=0.001)
    budget.deadline -= _nbcommon.DRAIN_GRACE_SECONDS + 1  # long past, grace included
    slow = _Input(10 * _nbcommon.READ_CHUNK)
    assert _nbcommon.drain(slow, budget) is False
    assert slow.reads == 1


def test_drain_never_raises_and_close_inputs_closes_everything():
    class Broken(_Input):
        def read(self, n: int) -> bytes:
            raise OSError("pipe gone")

    files = [Broken(10), _Input(10), _Input(0)]
    files[2].closed = True
    _nbcommon.close_inputs(files, _nbcommon.Budget())
    assert all(f.closed for f in files) and files[1].left == 0 and files[2].reads == 0
