"""Unit tests: argument parsing (no servers)."""
from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from ipython_ext.parsing import (SwiftPath, check_params, check_variable_name, local_file,
                                 params_from_namespace, parse_dependencies,
                                 parse_input, parse_module_class, parse_param_pairs, parse_range,
                                 parse_swift_path, split_container_object, storlet_object_name)


@pytest.mark.parametrize("text, expected", [
    ("path:/c/o", SwiftPath("c", "o")),
    ("path:c/dir/o.ipynb", SwiftPath("c", "dir/o.ipynb")),
    ("path:/c/a b/ü.txt", SwiftPath("c", "a b/ü.txt")),
])
def test_swift_path(text, expected):
    assert parse_swift_path(text) == expected
    assert str(expected) == f"/{expected.container}/{expected.obj}"


@pytest.mark.parametrize("text", ["", None, "/c/o", "path:/c", "path:/c/", "path://o", "c/o"])
def test_bad_swift_path_is_usage_error(text):
    with pytest.raises(UsageError) as info:
        parse_swift_path(text, "--input")
    assert "--input" in str(info.value)
    assert "\n" not in str(info.value)


def test_split_container_object_rejects_nul_and_long_names():
    with pytest.raises(UsageError):
        split_container_object("c/o\x00x")
    with pytest.raises(UsageError, match="too long"):
        split_container_object("c/" + "x" * 2000)


def test_parse_input_local_or_swift(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("x")
    assert parse_input(str(f)) == f
    assert parse_input("path:/c/o") == SwiftPath("c", "o")
    with pytest.raises(UsageError, match="no such local file"):
        parse_input(str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="no such local file"):
        local_file(str(tmp_path))  # a directory is not a file


@pytest.mark.parametrize("text", ["mod", "a.b.C", "1mod.C", "mod.", "mod.C-x", ""])
def test_bad_module_class(text):
    with pytest.raises(UsageError, match="module.Class"):
        parse_module_class(text)


def test_module_class_and_storlet_names():
    assert parse_module_class("upper.UpperStorlet") == ("upper", "UpperStorlet")
    assert storlet_object_name("identity") == "identity.py"
    assert storlet_object_name("identity.py") == "identity.py"
    assert storlet_object_name("Foo-1.0.jar") == "Foo-1.0.jar"
    with pytest.raises(UsageError):
        storlet_object_name("storlet/identity.py")


def test_dependencies():
    assert parse_dependencies("") == ()
    assert parse_dependencies("a.py, b.zip") == ("a.py", "b.zip")
    with pytest.raises(UsageError, match="twice"):
        parse_dependencies("a.py,a.py")
    with pytest.raises(UsageError):
        parse_dependencies("dependency/a.py")


@pytest.mark.parametrize("name", ["", None, "1x", "a-b", "class"])
def test_bad_variable_names(name):
    with pytest.raises(UsageError, match="-o"):
        check_variable_name(name)


def test_params_from_namespace():
    ns = {"p": {"a": 1, "b": "x y"}, "notdict": [1]}
    assert params_from_namespace(ns, "p") == {"a": "1", "b": "x y"}
    with pytest.raises(UsageError, match="no variable named 'q'"):
        params_from_namespace(ns, "q")
    with pytest.raises(UsageError, match="must be a dict"):
        params_from_namespace(ns, "notdict")


def test_param_pairs_and_checks():
    assert parse_param_pairs(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    # IPython keeps the quotes that group words with a space
    assert parse_param_pairs(["'s=b c&d'", '"t=x y"']) == {"s": "b c&d", "t": "x y"}
    assert parse_swift_path("'path:/c/b c.ipynb'") == SwiftPath("c", "b c.ipynb")
    with pytest.raises(UsageError, match="key=value"):
        parse_param_pairs(["novalue"])
    with pytest.raises(UsageError, match="not allowed"):
        check_params({"a:b": "1"})
    with pytest.raises(UsageError, match="newlines"):
        check_params({"a": "1\n2"})


@pytest.mark.parametrize("text, expected", [
    ("0-9", "bytes=0-9"), ("bytes=5-", "bytes=5-"), ("-100", "bytes=-100"), (None, None)])
def test_range(text, expected):
    assert parse_range(text) == expected


@pytest.mark.parametrize("text", ["-", "a-b", "9-1", "1-2,4-5"])
def test_bad_range(text):
    with pytest.raises(UsageError, match="--range"):
        parse_range(text)


def test_magics_have_real_help(ip):
    doc = ip.find_cell_magic("storletapp").__doc__
    assert "--with-invoke" in doc and "module_class" in doc and "--local" in doc
    for name in ("get", "put", "copy"):
        doc = ip.find_line_magic(name).__doc__
        assert f"%{name} [--input INPUT]" in doc and "--storlet STORLET" in doc and "-o" in doc
