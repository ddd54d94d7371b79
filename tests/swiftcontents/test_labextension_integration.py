"""The JupyterLab extension (swiftcontents/lab) as ``make install`` leaves it.

Built from its TypeScript sources into ``swiftcontents/labextension`` and placed in
the venv, where JupyterLab itself must list it as enabled and loadable; and a wheel
of the project carries the same files to the same place. Nothing here skips: an
extension that was not built fails these tests with the command that builds it.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NAME = "swift-notebooks-jupyterlab"
SOURCE = REPO / "swiftcontents" / "lab"
BUILT = REPO / "swiftcontents" / "labextension"
INSTALLED = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / NAME
BUILD_HINT = "build it with `make labextension` (part of `make install` and `make run`)"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TIMEOUT_S = 600
COPY_IGNORED = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                "bench", "tests", "node_modules", "lib")


def package(path: Path) -> dict:
    assert path.is_file(), f"{path} is missing: {BUILD_HINT}"
    return json.loads(path.read_text())


def test_build_is_a_federated_extension_of_the_sources():
    source, built = package(SOURCE / "package.json"), package(BUILT / "package.json")
    assert built["name"] == source["name"] == NAME
    assert built["version"] == source["version"]
    build = built["jupyterlab"]["_build"]  # what JupyterLab's loader reads
    assert (BUILT / build["load"]).is_file()
    assert build["extension"] == "./extension" and build["style"] == "./style"


def test_installed_in_the_venv_as_built():
    built, installed = package(BUILT / "package.json"), package(INSTALLED / "package.json")
    assert installed == built, f"{INSTALLED} is not the current build: {BUILD_HINT}"
    assert (INSTALLED / installed["jupyterlab"]["_build"]["load"]).is_file()
    assert sorted(p.name for p in (INSTALLED / "static").iterdir()) == \
        sorted(p.name for p in (BUILT / "static").iterdir())
    install = package(INSTALLED / "install.json")
    assert install["packageManager"] == "python" and install["packageName"] == "swift-notebooks"


def test_jupyterlab_lists_it_enabled_and_ok():
    done = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"],
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    listing = ANSI.sub("", done.stdout + done.stderr)
    version = package(SOURCE / "package.json")["version"]
    line = next((l for l in listing.splitlines() if l.strip().startswith(f"{NAME} ")), None)
    assert line is not None, f"{NAME} not listed: {BUILD_HINT}\n{listing}"
    assert f"v{version}" in line and "enabled" in line and "OK" in line, line
    assert str(INSTALLED.parent) in listing


def test_wheel_carries_the_built_extension(tmp_path):
    """``pip wheel`` of a copy of the tree: the extension lands in the data files."""
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*COPY_IGNORED))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("swift_notebooks-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    prefix = next(n for n in names if ".data/data/" in n).split(".data/data/")[0]
    where = f"{prefix}.data/data/share/jupyter/labextensions/{NAME}"
    expected = {f"{where}/package.json", f"{where}/install.json"} | {
        f"{where}/static/{p.name}" for p in (BUILT / "static").iterdir()}
    assert expected <= names, sorted(expected - names)
