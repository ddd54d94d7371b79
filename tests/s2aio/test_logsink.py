"""The syslog sink against hostile senders: forged lines, control bytes, floods."""
from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s2aio.logsink import MAX_MESSAGE, TRUNCATED, RotatingLog, escape, format_line

REPO = Path(__file__).resolve().parents[2]
STAMP = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d) ")
FORGED = b"<14>storlet: hi\n2026-11-30T12:00:00 object-server: FORGED"


def body(line: bytes) -> bytes:
    assert STAMP.match(line) and line.endswith(b"\n")
    return line[STAMP.match(line).end():-1]


def test_normal_line_keeps_its_shape():
    line = format_line(b"<134>proxy-server: hello\n\x00")
    assert body(line) == b"proxy-server: hello"
    assert line.count(b"\n") == 1


def test_newline_injection_stays_one_line():
    line = format_line(FORGED)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert body(line) == b"storlet: hi#0122026-11-30T12:00:00 object-server: FORGED"


def test_every_control_byte_is_escaped_in_octal():
    ctrl = bytes(range(0x20)) + b"\x7f"
    line = format_line(b"<13>a" + ctrl + b"z\xc3\xa9#")
    assert body(line) == b"a" + b"".join(b"#%03o" % c for c in ctrl) + b"z\xc3\xa9#"
    assert b"#011" in body(line) and b"#015" in body(line)
    assert not any(c < 0x20 or c == 0x7f for c in line[:-1])


def test_long_message_is_truncated_and_marked():
    line = format_line(b"<13>" + b"x" * 10_000)
    assert body(line) == b"x" * MAX_MESSAGE + TRUNCATED
    assert format_line(b"x" * MAX_MESSAGE).endswith(b" " + b"x" * MAX_MESSAGE + b"\n")


def test_truncation_counts_escapes_and_never_splits_one():
    assert escape(b"a" * (MAX_MESSAGE - 2) + b"\n\nb") == b"a" * (MAX_MESSAGE - 2) + TRUNCATED
    assert escape(b"\n" * MAX_MESSAGE) == b"#012" * (MAX_MESSAGE // 4) + TRUNCATED
    assert escape(b"ab\tc", limit=6) == b"ab#011" + TRUNCATED


def test_rotation_replaces_older_file_and_keeps_owner_only(tmp_path):
    path = tmp_path / "x.log"
    path.write_bytes(b"old\n")
    path.chmod(0o644)
    (tmp_path / "x.log.1").write_bytes(b"oldest\n")
    log = RotatingLog(str(path), max_bytes=10)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    log.write(b"12345\n")  # 4 + 6 fits
    log.write(b"abc\n")    # 10 + 4 does not: rotate first
    assert (tmp_path / "x.log.1").read_bytes() == b"old\n12345\n"
    assert path.read_bytes() == b"abc\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    log.write(b"0123456789abcdef\n")  # longer than the limit itself: cut
    assert path.read_bytes() == b"012345678\n"
    assert (tmp_path / "x.log.1").read_bytes() == b"abc\n"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def lines_of(*paths: Path) -> list[bytes]:
    return [line for p in paths if p.exists() for line in p.read_bytes().splitlines(True)]


def test_sink_subprocess_against_flood_and_forgery(tmp_path):
    limit = 64 * 1024
    port, sock_path, logs = free_udp_port(), tmp_path / "log.sock", tmp_path / "logs"
    sandbox, swift = logs / "sandbox.log", logs / "swift.log"
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "s2aio.logsink", str(port),
                             str(sock_path), str(logs), str(limit)], cwd=REPO)
    try:
        wait_for(lambda: sock_path.exists() or proc.poll() is not None)
        assert proc.poll() is None
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with unix, udp:
            for i in range(2000):
                unix.sendto(b"<14>storlet: %04d " % i + b"y" * 1010, str(sock_path))
            unix.sendto(FORGED, str(sock_path))
            unix.sendto(b"<14>storlet: END", str(sock_path))
            for i in range(3):
                udp.sendto(b"<134>object-server: udp %d\nobject-server: FAKE" % i,
                           ("127.0.0.1", port))
            # Loopback UDP may drop under load: resend the marker until it lands.
            def swift_done() -> bool:
                udp.sendto(b"<134>proxy-server: END", ("127.0.0.1", port))
                return any(b"proxy-server: END" in ln for ln in lines_of(swift))
            wait_for(lambda: any(b"storlet: END" in ln for ln in lines_of(sandbox)))
            wait_for(swift_done)
        finished = time.time()

        rotated = logs / "sandbox.log.1"
        assert rotated.exists(), "2 MB into a 64 KiB limit must have rotated"
        for path in (sandbox, rotated, swift):
            assert path.stat().st_size <= limit, path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert not (logs / "sandbox.log.2").exists()

        all_lines = lines_of(rotated, sandbox, swift)
        for line in all_lines:
            m = STAMP.match(line)
            assert m, line[:80]
            stamp = time.mktime(time.strptime(m.group(1).decode(), "%Y-%m-%dT%H:%M:%S"))
            assert started - 1 <= stamp <= finished + 1, line[:80]
            assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert not any(ln.startswith(b"2026-11-30T12:00:00 object-server") for ln in all_lines)
        assert any(b"storlet: hi#0122026-11-30T12:00:00 object-server: FORGED" in ln
                   for ln in all_lines)
        assert not any(ln.startswith(b"object-server: FAKE") for ln in all_lines)
        assert any(b"object-server: udp" in ln and b"#012object-server: FAKE" in ln
                   for ln in lines_of(swift))
        # The newest flood lines are all there, in order, just before the forged one.
        tail = [body(ln) for ln in lines_of(rotated, sandbox)][-12:]
        assert tail[-2:] == [b"storlet: hi#0122026-11-30T12:00:00 object-server: FORGED",
                             b"storlet: END"]
        assert tail[:-2] == [b"storlet: %04d " % i + b"y" * 1010 for i in range(1990, 2000)]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
