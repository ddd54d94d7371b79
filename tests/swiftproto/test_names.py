"""Which names the storlets engine may join into host paths."""
from __future__ import annotations

import pytest

from swiftproto import MAX_NAME_BYTES, UnsafeNameError, check_engine_name

UNSAFE = ["", "/etc/passwd", "a/b.py", "..", "../x.py", "a..b", ".hidden.py", ".", "a\x00b.py",
          "a\\b", "line\nbreak.py", "x" * (MAX_NAME_BYTES + 1),
          "é" * (MAX_NAME_BYTES // 2 + 1)]  # 2 bytes each: over the limit in bytes


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_names_are_refused_with_the_reason(name):
    with pytest.raises(UnsafeNameError) as err:
        check_engine_name(name, "dependency name")
    message = str(err.value)
    assert message.startswith("dependency name") and "refused" in message or "empty" in message
    assert "\x00" not in message and "\n" not in message  # shown escaped


@pytest.mark.parametrize("name", ["identity.py", "_nbcommon.py", "nb.schema.json", "a-b_c.zip",
                                  "nbvalidate.ValidateStorlet", "ünï.py",
                                  "x" * MAX_NAME_BYTES])
def test_safe_names_pass(name):
    assert check_engine_name(name) == name


def test_non_text_is_refused():
    with pytest.raises(UnsafeNameError):
        check_engine_name(b"a.py")  # type: ignore[arg-type]


def test_error_is_a_value_error():
    assert issubclass(UnsafeNameError, ValueError)
