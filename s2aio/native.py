"""What sandboxes see at /usr/local/lib/storlets: libsbus.so and storlets' agent.

The storlets wheel has no ``libsbus.so``; it is built once from the storlets
sdist matching the installed version (``make`` in ``src/c/sbus``) and cached
under ``$XDG_CACHE_HOME/s2aio``. Sandboxes run Debian's ``/usr/bin/python3``
with only the standard library plus a copy of the ``storlets`` package, the
same as the engine's container image would hold.
"""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .errors import S2AIOError


CONFINE_NAME = "s2aio_confine.py"
AGENT_MODULE = "s2aio_agent"  # the engine's entry in the sandbox (``s2aio/agent.py``)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "s2aio"


def storlets_version() -> str:
    return importlib.metadata.version("storlets")


def build_libsbus(version: str, dest: Path) -> Path:
    """Download the storlets sdist and build libsbus.so into ``dest``."""
    with tempfile.TemporaryDirectory(prefix="s2aio-sbus-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:",
               "--no-deps", f"storlets=={version}", "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        sdists = list(Path(tmp).glob("storlets-*.tar.gz"))
        if done.returncode != 0 or not sdists:
            raise S2AIOError(
                f"could not download the storlets {version} sdist to build libsbus.so "
                f"(pip said: {done.stderr.strip()[-300:]}); check access to PyPI")
        with tarfile.open(sdists[0]) as tar:
            members = [m for m in tar.getmembers() if "/src/c/sbus/" in m.name]
            tar.extractall(tmp, members=members, filter="data")
        src = next(Path(tmp).glob("storlets-*/src/c/sbus"))
        done = subprocess.run(["make", "-C", str(src)], capture_output=True, text=True)
        if done.returncode != 0:
            raise S2AIOError(f"building libsbus.so failed (is gcc/make installed?): "
                             f"{done.stderr.strip()[-300:]}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_suffix(".tmp")
        shutil.copy2(src / "libsbus.so", partial)
        os.replace(partial, dest)  # atomic: parallel builds never see half a file
    return dest


def libsbus_path() -> Path:
    """The cached libsbus.so for the installed storlets, built if missing."""
    version = storlets_version()
    path = cache_dir() / f"storlets-{version}" / "libsbus.so"
    if not path.exists():
        build_libsbus(version, path)
    return path


def prepare_native(native: Path) -> None:
    """Fill the data dir's native dir (idempotent)."""
    import storlets

    native.mkdir(parents=True, exist_ok=True)
    lib = native / "libsbus.so"
    if not lib.exists():
        shutil.copy2(libsbus_path(), lib)
    # The sandbox's last step before the engine; refreshed on every start.
    shutil.copy2(Path(__file__).with_name("confine.py"), native / CONFINE_NAME)
    (native / "python").mkdir(exist_ok=True)
    shutil.copy2(Path(__file__).with_name("agent.py"), native / "python" / f"{AGENT_MODULE}.py")
    target = native / "python" / "storlets"
    if not target.exists():
        src = Path(storlets.__file__).parent
        shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "tests"))
