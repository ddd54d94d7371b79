"""``--local`` in an install without the storlets engine."""
from __future__ import annotations

import sys

import pytest
from IPython.core.error import UsageError

from ipython_ext import local


def test_local_run_without_storlets_says_which_extra(tmp_path, monkeypatch):
    # A plain install has no storlets package: --local says what to install.
    monkeypatch.delitem(sys.modules, "storlets_apps.harness", raising=False)
    monkeypatch.setitem(sys.modules, "storlets.agent.daemon.files", None)
    with pytest.raises(UsageError, match=r"pip install 'swift-notebooks\[s2aio\]'"):
        local.run("", "m.C", b"", params={}, metadata={}, extra=[], dependencies_dir=tmp_path,
                  storlet="m.py", target="x")
