"""The storlets sandbox's seccomp filter, compiled with libseccomp's own bindings.

Modelled on Docker's default profile: the calls Docker keeps from a container
without extra capabilities are refused here too (mounts, namespaces, tracing,
kernel modules, kexec, bpf, keyrings, clocks, swap, reboot, device nodes,
io_uring, ...), plus two rules of this engine's own: no signal may reach the
sandbox's init (pid 1) or the daemon factory (pid 2), and no signal may be
sent to a whole process group (which holds the factory). Everything else is
allowed, so storlets keep the plain Python runtime they are promised.

The module is data plus one function that needs ``seccomp`` (Debian's
``python3-seccomp``). s2aio runs it as a script with Debian's
``/usr/bin/python3``::

    /usr/bin/python3 -I seccomp_profile.py OUT.bpf

and bubblewrap loads ``OUT.bpf`` with ``--seccomp FD``. Calls of another
architecture (32-bit ``int 0x80`` on x86_64) kill the process: libseccomp's
default for a foreign architecture.
"""
from __future__ import annotations

import errno
import os
import sys

# Refused outright with EPERM (ENOSYS for clone3, so libc falls back to clone,
# whose flags the rules below can inspect: Docker does the same).
DENIED = (
    # filesystems and mounts
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    # namespaces
    "unshare", "setns",
    # tracing and reading other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "pidfd_send_signal", "perf_event_open",
    # the kernel itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "create_module", "get_kernel_syms", "query_module", "reboot", "swapon", "swapoff",
    "acct", "syslog", "uselib", "lookup_dcookie", "nfsservctl", "quotactl", "quotactl_fd",
    "_sysctl", "iopl", "ioperm", "bpf", "userfaultfd", "vhangup", "personality",
    # keyrings
    "keyctl", "add_key", "request_key",
    # clocks and host identity
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
    "setdomainname",
    # file handles bypass path permissions
    "open_by_handle_at", "name_to_handle_at",
    # NUMA policy (Docker: CAP_SYS_NICE only)
    "mbind", "set_mempolicy", "migrate_pages", "move_pages",
    # io_uring bypasses seccomp for the calls it carries
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "fanotify_init",
)
ENOSYS_CALLS = ("clone3",)

# clone(2) flags that make a new namespace (x86_64: flags are argument 0).
CLONE_NEW_FLAGS = {
    "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

S_IFMT, S_IFCHR, S_IFBLK = 0o170000, 0o020000, 0o060000
# mknod(path, mode, dev) / mknodat(dirfd, path, mode, dev): the mode's argument.
MKNOD_MODE_ARG = {"mknod": 1, "mknodat": 2}

# Signals: the target's argument is 0 for kill, tkill, tgkill, rt_sigqueueinfo
# and rt_tgsigqueueinfo. pid 1 is bubblewrap's init, pid 2 the daemon factory;
# 0 and negative values address a process group, which holds the factory.
SIGNAL_CALLS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
PROTECTED_PIDS = (1, 2)
PID_MASK = 0xFFFFFFFF
PID_SIGN = 0x80000000

# Sockets: only AF_UNIX (1), AF_INET (2), AF_INET6 (10); never raw or packet ones.
SOCK_TYPE_MASK = 0xF
SOCK_RAW, SOCK_PACKET = 3, 10


def build_filter():
    """The filter as a ``seccomp.SyscallFilter`` (needs python3-seccomp)."""
    import seccomp

    eperm = seccomp.ERRNO(errno.EPERM)
    flt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    # A binary tree over syscall numbers: every call the storlet makes pays
    # O(log n) comparisons instead of one per rule.
    flt.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)
    for name in DENIED:
        _add(flt, eperm, name)
    for name in ENOSYS_CALLS:
        _add(flt, seccomp.ERRNO(errno.ENOSYS), name)
    for flag in CLONE_NEW_FLAGS.values():
        _add(flt, eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    for name, arg in MKNOD_MODE_ARG.items():
        for kind in (S_IFCHR, S_IFBLK):
            _add(flt, eperm, name, seccomp.Arg(arg, seccomp.MASKED_EQ, S_IFMT, kind))
    for name in SIGNAL_CALLS:
        for pid in (0,) + PROTECTED_PIDS:
            _add(flt, eperm, name, seccomp.Arg(0, seccomp.MASKED_EQ, PID_MASK, pid))
        _add(flt, eperm, name, seccomp.Arg(0, seccomp.MASKED_EQ, PID_SIGN, PID_SIGN))
    # Families 0, 3..9 and 11 and up (AF_INET6 is 10).
    _add(flt, eperm, "socket", seccomp.Arg(0, seccomp.EQ, 0))
    _add(flt, eperm, "socket", seccomp.Arg(0, seccomp.GE, 11))
    for family in range(3, 10):
        _add(flt, eperm, "socket", seccomp.Arg(0, seccomp.EQ, family))
    for kind in (SOCK_RAW, SOCK_PACKET):
        _add(flt, eperm, "socket", seccomp.Arg(1, seccomp.MASKED_EQ, SOCK_TYPE_MASK, kind))
    return flt


def _add(flt, action, name: str, *args) -> None:
    import seccomp

    # A call that libseccomp does not know for this architecture cannot be
    # made on it either; every other failure is an error in this profile.
    try:
        known = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) >= 0
    except (ValueError, RuntimeError):
        known = False
    if known:
        flt.add_rule(action, name, *args)


def write_bpf(path: str) -> None:
    """Compile the filter to ``path`` (atomically, mode 0600)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        build_filter().export_bpf(out)
    os.replace(tmp, path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: seccomp_profile.py OUT.bpf")
    write_bpf(sys.argv[1])
