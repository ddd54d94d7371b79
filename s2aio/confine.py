"""Last step inside a storlets sandbox: a Landlock ruleset, then exec the engine.

The scope's pipe dir (``/mnt/channels``) is a host dir, bound read-write so
that the daemons can create their SBus sockets there. Without more, a
storlet could fill the host's disk through it. Landlock (Linux >= 5.13)
lets this process and everything it starts create only *sockets* there
(and remove entries); regular files, dirs, links, FIFOs and devices only in
the private, size-capped ``/tmp``; and write only to existing device nodes
in ``/dev``. Reads are not restricted here (the mounts are read-only).

Runs under Debian's ``/usr/bin/python3 -I -S`` inside the sandbox, standard
library only; s2aio copies it into the sandbox's native dir::

    python3 -I -S confine.py COMMAND ARGS...

Exits 70 with a message if Landlock is not available: s2aio checks before it
enables this step, so the sandbox never starts half-confined by surprise.
"""
import ctypes
import os
import struct
import sys

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

WRITE_FILE = 1 << 1
REMOVE_DIR, REMOVE_FILE = 1 << 4, 1 << 5
MAKE_CHAR, MAKE_DIR, MAKE_REG, MAKE_SOCK = 1 << 6, 1 << 7, 1 << 8, 1 << 9
MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
WRITES_V1 = (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG
             | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM)
EX_UNAVAILABLE = 70

# path -> what may be written beneath it (masked by what the kernel handles)
ALLOWED = {
    "/mnt/channels": MAKE_SOCK | REMOVE_FILE,
    "/tmp": -1,
    "/dev": WRITE_FILE | TRUNCATE,
}


def handled_writes(abi):
    """The write rights this kernel's Landlock ABI knows."""
    rights = WRITES_V1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    return rights


def _syscall(libc, number, *args):
    result = libc.syscall(number, *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def confine(allowed=None):
    """Restrict this process (and its children) to ``allowed`` writes."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = abi_version()
    if abi < 1:
        raise OSError(ctypes.get_errno(), "Landlock is not available in this kernel")
    handled = handled_writes(abi)
    attr = ctypes.create_string_buffer(struct.pack("=Q", handled))
    ruleset = _syscall(libc, SYS_CREATE_RULESET, attr, ctypes.c_size_t(8), ctypes.c_uint32(0))
    try:
        for path, rights in (allowed or ALLOWED).items():
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                beneath = ctypes.create_string_buffer(
                    struct.pack("=Qi", rights & handled, fd))
                _syscall(libc, SYS_ADD_RULE, ctypes.c_int(ruleset),
                         ctypes.c_int(RULE_PATH_BENEATH), beneath, ctypes.c_uint32(0))
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:  # bubblewrap set it already
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        _syscall(libc, SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)


def abi_version():
    """The kernel's Landlock ABI version, or 0 when there is none."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(abi, 0)


def main(argv):
    if not argv:
        sys.stderr.write("usage: confine.py COMMAND ARGS...\n")
        return 2
    try:
        confine()
    except OSError as exc:
        sys.stderr.write("s2aio confine: %s\n" % exc)
        return EX_UNAVAILABLE
    os.execv(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
