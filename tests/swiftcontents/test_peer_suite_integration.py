"""jupyter_server's own contents tests (from its sdist, fetched at test time) on Swift.

Runs ``tests/swiftcontents/peer.py`` in a subprocess against the session's s2aio
(with the storlets deployed) and fails on any failure or error. Each skip has
its reason in ``swiftcontents_peer_plugin.SKIPS``; the counts are printed.
"""
from __future__ import annotations

import os

import pytest

from . import peer

pytestmark = pytest.mark.integration
MIN_PASSED = 150  # 161 at jupyter_server 2.21.1: fewer means tests went missing


def test_jupyter_server_contents_suite_passes_on_swift(s2aio, deployed, capsys):
    env = {**os.environ, **s2aio.env("test")}
    code, counts, output = peer.run(env=env, timeout=480)
    summary = [line for line in output.splitlines() if line.startswith(("SWIFTCONTENTS", "  skipped"))]
    with capsys.disabled():
        print("\n" + "\n".join(summary))
    assert counts, output[-5000:]
    assert counts["failed"] == 0 and counts["error"] == 0, output[-8000:]
    assert code == 0 and counts["passed"] >= MIN_PASSED, summary
