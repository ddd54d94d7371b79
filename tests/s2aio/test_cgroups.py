"""Where a sandbox's cgroup goes, from /proc texts (pure)."""
from __future__ import annotations

from pathlib import Path

import pytest

from s2aio import cgroups

V1_CGROUP = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n0::/\n"
V1_MOUNTS = (
    "30 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "31 25 0:28 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "32 25 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
V2_CGROUP = "0::/system.slice/swift.service\n"
V2_MOUNTS = "30 25 0:27 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"


def test_v1_one_group_per_controller_below_our_own():
    group = cgroups.plan("s2aio-x-object-test", 256, 64, proc_cgroup=V1_CGROUP,
                         mountinfo=V1_MOUNTS)
    assert group.dirs == (Path("/sys/fs/cgroup/memory/process_api/abc/s2aio-x-object-test"),
                          Path("/sys/fs/cgroup/pids/s2aio-x-object-test"))
    limits = {path.name: value for path, value in group.limits}
    assert limits == {"memory.limit_in_bytes": str(256 << 20), "pids.max": "64"}


def test_v2_needs_delegated_controllers(tmp_path):
    with pytest.raises(cgroups.CgroupError, match="delegate"):
        cgroups.plan("s2aio-x", 256, 64, proc_cgroup="0::/\n",
                     mountinfo=f"30 25 0:27 / {tmp_path} rw - cgroup2 cgroup2 rw\n")
    (tmp_path / "cgroup.subtree_control").write_text("cpu memory pids\n")
    group = cgroups.plan("s2aio-x", 256, 64, proc_cgroup="0::/\n",
                         mountinfo=f"30 25 0:27 / {tmp_path} rw - cgroup2 cgroup2 rw\n")
    assert group.dirs == (tmp_path / "s2aio-x",)
    assert {p.name for p, _ in group.limits} == {"memory.max", "pids.max"}


def test_no_controllers_is_an_error_not_a_crash():
    with pytest.raises(cgroups.CgroupError):
        cgroups.plan("s2aio-x", 1, 1, proc_cgroup="1:cpu:/\n", mountinfo="")


@pytest.mark.parametrize("name", ["../x", "a/b", "", "..", ".", "x" * 300])
def test_group_names_are_plain(name):
    with pytest.raises(cgroups.CgroupError):
        cgroups.plan(name, 1, 1, proc_cgroup=V1_CGROUP, mountinfo=V1_MOUNTS)


def test_prefix_is_per_data_dir(tmp_path):
    a, b = cgroups.group_prefix(str(tmp_path / "a")), cgroups.group_prefix(str(tmp_path / "b"))
    assert a != b and a.startswith("s2aio-") and a.endswith("-")
