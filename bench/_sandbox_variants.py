"""Gateway variants for bench/sandbox_cost.py only: the sandbox with less hardening.

Loaded by the Swift servers of a benchmark's own s2aio (``gateway_class``);
never used by the product. ``unfiltered`` is the hardened sandbox without its
seccomp filter, Landlock ruleset, rlimits and cgroup (what the 10% budget is about); ``before`` is the
sandbox as it was before hardening: bubblewrap started by root with no user
namespace, no capability drop, no filter, no limits, the host's whole /etc.
"""
from __future__ import annotations

from s2aio.gateway import BwrapRunTimeSandbox, BwrapStorletGateway


def _without(argv: list[str], flag: str, values: int) -> list[str]:
    out, skip = [], 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        if arg == flag:
            skip = values
            continue
        out.append(arg)
    return out


def _without_prlimit(argv: list[str]) -> list[str]:
    if "/usr/bin/prlimit" not in argv:
        return argv
    start = argv.index("/usr/bin/prlimit")
    end = argv.index("--", start)
    return argv[:start] + argv[end + 1:]


def _without_confine(argv: list[str]) -> list[str]:
    from s2aio.sandbox import confine_argv

    step = confine_argv()
    for i in range(len(argv) - len(step) + 1):
        if argv[i:i + len(step)] == step:
            return argv[:i] + argv[i + len(step):]
    return argv


class UnfilteredSandbox(BwrapRunTimeSandbox):
    def _cgroup(self, limits):
        return None

    def sandbox_command(self, seccomp_fd, limits, container_image_name):
        argv = super().sandbox_command(seccomp_fd, limits, container_image_name)
        return _without_confine(_without_prlimit(_without(argv, "--seccomp", 1)))


class BeforeSandbox(UnfilteredSandbox):
    def _identity(self):
        return None  # as root, like the sandbox before hardening

    def sandbox_command(self, seccomp_fd, limits, container_image_name):
        argv = super().sandbox_command(seccomp_fd, limits, container_image_name)
        for flag in ("--unshare-user", "--disable-userns", "--new-session"):
            argv = _without(argv, flag, 0)
        argv = _without(argv, "--cap-drop", 1)
        return _insert_etc(argv)


def _insert_etc(argv: list[str]) -> list[str]:
    """The host's whole /etc instead of the curated files."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--dir" and argv[i + 1] == "/etc":
            out += ["--ro-bind", "/etc", "/etc"]
            i += 2
        elif argv[i] == "--ro-bind" and argv[i + 1].startswith("/etc/"):
            i += 3
        else:
            out.append(argv[i])
            i += 1
    return out


class UnfilteredGateway(BwrapStorletGateway):
    sandbox = UnfilteredSandbox


class BeforeGateway(BwrapStorletGateway):
    sandbox = BeforeSandbox
