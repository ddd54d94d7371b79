"""Fetch jupyter_server's contents tests from its sdist and run them on Swift.

The sdist matching the installed jupyter_server is downloaded at test time into
a cache directory (never into this repository), extracted, and its
``tests/services/contents`` tests run with ``swiftcontents_peer_plugin``.

    eval "$(s2aio env)"; python tests/swiftcontents/peer.py [pytest args...]
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = Path(os.environ.get("SWIFTCONTENTS_PEER_CACHE", Path.home() / ".cache" / "swiftcontents-peer"))
TEST_FILES = ["test_manager.py", "test_api.py", "test_largefilemanager.py", "test_checkpoints.py"]
INI = """[pytest]
addopts = -p no:cacheprovider -p swiftcontents_peer_plugin -q -rs
filterwarnings =
    ignore::DeprecationWarning
    ignore::ResourceWarning
"""
SUMMARY = re.compile(r"SWIFTCONTENTS PEER SUITE: (.*)")


def installed_version() -> str:
    from importlib.metadata import version

    return version("jupyter_server")


def fetch_sdist(cache: Path = CACHE) -> Path:
    """The extracted sdist of the installed jupyter_server (downloaded once)."""
    ver = installed_version()
    root = cache / f"jupyter_server-{ver}"
    if (root / "tests" / "services" / "contents" / "test_manager.py").exists():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                    "-q", "-d", str(cache), f"jupyter_server=={ver}"], check=True)
    archive = next(cache.glob(f"jupyter_server-{ver}.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return root


def run(extra_args: list[str] | None = None, env: dict[str, str] | None = None,
        timeout: float = 600) -> tuple[int, dict[str, int], str]:
    """(exit code, counts, output) of the peer suite."""
    root = fetch_sdist()
    ini = root / "swiftcontents-peer.ini"
    ini.write_text(INI)
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), str(REPO), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    full_env["JUPYTER_PLATFORM_DIRS"] = "1"
    files = [f"tests/services/contents/{f}" for f in TEST_FILES]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ini), "--rootdir", str(root), *files,
         *(extra_args or [])],
        cwd=root, env=full_env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    match = SUMMARY.search(out)
    counts = {}
    if match:
        counts = {k: int(v) for k, v in (kv.split("=") for kv in match.group(1).split())}
    return proc.returncode, counts, out


if __name__ == "__main__":
    code, counts, output = run(sys.argv[1:])
    print(output)
    sys.exit(code)
