"""The bubblewrap command line for one storlets sandbox (pure).

Kept apart from ``gateway`` because importing storlets' runtime
monkey-patches the whole process with eventlet.
"""
from __future__ import annotations

import os

SANDBOX_PYTHON = "/usr/bin/python3"
SANDBOX_NATIVE = "/usr/local/lib/storlets"
HOST_RO_DIRS = ("/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/share", "/etc")


def bwrap_argv(*, pipe_dir: str, storlet_dir: str, native_dir: str, log_socket: str,
               sandbox_pipe_dir: str, sandbox_storlet_dir: str) -> list[str]:
    """The bubblewrap command line that rebuilds the engine's container layout."""
    argv = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
            "--hostname", "storlets", "--dir", "/usr"]
    for path in HOST_RO_DIRS:
        if os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for link, target in (("/bin", "usr/bin"), ("/sbin", "usr/sbin"),
                         ("/lib", "usr/lib"), ("/lib64", "usr/lib64")):
        argv += ["--symlink", target, link]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
             "--ro-bind", native_dir, SANDBOX_NATIVE,
             "--bind", pipe_dir, sandbox_pipe_dir,
             "--bind", storlet_dir, sandbox_storlet_dir]
    if os.path.exists(log_socket):
        argv += ["--bind", log_socket, "/dev/log"]
    argv += ["--remount-ro", "/", "--chdir", "/", "--clearenv",
             "--setenv", "PATH", "/usr/bin:/bin",
             "--setenv", "PYTHONPATH", f"{SANDBOX_NATIVE}/python",
             "--setenv", "PYTHONDONTWRITEBYTECODE", "1"]
    return argv
