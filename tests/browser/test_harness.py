"""The browser tests' harness itself (no servers, no browser): secrets stay out of argv,
the environment and file modes; names and time patterns mean what the tests assume."""
from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.browser import chromium, lab
from tests.browser.conftest import artifact_name
from tests.browser.test_lab_integration import RECENT, shown_time

TOKEN = "0123456789abcdef" * 3


def test_the_token_is_in_no_argv_nor_environment(tmp_path):
    token_file = lab.write_home(tmp_path, "c", TOKEN)
    base = {"PATH": "/usr/bin", "JUPYTER_TOKEN": "old", "JUPYTER_CONFIG_DIR": "/home/me/.jupyter",
            "OS_AUTH_TOKEN": "tk", "ST_KEY": "their key", "IPYTHONDIR": "/home/me/.ipython"}
    env = lab.lab_env(base, {"ST_AUTH": "http://127.0.0.1:1/auth/v1.0", "ST_KEY": "k"},
                      tmp_path, token_file, Path("/repo"))
    assert TOKEN not in " ".join(lab.lab_argv(8888)) + json.dumps(env)
    assert "JUPYTER_TOKEN" not in env and "OS_AUTH_TOKEN" not in env
    assert env["ST_KEY"] == "k" and env["JUPYTER_TOKEN_FILE"] == str(token_file)
    assert env["JUPYTER_CONFIG_DIR"] == str(tmp_path / "config")  # not the user's own
    assert env["IPYTHONDIR"] == str(tmp_path / "ipython")
    assert token_file.read_text() == TOKEN  # jupyter_server reads the whole file
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_the_lab_home_is_private_and_quiet(tmp_path):
    lab.write_home(tmp_path, "lab-c", TOKEN)
    config = json.loads((tmp_path / "config" / "jupyter_server_config.json").read_text())
    assert config["SwiftContentsManager"]["container"] == "lab-c"
    assert config["ServerApp"]["jpserver_extensions"]["swiftcontents"] is True
    assert config["LabApp"]["news_url"] is None
    settings = tmp_path / "settings" / lab.NOTIFICATION_SETTINGS
    assert json.loads(settings.read_text())["checkForUpdates"] is False
    for path in tmp_path.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_the_lab_is_repr_without_its_token():
    assert TOKEN not in repr(lab.Lab("http://127.0.0.1:1", TOKEN, "c", Path("/h"), Path("/l"),
                                     None, None, None))


def test_artifact_names_are_plain_file_names():
    assert artifact_name("tests/browser/t.py::test_x[a/b é]", "FAILED") == "test_x-a-b-FAILED.png"


def test_modified_column_patterns():
    assert all(RECENT.match(t) for t in ("now", "5s ago", "59s ago", "2m ago"))
    assert not any(RECENT.match(t) for t in ("next yr.", "56y ago", "in 2 min.", "1h ago",
                                             "yesterday"))
    assert shown_time("11/30/26, 7:37\u202fPM").isoformat() == "2026-11-30T19:37:00+00:00"


def test_chromium_lookups_stay_on_this_machine():
    rules = [a for a in chromium.EXTRA_ARGS if a.startswith("--host-resolver-rules=")]
    assert rules == ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , "
                     "EXCLUDE localhost"]
    assert not any(a.startswith("--disable-features") for a in chromium.EXTRA_ARGS)
