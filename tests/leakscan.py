"""After the test session: no token, key or password in what s2aio and the tests wrote.

Scanned: every file of the s2aio data dir except its configs (``etc/``, which
must hold keys, and ``s2aio.json``, the admin key: both must be owner-only),
the stored objects (``devices/``, user data) and the native code copy
(``native/``); the objects of each account's storlet ``log`` container; the
files of the tests' Jupyter servers (``jupyter*`` dirs of the session's
basetemp). Also: no file Swift wrote under ``devices/`` or ``logs/`` is
readable by group or others.

A finding names the file and the kind of secret, never the secret itself.
"""
from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Iterable, Iterator, Mapping

TEMPAUTH_TOKEN = rb"AUTH_tk[0-9a-f]{32}"
SKIPPED_DIRS = ("etc", "devices", "native")
PRIVATE_DIRS = ("devices", "logs")
LOG_ACCOUNTS = ("test", "test2", "admin")
LOG_CONTAINER = "log"


def secret_patterns(admin_key: str, user_keys: Mapping[str, str]) -> dict[str, re.Pattern]:
    """Kind of secret -> pattern. The test keys are common words: whole words only."""
    patterns = {"a tempauth token": re.compile(TEMPAUTH_TOKEN),
                "the reseller admin key": re.compile(re.escape(admin_key.encode()))}
    for user, key in user_keys.items():
        patterns[f"the key of {user}"] = re.compile(
            rb"(?<![\w.-])%s(?![\w.-])" % re.escape(key.encode()))
    return patterns


def findings_in(name: str, data: bytes, patterns: Mapping[str, re.Pattern]) -> list[str]:
    return [f"{name}: {kind} ({len(p.findall(data))}x)"
            for kind, p in patterns.items() if p.search(data)]


def scanned_files(data_dir: Path, extra_dirs: Iterable[Path]) -> Iterator[Path]:
    for path in sorted(data_dir.rglob("*")):
        rel = path.relative_to(data_dir).parts
        if rel[0] in SKIPPED_DIRS or rel == ("s2aio.json",):
            continue
        if path.is_file() and not path.is_symlink():
            yield path
    for top in extra_dirs:
        yield from (p for p in sorted(top.rglob("*")) if p.is_file() and not p.is_symlink())


def _group_or_other_access(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode) & 0o077


def mode_findings(data_dir: Path, patterns: Mapping[str, re.Pattern]) -> list[str]:
    """Configs holding a secret are 0600; Swift's objects, databases and logs are private."""
    found = []
    state = data_dir / "s2aio.json"
    if state.exists() and _group_or_other_access(state):
        found.append(f"{state}: mode {stat.S_IMODE(state.stat().st_mode):04o}, not 0600")
    for path in sorted((data_dir / "etc").rglob("*")):
        if path.is_file() and findings_in("", path.read_bytes(), patterns) and \
                _group_or_other_access(path):
            found.append(f"{path}: holds a key, mode {stat.S_IMODE(path.stat().st_mode):04o}")
    for top in PRIVATE_DIRS:
        for path in sorted((data_dir / top).rglob("*")):
            if path.is_file() and not path.is_symlink() and _group_or_other_access(path):
                found.append(f"{path}: group or others may access it "
                             f"(mode {stat.S_IMODE(path.stat().st_mode):04o})")
    return found


def stored_logs(aio) -> dict[str, bytes]:
    """The storlets' logs Swift keeps: ``log`` container objects of each account."""
    logs = {}
    for user in LOG_ACCOUNTS:
        conn = aio.connection(user)
        try:
            _, objects = conn.get_container(LOG_CONTAINER, full_listing=True)
            for obj in objects:
                logs[f"swift:AUTH_{user}/{LOG_CONTAINER}/{obj['name']}"] = \
                    conn.get_object(LOG_CONTAINER, obj["name"])[1]
        finally:
            conn.close()
    return logs


def scan(data_dir: Path, patterns: Mapping[str, re.Pattern], extra_dirs: Iterable[Path] = (),
         blobs: Mapping[str, bytes] | None = None) -> list[str]:
    """Every finding: secrets in files and blobs, then wrong modes."""
    found = []
    for path in scanned_files(data_dir, extra_dirs):
        found += findings_in(str(path), path.read_bytes(), patterns)
    for name, data in (blobs or {}).items():
        found += findings_in(name, data, patterns)
    return found + mode_findings(data_dir, patterns)
