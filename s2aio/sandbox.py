"""The bubblewrap command line for one storlets sandbox, and its limits (pure).

Kept apart from ``gateway`` because importing storlets' runtime
monkey-patches the whole process with eventlet.

What a sandbox is (each point checked from inside by the hostile-storlet
tests):

- an unprivileged uid: the gateway starts bubblewrap as the dedicated host
  user ``s2aio-sandbox`` when the Swift servers run as root, else as their own
  user; bubblewrap adds a user namespace that maps only that uid;
- no capabilities (``--cap-drop ALL``, empty bounding set), no_new_privs,
  no further user namespaces (``--disable-userns``);
- the seccomp filter of ``seccomp_profile`` (``--seccomp FD``);
- rlimits set by ``prlimit`` before the daemon factory starts, soft = hard so
  nothing inside can raise them: address space, processes/threads, open
  files, file size, core dumps (and a memory + pids cgroup, see ``cgroups``);
- a Landlock ruleset (``confine``): in the pipe dir only sockets can be made,
  so a storlet cannot fill the host's disk through it;
- new pid, ipc, uts, net and cgroup namespaces: no network at all;
- a read-only root made of the host's ``/usr`` and a few files of ``/etc``
  (not ``/etc/shadow`` nor anything else of the host); writable: only the
  scope's pipe dir and a size-capped private ``/tmp``.
"""
from __future__ import annotations

import dataclasses
import os

from . import agent

SANDBOX_PYTHON = "/usr/bin/python3"
SANDBOX_NATIVE = "/usr/local/lib/storlets"
PRLIMIT = "/usr/bin/prlimit"
CONFINE = f"{SANDBOX_NATIVE}/s2aio_confine.py"
HOST_RO_DIRS = ("/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/share")
# What Python and libc read from /etc; the rest of the host's /etc stays out.
HOST_RO_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
               "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/hosts",
               "/etc/alternatives", "/etc/python3", "/etc/python3.11", "/etc/mime.types")
DEFAULT_USER = "s2aio-sandbox"
MIB = 1 << 20


class SandboxConfigError(ValueError):
    """A sandbox setting in the gateway config is missing or out of range."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-sandbox ceilings, from the gateway config (``sandbox_*`` options).

    ``memory_mb`` bounds each process's address space, ``processes`` the
    processes and threads of the sandbox's uid inside its user namespace.
    """

    memory_mb: int = 1024
    processes: int = 256
    open_files: int = 1024
    file_size_mb: int = 256
    tmp_size_mb: int = 64

    BOUNDS = {"memory_mb": (64, 1 << 20), "processes": (16, 1 << 16),
              "open_files": (64, 1 << 20), "file_size_mb": (1, 1 << 20),
              "tmp_size_mb": (1, 1 << 16)}

    @classmethod
    def from_conf(cls, conf: dict) -> "Limits":
        values = {}
        for field in dataclasses.fields(cls):
            raw = conf.get(f"sandbox_{field.name}")
            if raw is None or str(raw).strip() == "":
                continue
            low, high = cls.BOUNDS[field.name]
            try:
                value = int(str(raw).strip())
            except ValueError:
                raise SandboxConfigError(
                    f"sandbox_{field.name} = {raw!r} is not a whole number") from None
            if not low <= value <= high:
                raise SandboxConfigError(
                    f"sandbox_{field.name} = {value} is outside {low}..{high}")
            values[field.name] = value
        return cls(**values)

    def prlimit_argv(self) -> list[str]:
        """``prlimit`` options; soft = hard, so the sandbox cannot raise them."""
        return [PRLIMIT, f"--as={self.memory_mb * MIB}", f"--nproc={self.processes}",
                f"--nofile={self.open_files}", f"--fsize={self.file_size_mb * MIB}",
                "--core=0", "--"]


DEFAULT_IDLE_S = int(agent.DEFAULT_IDLE_S)  # the agent's own fallback, one value
IDLE_BOUNDS = (60, 86400)


def daemon_idle_timeout(conf: dict) -> int:
    """The gateway's ``daemon_idle_timeout``: seconds a storlet daemon waits for a
    call before it exits (upstream's daemons: 300)."""
    raw = str(conf.get("daemon_idle_timeout", "") or DEFAULT_IDLE_S).strip()
    try:
        value = int(raw)
    except ValueError:
        raise SandboxConfigError(f"daemon_idle_timeout = {raw!r} is not a whole number") from None
    low, high = IDLE_BOUNDS
    if not low <= value <= high:
        raise SandboxConfigError(f"daemon_idle_timeout = {value} is outside {low}..{high}")
    return value


def confine_argv() -> list[str]:
    """The Landlock step (``s2aio/confine.py``) that runs right before the engine."""
    return [SANDBOX_PYTHON, "-I", "-S", CONFINE]


def bwrap_argv(*, pipe_dir: str, storlet_dir: str, native_dir: str, log_socket: str,
               sandbox_pipe_dir: str, sandbox_storlet_dir: str, seccomp_fd: int,
               limits: Limits) -> list[str]:
    """The bubblewrap command line that rebuilds the engine's container layout.

    The command to run inside follows it (see ``Limits.prlimit_argv``).
    """
    argv = ["bwrap", "--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-net", "--unshare-cgroup-try", "--new-session",
            # Killing bubblewrap (s2aio stop, recovery) ends the whole sandbox.
            "--die-with-parent",
            "--cap-drop", "ALL", "--seccomp", str(seccomp_fd),
            "--hostname", "storlets", "--dir", "/usr", "--dir", "/etc"]
    for path in HOST_RO_DIRS + HOST_RO_ETC:
        if os.path.exists(path):
            argv += ["--ro-bind", path, path]
    for link, target in (("/bin", "usr/bin"), ("/sbin", "usr/sbin"),
                         ("/lib", "usr/lib"), ("/lib64", "usr/lib64")):
        argv += ["--symlink", target, link]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(limits.tmp_size_mb * MIB), "--tmpfs", "/tmp",
             "--ro-bind", native_dir, SANDBOX_NATIVE,
             "--bind", pipe_dir, sandbox_pipe_dir,
             "--ro-bind", storlet_dir, sandbox_storlet_dir]
    if os.path.exists(log_socket):
        argv += ["--bind", log_socket, "/dev/log"]
    argv += ["--remount-ro", "/", "--chdir", "/", "--clearenv",
             "--setenv", "PATH", "/usr/bin:/bin",
             "--setenv", "PYTHONPATH", f"{SANDBOX_NATIVE}/python",
             "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
             # Fewer malloc arenas: each reserves 64 MiB of the address-space limit.
             "--setenv", "MALLOC_ARENA_MAX", "2"]
    return argv
