"""Processes s2aio starts: pid files that record pid + start time.

A pid file holds ``"<pid> <start time>"`` (field 22 of /proc/<pid>/stat), so
``stop`` never signals a process that merely reused one of our pids.
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Sequence

# A stopped server gets this long to exit after SIGTERM before SIGKILL (a Swift server
# exits in 0.2-0.6 s on this machine, even under load from the other servers' exits).
STOP_GRACE = 2.0
STOP_POLL = 0.02


def process_start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return ""
    # The command name may hold spaces; fields after the last ')' are fixed.
    return stat.rsplit(")", 1)[1].split()[19]


def pid_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_pid_file(path: Path) -> int | None:
    """The pid in ``path`` if that very process still runs, else None."""
    try:
        pid_text, _, start = path.read_text().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if pid_is_alive(pid) and process_start_time(pid) == start.strip():
        return pid
    return None


def spawn(argv: Sequence[str], pid_file: Path, log_file: Path,
          env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in its own session, output to ``log_file`` (owner-only: it
    quotes requests); record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)  # an older run's file too
    with os.fdopen(fd, "ab") as out:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, close_fds=True,
                                start_new_session=True, env=env)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{proc.pid} {process_start_time(proc.pid)}")
    _children[proc.pid] = proc
    return proc.pid


# Popen objects of our own children, so that they can be reaped (no zombies).
_children: dict[int, subprocess.Popen] = {}


def _reap(pid: int) -> None:
    """Collect our child ``pid`` once it has exited (never blocks). It stays known
    until then: forgotten while still shutting down, it stayed a zombie that kept its
    group "alive", and every stop of a Swift server waited out both 5 s timeouts."""
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]


def exited_early(pid: int) -> bool:
    proc = _children.get(pid)
    return proc is not None and proc.poll() is not None


def orphaned_group(path: Path) -> int | None:
    """The process group recorded in ``path`` when its leader died but members live on
    (the worker of a SIGKILLed Swift server keeps serving, and holds the port).

    Linux never reuses a pid while it names a live process group, so with no process
    of that pid and members in its group, those members are the dead leader's own.
    """
    try:
        pgid = int(path.read_text().partition(" ")[0])
    except (OSError, ValueError):
        return None
    if pgid > 1 and not pid_is_alive(pgid) and pgid in live_groups():
        return pgid
    return None


def live_groups() -> set[int]:
    """The process groups that hold at least one process that is not a zombie.

    ``killpg(pgid, 0)`` also succeeds for a group of zombies, and an exited
    server's zombies wait for pid 1 to reap them (here, up to 2 s each): polling
    with it made every stop wait that long. One /proc scan answers for all groups.
    """
    groups = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            groups.add(int(fields[2]))
    return groups


def stop_pid_files(pid_files: Sequence[Path], grace: float = STOP_GRACE) -> list[Path]:
    """End the process groups recorded in ``pid_files``, all at once (their leaders'
    orphans too, when a leader died alone): SIGTERM, then SIGKILL to the groups still
    alive after ``grace`` seconds. Returns the pid files whose processes were running;
    every pid file is removed."""
    groups = {}
    for pid_file in pid_files:
        pgid = read_pid_file(pid_file) or orphaned_group(pid_file)
        if pgid is not None:
            groups[pid_file] = pgid
    pending = set(groups.values())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pending = _signal_groups(pending, sig)
        pending = _wait_groups(pending, grace)
        if not pending:
            break
    for pid_file in pid_files:
        try:
            pid_file.unlink()
        except OSError:
            pass
    return list(groups)


def stop_pid_file(pid_file: Path, grace: float = STOP_GRACE) -> bool:
    """:func:`stop_pid_files` for one pid file; True if its process was running."""
    return bool(stop_pid_files([pid_file], grace))


def _signal_groups(pgids: set[int], sig: int) -> set[int]:
    """Send ``sig`` to each group; the groups that still exist."""
    sent = set()
    for pgid in pgids:
        try:
            os.killpg(pgid, sig)
        except OSError:
            continue
        sent.add(pgid)
    return sent


def _wait_groups(pgids: set[int], timeout: float) -> set[int]:
    """Wait up to ``timeout`` for ``pgids`` to end; the ones still alive."""
    deadline = time.monotonic() + timeout
    while pgids:
        for pgid in pgids:
            _reap(pgid)
        pgids = pgids & live_groups()
        if not pgids or time.monotonic() >= deadline:
            break
        time.sleep(STOP_POLL)
    return pgids


def processes_mentioning(marker: str) -> list[int]:
    """Pids whose command line contains ``marker`` (a path unique to one data dir)."""
    found = []
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def kill_group_or_process(pid: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def child_pids(pid: int | None) -> list[int]:
    if pid is None:
        return []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return []


def inner_pid(pid: int) -> int | None:
    """``pid``'s number in its own pid namespace (the last of ``NSpid``)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return None
