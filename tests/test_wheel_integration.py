"""A plain ``pip install swift-notebooks`` from the wheel (no extras, not editable).

Built from a copy of the source tree (``pip wheel --no-deps``), installed with its
dependencies from the package index into a fresh venv of this interpreter. There:
every module of the client packages imports (the storlet harness uses storlets'
own file classes: the ``storlets`` package, which pulls no Swift server), ``%load_ext ipython_ext``
registers the magics, the swiftcontents server extension is enabled by the wheel's
``jupyter_server_config.d`` file, and no Swift server package is installed.
Nothing here skips: a build or install that cannot run fails the test.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parent.parent
CLIENT_PACKAGES = ("swiftcontents", "ipython_ext", "deploy", "swiftproto", "storlets_apps")
SERVER_DISTRIBUTIONS = ("swift", "pyeclib")
NOT_COPIED = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
              "bench", "tests", "node_modules")
PIP_TIMEOUT_S = 600

# Runs inside the fresh venv; prints one JSON report.
PROBE = r"""
import importlib, importlib.metadata, json, pkgutil, sys

report = {"failed": {}, "files": {}, "installed": [], "magics": [], "extension": None}
for top in sys.argv[2].split(","):
    package = importlib.import_module(top)
    report["files"][top] = package.__file__
    for info in pkgutil.walk_packages(package.__path__, top + "."):
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            report["failed"][info.name] = getattr(exc, "name", None) or repr(exc)
for name in sys.argv[1].split(","):
    try:
        importlib.metadata.distribution(name)
        report["installed"].append(name)
    except importlib.metadata.PackageNotFoundError:
        if importlib.util.find_spec(name) is not None:
            report["installed"].append(name)

from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "ipython_ext")
report["magics"] = sorted(shell.magics_manager.magics["cell"])

from jupyter_core.paths import jupyter_config_path
from jupyter_server.extension.config import ExtensionConfigManager
from jupyter_server.extension.manager import ExtensionPackage
enabled = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
report["extension"] = {"enabled": enabled.get("swiftcontents"),
                       "valid": ExtensionPackage(name="swiftcontents", enabled=True).validate()}

from swiftcontents import SwiftContentsManager
report["manager"] = type(SwiftContentsManager(container="c")).__name__
print(json.dumps(report))
"""


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, **kwargs)
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from a copy (pip would leave build/ in the tree)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_COPIED))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
         "-q", "-w", str(tmp / "dist"), str(source)])
    [built] = (tmp / "dist").glob("swift_notebooks-*.whl")
    return built


@pytest.fixture(scope="module")
def client_venv(wheel, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A fresh venv holding the wheel and its dependencies, nothing from this checkout."""
    home = tmp_path_factory.mktemp("client")
    venv = home / "venv"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "jupyter"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    run([sys.executable, "-m", "venv", str(venv)], env=env)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", str(wheel)], env=env, cwd=home)
    return venv, env


@pytest.fixture(scope="module")
def probe(client_venv) -> dict:
    venv, env = client_venv
    done = run([str(venv / "bin" / "python"), "-c", PROBE, ",".join(SERVER_DISTRIBUTIONS),
                ",".join(CLIENT_PACKAGES)], env=env, cwd=venv.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_wheel_install_pulls_no_swift_server(probe):
    assert probe["installed"] == []


def test_client_parts_import_from_the_wheel(probe, client_venv):
    venv, _ = client_venv
    assert probe["failed"] == {}
    # installed, not this checkout's sources
    assert all(Path(f).is_relative_to(venv) for f in probe["files"].values()), probe["files"]
    assert {"storletapp", "uploadfile"} <= set(probe["magics"])
    assert probe["manager"] == "SwiftContentsManager"


def test_server_extension_enabled_by_the_wheel(probe, client_venv):
    venv, _ = client_venv
    assert probe["extension"] == {"enabled": True, "valid": True}
    assert (venv / "etc" / "jupyter" / "jupyter_server_config.d" / "swiftcontents.json").is_file()
    # the HTML pages' stylesheet, which the extension serves from the package
    assert (Path(probe["files"]["swiftcontents"]).parent / "static" / "pages.css").is_file()


def test_main_job_entry_point_installed_and_asks_for_the_server_extra(client_venv):
    venv, env = client_venv
    done = subprocess.run([str(venv / "bin" / "swift-notebooks"), "--no-lab"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "pip install 'swift-notebooks[s2aio]'" in done.stderr
