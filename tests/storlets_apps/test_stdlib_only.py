"""Each storlet imports only the standard library and its declared dependencies.

Two checks: an AST scan of the imports of every deployed module, and a real
run in Debian's ``/usr/bin/python3 -I -S`` (the sandbox interpreter, no
site-packages) from a directory laid out as the engine lays it out: the
storlet module with its dependencies beside it, built by the deploy code.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.dependencies import build_dependency
from deploy.discover import find_storlets

APPS = Path(__file__).resolve().parents[2] / "storlets_apps"
SANDBOX_PYTHON = "/usr/bin/python3"
STORLETS = [s for s in find_storlets(APPS) if s.name != "identity.py"]


def _imports(tree: ast.Module) -> set[str]:
    """Top-level names imported, ignoring the repository fallback in ``except ImportError``."""
    fallback = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                if isinstance(handler.type, ast.Name) and handler.type.id == "ImportError":
                    fallback.update(id(n) for n in ast.walk(handler))
    names = set()
    for node in ast.walk(tree):
        if id(node) in fallback:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("spec", STORLETS, ids=lambda s: s.name)
def test_ast_imports_are_stdlib_or_declared(spec):
    allowed = set(sys.stdlib_module_names)
    for name, dep in spec.dependencies.items():
        kind, target = dep.split(":", 1)
        allowed.add(target if kind == "package" else Path(name).stem)
    modules = [spec.path] + [APPS / d.split(":", 1)[1] for d in spec.dependencies.values()
                             if d.startswith("repo:")]
    for module in modules:
        extra = _imports(ast.parse(module.read_bytes())) - allowed
        assert not extra, f"{module.name} imports {sorted(extra)} (not stdlib, not declared)"


@pytest.mark.parametrize("spec", [s for s in STORLETS if "_nbschema.py" in s.dependencies],
                         ids=lambda s: s.name)
def test_schema_users_get_every_schema_it_loads(spec):
    # _nbschema.py declares its own needs; deploy adds them to each storlet using it.
    from storlets_apps._nbschema import SCHEMAS_FILE

    for name in [SCHEMAS_FILE, "fastjsonschema.zip", "_nbcommon.py"]:
        assert name in spec.dependencies, name


SCRIPT = r"""
import json, os, sys
sys.path.insert(0, os.getcwd())  # the daemon puts the storlet directory on sys.path
sys.modules.pop("storlets_apps", None)
before = set(sys.modules)
import {module}
assert "storlets_apps" not in sys.modules, "fell back to the repository package"
nb = {{"nbformat": 4, "nbformat_minor": 5, "metadata": {{}}, "cells": [
    {{"id": "a", "cell_type": "markdown", "metadata": {{}}, "source": "# T"}}]}}
other = json.loads(json.dumps(nb)); other["cells"][0]["source"] = "# U\nmore"
import _nbcommon
out = {{}}
if hasattr({module}, "validate_bytes"):
    b = _nbcommon.Budget()
    out["valid"] = {module}.validate_bytes(json.dumps(nb).encode(), 5, b)["valid"]
    out["invalid"] = {module}.validate_bytes(b'{{"nbformat": 4, "nbformat_minor": 5}}', 5, b)["valid"]
    future = json.loads(json.dumps(nb)); future["nbformat_minor"] = 9
    future["cells"].append({{"id": "f", "cell_type": "hologram", "metadata": {{}}, "x": 1}})
    out["future"] = {module}.validate_bytes(json.dumps(future).encode(), 5, b)["valid"]
if hasattr({module}, "diff_notebooks"):
    out["diff"] = {module}.diff_notebooks(nb, other, _nbcommon.Budget())[0]
if hasattr({module}, "summarize"):
    out["summary"] = {module}.summarize(nb, 1)
third_party = sorted(m.split(".")[0] for m in set(sys.modules) - before
                     if m.split(".")[0] not in sys.stdlib_module_names)
out["third_party"] = sorted(set(third_party))
print(json.dumps(out))
"""


@pytest.mark.parametrize("spec", STORLETS, ids=lambda s: s.name)
def test_runs_in_sandbox_python_with_only_its_dependencies(spec, tmp_path):
    (tmp_path / spec.name).write_bytes(spec.path.read_bytes())
    for name, dep in spec.dependencies.items():
        (tmp_path / name).write_bytes(build_dependency(name, dep, APPS).data)
    module = spec.name[:-3]
    proc = subprocess.run([SANDBOX_PYTHON, "-I", "-S", "-c", SCRIPT.format(module=module)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    declared = {Path(n).stem for n in spec.dependencies} | {"fastjsonschema", module}
    assert set(out["third_party"]) <= declared
    if "valid" in out:
        assert out["valid"] is True and out["invalid"] is False
        assert out["future"] is True  # nbformat's adjusted schema, uploaded beside it
    if "diff" in out:
        assert out["diff"][0]["key"] == "cells"
    if "summary" in out:
        assert out["summary"]["title"] == "T" and out["summary"]["valid"] is True
