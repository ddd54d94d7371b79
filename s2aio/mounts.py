"""Small tmpfs mounts s2aio puts on a sandbox's host pipe dir (root only).

The pipe dir is where the daemons bind their sockets, so it is writable from
inside the sandbox; on the host's disk, a storlet could fill the disk's inodes
with socket files there (Landlock lets it make sockets). A tmpfs of its own
caps it: ``PIPE_DIR_INODES`` entries and ``PIPE_DIR_BYTES`` bytes per scope.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

PIPE_DIR_INODES = 512
PIPE_DIR_BYTES = 1 << 20


class MountError(OSError):
    """The tmpfs could not be mounted or unmounted."""


def tmpfs_options(uid: int, gid: int) -> str:
    return (f"size={PIPE_DIR_BYTES},nr_inodes={PIPE_DIR_INODES},mode=0700,uid={uid},"
            f"gid={gid},nosuid,nodev,noexec")


def mount_pipe_tmpfs(path: str, uid: int, gid: int) -> None:
    """Mount a capped tmpfs on ``path`` unless one is there already."""
    if os.path.ismount(path):
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", tmpfs_options(uid, gid), "s2aio-pipes",
                           path], capture_output=True, text=True)
    if done.returncode != 0:
        raise MountError(f"cannot mount a tmpfs on {path}: {done.stderr.strip()[-200:]}")


def mounts_under(root: str, mountinfo: str | None = None) -> list[str]:
    """Mount points at or below ``root`` (deepest first), from /proc/self/mountinfo."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return []
    top = os.path.realpath(root).rstrip("/") + "/"
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            point = fields[4].replace("\\040", " ")
            if (point + "/").startswith(top):
                points.append(point)
    return sorted(set(points), key=len, reverse=True)


def unmount_all(root: str) -> list[str]:
    """Lazily unmount every mount below ``root``; the ones that failed."""
    failed = []
    for point in mounts_under(root):
        if subprocess.run(["umount", "-l", point], capture_output=True).returncode != 0:
            failed.append(point)
    return failed
