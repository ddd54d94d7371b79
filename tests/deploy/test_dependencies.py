from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from importlib.util import find_spec
from pathlib import Path

import pytest

from deploy.dependencies import build_dependency, zip_package
from deploy.errors import DeployError


def test_package_zip_is_importable_from_its_root(tmp_path: Path):
    data = build_dependency("fastjsonschema.zip", "package:fastjsonschema", tmp_path).data
    (tmp_path / "f.zip").write_bytes(data)
    # A fresh interpreter with only the zip: the way a storlet uses it.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import fastjsonschema; "
            "print(fastjsonschema.__file__); "
            "print(fastjsonschema.compile({'type': 'integer'})(3))")
    out = subprocess.run([sys.executable, "-S", "-I", "-c", code, str(tmp_path / "f.zip")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(tmp_path / "f.zip" / "fastjsonschema" / "__init__.py"), "3"]


def test_package_zip_is_deterministic_and_clean():
    first, second = zip_package("fastjsonschema"), zip_package("fastjsonschema")
    assert hashlib.md5(first).hexdigest() == hashlib.md5(second).hexdigest()
    infos = zipfile.ZipFile(io.BytesIO(first)).infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_single_module_package(tmp_path: Path, monkeypatch):
    (tmp_path / "lonely_mod_for_test.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = zipfile.ZipFile(io.BytesIO(zip_package("lonely_mod_for_test"))).namelist()
    assert names == ["lonely_mod_for_test.py"]


def test_compiled_package_is_refused(tmp_path: Path, monkeypatch):
    pkg = tmp_path / "fakecompiled"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DeployError, match="compiled extensions .*_speedups.*pure-Python"):
        zip_package("fakecompiled")


def test_missing_package():
    with pytest.raises(DeployError, match="not installed"):
        zip_package("surely_not_installed_pkg_xyz")


def test_file_in_package():
    dep = build_dependency("s.json", "file:nbformat/v4/nbformat.v4.5.schema.json", Path("."))
    expected = Path(find_spec("nbformat").origin).parent / "v4" / "nbformat.v4.5.schema.json"
    assert dep.data == expected.read_bytes()
    with pytest.raises(DeployError, match="no file"):
        build_dependency("s.json", "file:nbformat/v4/missing.json", Path("."))


def test_repo_file_and_permissions(source_dir: Path):
    (source_dir / "_common.py").write_text("A = 1\n")
    tool = source_dir / "tool.sh"
    tool.write_text("#!/bin/sh\n")
    os.chmod(tool, 0o755)
    assert build_dependency("_common.py", "repo:_common.py", source_dir).permissions is None
    assert build_dependency("tool.sh", "repo:tool.sh", source_dir).permissions == "0755"


def test_repo_symlink_escape_is_refused(source_dir: Path, tmp_path: Path):
    (tmp_path / "secret.txt").write_text("s")
    (source_dir / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(DeployError, match="outside"):
        build_dependency("link.txt", "repo:link.txt", source_dir)


def test_derived_dependency_is_computed_by_its_library(tmp_path: Path):
    import json

    import nbformat
    from nbformat import v4, validator

    dep = build_dependency("s.json", "derived:nbformat-schemas", tmp_path)
    bundle = json.loads(dep.data)
    assert bundle["nbformat"] == nbformat.__version__
    assert bundle["latest_v4_minor"] == v4.nbformat_minor
    future = validator.get_validator(4, v4.nbformat_minor + 1)._schema
    assert bundle["schemas"]["4.future"] == {"name": "nbformat.v4.schema.json", "schema": future}
    again = build_dependency("s.json", "derived:nbformat-schemas", tmp_path)
    assert again.data == dep.data  # deterministic: unchanged ETag between deploys


def test_unknown_derivation(tmp_path: Path):
    with pytest.raises(DeployError, match="unknown derivation; known: nbformat-schemas"):
        build_dependency("s.json", "derived:nope", tmp_path)
