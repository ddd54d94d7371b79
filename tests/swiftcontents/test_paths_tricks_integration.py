"""Path tricks through a real jupyter_server on Swift never reach another object.

A bounded slice of ``bench/reliability_paths.py`` (which runs every trick): each name is
saved, read, checkpointed, diffed against hostile checkpoint ids, renamed from and to,
copied and deleted, and both containers are listed and compared after every request.
"""
from __future__ import annotations

import pytest

from bench import reliability_paths as rp

pytestmark = pytest.mark.integration

LABELS = ("dot-dot to a bystander", "encoded dot-dot in a dir", "%2F", "%252F",
          "windows dot-dot", "NUL", "invalid UTF-8", "NFD twin of an NFC name",
          "trailing space of a bystander", "aux prefix: checkpoints/", "976-byte name",
          "977-byte name", "1025 bytes, 2-byte chars")


@pytest.fixture(scope="module")
def tricks() -> list[tuple[str, str]]:
    chosen = [t for t in rp.hand_tricks() if t[0] in LABELS]
    return chosen + rp.generated_tricks(2)


@pytest.fixture(scope="module")
def tally(s2aio, deployed, tricks) -> rp.Tally:
    return rp.run_tricks(s2aio, tricks, checkpoint_ids=4)  # "", traversal x2, another file's


def test_the_slice_has_every_chosen_trick(tricks):
    assert {label for label, _ in tricks} >= set(LABELS)


@pytest.mark.parametrize("wire, name", [
    ("d%2Fx.ipynb", "d/x.ipynb"), ("d%252Fx.ipynb", "d%2Fx.ipynb"), ("%2Fx.ipynb", "x.ipynb"),
    ("cafe%CC%81.ipynb", "cafe\u0301.ipynb"), ("x.ipynb%20", "x.ipynb "), ("x%FF.ipynb", None),
    ("a+b.ipynb", "a+b.ipynb"),
])
def test_a_url_path_is_decoded_exactly_once(wire, name):
    assert rp.denotes(wire) == name


def test_no_request_reaches_another_object(tally):
    assert tally.strays == 0, "\n".join(tally.failures)


def test_no_5xx_and_every_refusal_says_why(tally):
    assert tally.five_xx == 0, "\n".join(tally.failures)
    assert not tally.failures, "\n".join(tally.failures)


def test_the_longest_name_that_fits_its_checkpoints_is_saved(tally):
    assert tally.outcomes["976-byte name"].startswith("2"), tally.outcomes["976-byte name"]


def test_nfc_and_nfd_names_are_two_objects(tally):
    """The NFD twin is saved as its own object; the listing check proved the NFC one
    (a bystander) untouched, and the bystanders are read back at the end."""
    assert tally.outcomes["NFD twin of an NFC name"].startswith("2")


def test_traversal_and_control_characters_are_refused(tally):
    for label in ("dot-dot to a bystander", "encoded dot-dot in a dir", "NUL", "invalid UTF-8",
                  "977-byte name", "1025 bytes, 2-byte chars"):
        assert tally.outcomes[label].startswith("4"), (label, tally.outcomes[label])
