"""One memory + pids cgroup per storlets sandbox, where the host lets us make one.

rlimits bound each process; a cgroup bounds the sandbox as a whole: all its
processes together get ``memory_mb`` of memory and ``processes`` pids. The
gateway makes the group below its own cgroup (cgroup v1: one hierarchy per
controller; v2: the unified one, when its subtree may hold these
controllers), and the sandbox's first process joins it before it execs
bubblewrap, so everything the sandbox forks is inside. Where no group can be
made (no permission, no controller), the sandbox still has its rlimits and
the gateway logs why.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

CONTROLLERS = ("memory", "pids")
MIB = 1 << 20
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$")


class CgroupError(OSError):
    """No per-sandbox cgroup could be made here."""


@dataclasses.dataclass(frozen=True)
class SandboxCgroup:
    """The dirs of one sandbox's group (one per hierarchy) and what to write."""

    dirs: tuple[Path, ...]
    limits: tuple[tuple[Path, str], ...]

    def create(self) -> None:
        for path in self.dirs:
            remove_dir(path)  # a dead sandbox's empty group
            path.mkdir(exist_ok=True)
        for path, value in self.limits:
            path.write_text(value)

    def join(self) -> None:
        """Move the calling process in (called in the child before exec)."""
        pid = str(os.getpid())
        for path in self.dirs:
            with open(path / "cgroup.procs", "w") as f:
                f.write(pid)

    def remove(self) -> None:
        for path in self.dirs:
            remove_dir(path)


def group_prefix(data_root: str) -> str:
    """The name prefix of every group of one s2aio data dir."""
    digest = hashlib.sha1(os.path.realpath(data_root).encode(), usedforsecurity=False)
    return f"s2aio-{digest.hexdigest()[:10]}-"


def remove_groups(prefix: str, *, proc_cgroup: str | None = None,
                  mountinfo: str | None = None) -> None:
    """Remove the (empty) groups whose names start with ``prefix``."""
    try:
        proc_cgroup = proc_cgroup or Path("/proc/self/cgroup").read_text()
        mountinfo = mountinfo or Path("/proc/self/mountinfo").read_text()
    except OSError:
        return
    own, mounts = own_cgroups(proc_cgroup), mount_points(mountinfo)
    for key, mount in mounts.items():
        if key in own:
            for path in (mount / own[key].lstrip("/")).glob(prefix + "*"):
                remove_dir(path)


def remove_dir(path: Path) -> None:
    try:
        path.rmdir()  # only an empty group goes; a live one stays
    except OSError:
        pass


def own_cgroups(proc_cgroup: str) -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    own = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            own[""] = path
        for name in controllers.split(","):
            own[name] = path
    return own


def mount_points(mountinfo: str) -> dict[str, Path]:
    """controller (or "" for v2) -> mount point, from /proc/self/mountinfo."""
    mounts: dict[str, Path] = {}
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype, options = rfields[0], rfields[2].split(",")
        if fstype == "cgroup2":
            mounts.setdefault("", Path(fields[4]))
        elif fstype == "cgroup":
            for name in CONTROLLERS:
                if name in options:
                    mounts.setdefault(name, Path(fields[4]))
    return mounts


def plan(name: str, memory_mb: int, processes: int, *, proc_cgroup: str | None = None,
         mountinfo: str | None = None) -> SandboxCgroup:
    """The group ``name`` for one sandbox; ``CgroupError`` if the host has no place for it."""
    if not _NAME.match(name):
        raise CgroupError(f"bad cgroup name {name!r}")
    if proc_cgroup is None:
        proc_cgroup = Path("/proc/self/cgroup").read_text()
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    own, mounts = own_cgroups(proc_cgroup), mount_points(mountinfo)
    if all(c in own and c in mounts for c in CONTROLLERS):
        dirs = {c: mounts[c] / own[c].lstrip("/") / name for c in CONTROLLERS}
        limits = ((dirs["memory"] / "memory.limit_in_bytes", str(memory_mb * MIB)),
                  (dirs["pids"] / "pids.max", str(processes)))
        return SandboxCgroup(tuple(dict.fromkeys(dirs.values())), limits)
    if "" in own and "" in mounts:
        parent = mounts[""] / own[""].lstrip("/")
        enabled = _read(parent / "cgroup.subtree_control").split()
        if not all(c in enabled for c in CONTROLLERS):
            raise CgroupError(f"cgroup v2: {parent} does not delegate memory and pids "
                              "to its children")
        path = parent / name
        return SandboxCgroup((path,), ((path / "memory.max", str(memory_mb * MIB)),
                                       (path / "pids.max", str(processes))))
    raise CgroupError("no memory and pids cgroup controllers are mounted")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
