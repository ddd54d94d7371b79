from __future__ import annotations

from pathlib import Path

import pytest

from deploy.discover import find_storlets, parse_dependency_spec, parse_storlet, storlet_classes
from deploy.errors import DeployError

from .storlet_src import APPS, write_storlet


def test_finds_identity_in_storlets_apps():
    specs = {s.name: s for s in find_storlets(APPS)}
    assert specs["identity.py"].main_class == "identity.IdentityStorlet"
    assert "__init__.py" not in specs


def test_only_storlets_and_their_dependencies_are_uploaded_from_storlets_apps():
    # The harness (and anything else for local runs) lives outside the uploaded folder.
    uploaded = {"__init__.py"}
    for spec in find_storlets(APPS):
        uploaded.add(spec.name)
        uploaded.update(d.split(":", 1)[1] for d in spec.dependencies.values()
                        if d.startswith("repo:"))
    assert {p.name for p in APPS.glob("*.py")} == uploaded
    assert not (APPS / "harness.py").exists()


def test_private_and_plain_modules_are_not_storlets(source_dir: Path):
    write_storlet(source_dir, "_helper")
    (source_dir / "util.py").write_text("def f(x):\n    return x\n")
    (source_dir / "other.py").write_text(
        "class C:\n    def __call__(self, a, b):\n        pass\n")
    write_storlet(source_dir, "real", cls="Real")
    assert [(s.name, s.main_class) for s in find_storlets(source_dir)] == [("real.py", "real.Real")]


def test_dependencies_read_without_importing(source_dir: Path):
    deps = {"fastjsonschema.zip": "package:fastjsonschema", "_c.py": "repo:_c.py"}
    path = write_storlet(source_dir, "withdeps", deps=deps, body="raise SystemExit('imported!')")
    (source_dir / "withdeps.py").write_text("import not_installed_anywhere\n" + path.read_text())
    assert parse_storlet(path).dependencies == deps


def test_annotated_dependencies(source_dir: Path):
    path = write_storlet(source_dir, "ann")
    path.write_text("STORLET_DEPENDENCIES: dict = {'a.json': 'repo:a.json'}\n" + path.read_text())
    assert parse_storlet(path).dependencies == {"a.json": "repo:a.json"}


@pytest.mark.parametrize("literal, message", [
    ("STORLET_DEPENDENCIES = dict(a='repo:a')", "literal dict"),
    ("STORLET_DEPENDENCIES = ['repo:a']", "dict of str"),
    ("STORLET_DEPENDENCIES = {'a.zip': 'pip:a'}", "bad dependency spec"),
    ("STORLET_DEPENDENCIES = {'a.zip': 'package:not-a-name'}", "not a package name"),
    ("STORLET_DEPENDENCIES = {'a.json': 'file:../../etc/passwd'}", "relative"),
    ("STORLET_DEPENDENCIES = {'a.json': 'repo:/etc/passwd'}", "relative"),
    ("STORLET_DEPENDENCIES = {'a.json': 'file:nbformat'}", "file:PACKAGE/"),
    ("STORLET_DEPENDENCIES = {'sub/a.json': 'repo:a.json'}", "slash"),
    ("STORLET_DEPENDENCIES = {'/etc/passwd': 'repo:a.json'}", "slash"),
    ("STORLET_DEPENDENCIES = {'..': 'repo:a.json'}", "'..'"),
    ("STORLET_DEPENDENCIES = {'.bashrc': 'repo:a.json'}", "starts with '.'"),
    ("STORLET_DEPENDENCIES = {'a\\x00b': 'repo:a.json'}", "NUL"),
    ("STORLET_DEPENDENCIES = {'%s': 'repo:a.json'}" % ("x" * 256), "bytes long"),
    ("STORLET_DEPENDENCIES = {'bad.py': 'repo:a.py'}", "bad dependency name"),
    ("STORLET_DEPENDENCIES = {'a.json': 'derived:../x'}", "not a derivation name"),
])
def test_bad_dependency_declarations(source_dir: Path, literal: str, message: str):
    path = write_storlet(source_dir, "bad")
    path.write_text(literal + "\n" + path.read_text())
    with pytest.raises(DeployError, match=message):
        parse_storlet(path)


def test_two_storlet_classes_is_an_error(source_dir: Path):
    call = "    def __call__(self, in_files, out_files, params):\n        pass\n"
    (source_dir / "two.py").write_text(f"class A:\n{call}\n\nclass B:\n{call}")
    with pytest.raises(DeployError, match="several storlet classes"):
        parse_storlet(source_dir / "two.py")


def test_module_name_must_be_importable(source_dir: Path):
    path = write_storlet(source_dir, "my-storlet")
    with pytest.raises(DeployError, match="identifier"):
        parse_storlet(path)


def test_syntax_error_names_file_and_line(source_dir: Path):
    (source_dir / "broken.py").write_text("class X:\n    def __call__(self, in_files, out_files, params)\n")
    with pytest.raises(DeployError, match=r"broken.py: syntax error at line 2"):
        find_storlets(source_dir)


def test_missing_source_dir(tmp_path: Path):
    with pytest.raises(DeployError, match="does not exist"):
        find_storlets(tmp_path / "nope")


def test_parse_dependency_spec():
    assert parse_dependency_spec("file:nbformat/v4/x.json") == ("file", "nbformat/v4/x.json")
    assert storlet_classes(b"class S:\n    def __call__(self, in_files, out_files, params): pass\n") == ["S"]


def test_repo_dependencies_bring_their_own_dependencies(tmp_path):
    (tmp_path / "_helper.py").write_text(
        "STORLET_DEPENDENCIES = {'_base.py': 'repo:_base.py', 'x.zip': 'package:json'}\n")
    (tmp_path / "_base.py").write_text("STORLET_DEPENDENCIES = {'s.json': 'file:nbformat/v4/nbformat.v4.schema.json'}\n")
    (tmp_path / "st.py").write_text(
        "STORLET_DEPENDENCIES = {'_helper.py': 'repo:_helper.py'}\n"
        "class S(object):\n    def __call__(self, in_files, out_files, params):\n        pass\n")
    spec = parse_storlet(tmp_path / "st.py")
    assert spec.dependencies == {"_helper.py": "repo:_helper.py", "_base.py": "repo:_base.py",
                                 "x.zip": "package:json",
                                 "s.json": "file:nbformat/v4/nbformat.v4.schema.json"}
    (tmp_path / "_base.py").write_text("STORLET_DEPENDENCIES = {'x.zip': 'package:os'}\n")
    with pytest.raises(DeployError, match="declared as both"):
        parse_storlet(tmp_path / "st.py")
