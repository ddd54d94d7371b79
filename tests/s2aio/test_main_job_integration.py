"""The README's main job, minus the JupyterLab launch, against the session's s2aio."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_main_job_deploys_seeds_and_lists_inside_swift(s2aio, deployed, conn):
    result = subprocess.run(
        [sys.executable, "-m", "s2aio.main_job", "--data-dir", str(s2aio.data_dir), "--no-lab"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    assert "0 uploaded" in result.stdout  # the session already deployed everything
    assert "notebooks/report.ipynb" in result.stdout and "Sales report" in result.stdout
    headers = conn.head_object("notebooks", "notebooks/report.ipynb")
    assert headers["x-object-meta-nb-valid"] == "yes"  # stamped by the storlet on upload
    assert "testing" not in result.stdout + result.stderr
