"""A test run leaves none of its s2aio data dirs in the temp dir, even when a test
fails or a data dir was left half made: a real pytest session with this suite's
fixtures and hooks, in a temp dir of its own."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests import datadirs
from tests.conftest import REPO

pytestmark = pytest.mark.integration
RUN_TIMEOUT_S = 600

INNER = '''
from tests import datadirs


def test_the_session_s2aio_runs_then_this_fails(s2aio):
    assert s2aio.status().processes["proxy"]
    assert False, "fails on purpose: the data dir must go all the same"


def test_a_half_made_data_dir_goes_too():
    path = datadirs.new_data_dir("s2aio-z")  # as a start that failed before its state file
    (path / "etc").mkdir()
    (path / "etc" / "proxy-server.conf").write_text("[DEFAULT]\\n")
'''


def test_no_data_dir_of_a_run_is_left_in_the_temp_dir(tmp_path):
    # Under /tmp itself, not pytest's 0700 basetemp: the sandbox user must traverse it.
    temp = Path(tempfile.mkdtemp(prefix="dd-"))
    temp.chmod(0o711)
    try:
        (tmp_path / "test_inner.py").write_text(INNER)
        env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(REPO)}
        env.pop(datadirs.KEEP_ENV, None)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
             "tests.conftest", "--basetemp", str(tmp_path / "inner-basetemp"),
             "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        assert "1 failed, 1 passed" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
        assert "fails on purpose" in run.stdout
        assert sorted(p.name for p in temp.iterdir() if p.name.startswith("s2aio-")) == []
        assert "data dirs kept" not in run.stdout
    finally:
        shutil.rmtree(temp, ignore_errors=True)
