"""Unit tests: path validation (400 for anything that is not a plain relative path)."""
from __future__ import annotations

import pytest

from swiftcontents import paths
from swiftcontents.errors import SwiftContentsError


@pytest.mark.parametrize("raw, expected", [
    ("", ""), ("/", ""), ("a", "a"), ("/a/b.ipynb/", "a/b.ipynb"),
    ("unicodé/å b.txt", "unicodé/å b.txt"), (".hidden/x", ".hidden/x"),
])
def test_normalize_accepts(raw, expected):
    assert paths.normalize(raw) == expected


@pytest.mark.parametrize("raw, why", [
    ("../etc/passwd", "'..'"), ("a/../../b", "'..'"), ("a/./b", "'.'"), ("a//b", "empty"),
    ("a\x00b", "control"), ("a\nb", "control"), ("tab\there", "control"), ("x\x7f", "control"),
    ("\\\\server\\share", "absolute"), ("C:\\Windows", "absolute"),
])
def test_normalize_rejects_with_400(raw, why):
    with pytest.raises(SwiftContentsError) as err:
        paths.normalize(raw)
    assert err.value.status == 400
    assert why in err.value.message


def test_length_limit_counts_utf8_bytes():
    paths.check_length("é" * 488, "ok")  # 976 bytes: its checkpoints' names fit 1,024
    with pytest.raises(SwiftContentsError) as err:
        paths.check_length("é" * 488 + "x", "too long")
    assert err.value.status == 400 and "1024-byte" in err.value.message


def test_hidden_and_rebase():
    assert paths.is_hidden("a/.b/c") and paths.is_hidden(".x")
    assert not paths.is_hidden("a/b.c/d")
    assert paths.rebase("old/x/y", "old", "new/z") == "new/z/x/y"
    assert paths.is_within("a/b", "a") and not paths.is_within("ab", "a")
    assert paths.split("a/b/c") == ("a/b", "c") and paths.split("c") == ("", "c")
