"""The JupyterLab extension's pure TypeScript functions (listing rows from untrusted
JSON, sorting, verdicts, the warning's length, checkpoint order), compiled to
CommonJS and run by node's own test runner (``swiftcontents/lab/test``).

Needs the extension's npm install (``make install``); fails, never skips, without it.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # needs node and the npm packages of make install

LAB = Path(__file__).resolve().parents[2] / "swiftcontents" / "lab"
TIMEOUT_S = 300


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=LAB, capture_output=True, text=True, timeout=TIMEOUT_S)


def test_pure_functions_under_node():
    node = shutil.which("node")
    assert node, "node is not installed: `make install` installs Debian's nodejs"
    tsc = LAB / "node_modules" / ".bin" / "tsc"
    assert tsc.exists(), f"{tsc} is missing: run `make install` (npm ci of swiftcontents/lab)"
    built = run([str(tsc), "-p", "tsconfig.test.json"])
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    done = run([node, "--test", "test/"])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout, done.stdout[-2000:]
