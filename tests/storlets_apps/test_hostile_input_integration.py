"""Hostile input through the three storlets on the real engine and the contents API.

A bounded slice of the campaign's cases (``bench/reliability_hostile.py`` runs them all):
one or more of each family (truncated, deep nesting, encodings, wrong types, duplicate
keys, NaN, blow-ups, many cells) plus generated ones, each through nbvalidate (PUT and
GET), nblisting, nbdiff and a jupyter_server on Swift (save, get, validate).
"""
from __future__ import annotations

import pytest

from bench import reliability_hostile as rh

pytestmark = pytest.mark.integration

# Substrings of hand-made case names: one slice of each family, small enough for a test.
FAMILIES = ("truncated at 10/", "raw NUL", "10000-deep lists", "10000-deep top level",
            "latin-1", "UTF-16", "UTF-8 BOM", "lone surrogate escape in a source",
            "lone surrogate in the kernel", "nbformat = -1", "nbformat_minor = \"4\"",
            "nbformat = 1000", "cells.0.source = NaN", "cells.0.cell_type = []",
            "metadata.kernelspec = []", "duplicate nbformat (4 then 3)",
            "duplicate cells (list then int)", "100000 invalid cells", "escapes that expand",
            "100000 outputs in one cell",
            "worksheets = 5", "nbformat 3 with a top-level cells list",
            "a source list holding a number", "an output text list holding a list")


@pytest.fixture(scope="module")
def cases() -> list[rh.Case]:
    chosen = [c for c in rh.hand_cases(big=False) if any(f in c.name for f in FAMILIES)]
    return chosen + rh.generated_cases(5)


@pytest.fixture(scope="module")
def tally(s2aio, deployed, cases) -> rh.Tally:
    return rh.run_cases(s2aio, cases)


def test_the_slice_covers_every_family(cases):
    names = " | ".join(c.name for c in cases)
    missing = [f for f in FAMILIES if f not in names]
    assert not missing, f"no case for {missing}"
    assert len(cases) >= 25


def test_the_campaign_has_at_least_300_cases_and_is_reproducible():
    assert len(rh.hand_cases(big=False)) + 60 >= rh.MIN_CASES
    first, again = rh.generated_cases(30), rh.generated_cases(30)
    assert [c.data for c in first] == [c.data for c in again]
    assert len({c.data for c in first}) == 30


def test_failed_cases_are_saved_byte_for_byte(tmp_path):
    cases = rh.generated_cases(3)
    rh.save_cases(cases, tmp_path / "failed")
    index = (tmp_path / "failed" / "index.txt").read_text().splitlines()
    assert len(index) == 3
    for line, case in zip(index, cases):
        file_name, name = line.split("\t")
        assert name == case.name and (tmp_path / "failed" / file_name).read_bytes() == case.data


def test_no_5xx_and_every_target_answers(tally, cases):
    assert tally.five_xx == 0 and tally.no_answer == 0, "\n".join(tally.failures)
    assert all(tally.answered[t] == len(cases) for t in rh.HOSTILE_TARGETS), tally.answered


def test_every_answer_is_clear(tally):
    assert tally.unclear == 0, "\n".join(tally.failures)


def test_no_daemon_crash_and_the_next_request_is_served(tally):
    assert tally.crashes == 0, "\n".join(tally.failures)
    assert tally.not_served_after == 0, "\n".join(tally.failures)
