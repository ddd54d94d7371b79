"""The session-end secret scan (tests/leakscan.py) on a fake data dir: what it flags."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests import leakscan

ADMIN_KEY = "Zq3-admin-key-Xy"
TOKEN = "AUTH_tk" + "0123456789abcdef" * 2


@pytest.fixture
def patterns():
    return leakscan.secret_patterns(ADMIN_KEY, {"test:tester": "testing",
                                                "test2:tester2": "testing2"})


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A clean data dir: configs hold keys (0600), logs and objects hold none."""
    root = tmp_path / "data"
    _write(root / "s2aio.json", f'{{"admin_key": "{ADMIN_KEY}"}}')
    _write(root / "etc" / "proxy-server.conf", f"user_admin_admin = {ADMIN_KEY} .reseller_admin\n"
                                               "user_test_tester = testing .admin\n")
    _write(root / "etc" / "object.ring.gz", "ring", 0o644)  # no secret: any mode
    _write(root / "logs" / "swift.log", "GET /v1/AUTH_test/c/o 200 attesting testing123\n")
    _write(root / "devices" / "d1" / "objects" / "1.data", "user data may say testing")
    _write(root / "run" / "proxy.pid", "123 456", 0o644)
    return root


def test_clean_data_dir_has_no_findings(data_dir, patterns):
    assert leakscan.scan(data_dir, patterns) == []


@pytest.mark.parametrize("where, text, kind", [
    ("logs/swift.log", f"X-Auth-Token: {TOKEN}", "a tempauth token"),
    ("logs/proxy.out", f"key={ADMIN_KEY}", "the reseller admin key"),
    ("run/x.pid", "ST_KEY=testing2\n", "the key of test2:tester2"),
    ("sbox/object/logs/upper.log", "X-Auth-Key: testing", "the key of test:tester"),
])
def test_a_secret_in_a_log_or_state_file_is_found(data_dir, patterns, where, text, kind):
    _write(data_dir / where, text)
    found = leakscan.scan(data_dir, patterns)
    assert found == [f"{data_dir / where}: {kind} (1x)"]
    assert ADMIN_KEY not in "".join(found) and TOKEN not in "".join(found)


def test_jupyter_dirs_and_stored_logs_are_scanned(data_dir, patterns, tmp_path):
    jupyter = tmp_path / "jupyter0"
    _write(jupyter / "server.log", f"token {TOKEN}")
    found = leakscan.scan(data_dir, patterns, [jupyter], {"swift:AUTH_test/log/a.log": b"testing"})
    assert found == [f"{jupyter / 'server.log'}: a tempauth token (1x)",
                     "swift:AUTH_test/log/a.log: the key of test:tester (1x)"]


def test_readable_configs_objects_and_logs_are_found(data_dir, patterns):
    (data_dir / "s2aio.json").chmod(0o644)
    (data_dir / "etc" / "proxy-server.conf").chmod(0o640)
    (data_dir / "devices" / "d1" / "objects" / "1.data").chmod(0o755)
    (data_dir / "logs" / "swift.log").chmod(0o644)
    found = "\n".join(leakscan.scan(data_dir, patterns))
    assert "s2aio.json: mode 0644, not 0600" in found
    assert "proxy-server.conf: holds a key, mode 0640" in found
    assert "1.data: group or others may access it (mode 0755)" in found
    assert "swift.log: group or others may access it (mode 0644)" in found
    assert "object.ring.gz" not in found and "proxy.pid" not in found
