"""The name limit leaves room for a file's checkpoints (so a save never half-happens)."""
from __future__ import annotations

import pytest

from swiftcontents import checkpoints, paths
from swiftcontents.errors import SwiftContentsError


def test_the_reserved_bytes_match_the_checkpoint_naming():
    key = "k" * paths.MAX_KEY_BYTES
    name = checkpoints.prefix_of(key) + checkpoints.new_checkpoint_id()
    assert len(name.encode()) == paths.MAX_NAME_BYTES


@pytest.mark.parametrize("key", ["n" * 977, "é" * 488 + "n", "d/" + "😀" * 244 + "n"])
def test_a_name_whose_checkpoints_would_not_fit_is_refused(key):
    with pytest.raises(SwiftContentsError) as err:
        paths.check_length(key, key)
    assert err.value.status == 400 and "checkpoints" in err.value.message


def test_the_longest_name_allowed_still_fits_its_checkpoints():
    paths.check_length("n" * paths.MAX_KEY_BYTES, "ok")
