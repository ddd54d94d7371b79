"""A hostile storlet: tries one attack per call and reports what happened.

Parameter ``attack`` names the attempt; the output is a JSON document
``{"attack": ..., "results": {step: "ok ..." | "failed: ..."}}`` where "ok"
means the attempt *worked* (the tests expect "failed" for every escape).
Standard library only, the way any storlet user could write it.
"""
import ctypes
import ctypes.util
import errno
import json
import os
import signal
import socket
import time

LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWPID = 0x20000, 0x10000000, 0x40000000, 0x20000000
PTRACE_ATTACH = 16
CHUNK = 1 << 16  # larger than the output file's buffer, so each write is sent


def _libc(name, *args):
    res = getattr(LIBC, name)(*args)
    if res == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return res


def _try(results, step, func):
    try:
        value = func()
        results[step] = "ok %s" % (value,)
    except BaseException as exc:  # MemoryError, OSError, ... all count as failed
        results[step] = "failed: %s: %s" % (type(exc).__name__, exc)


def _status():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return {k: fields.get(k) for k in ("Uid", "Gid", "CapEff", "CapPrm", "CapBnd",
                                       "NoNewPrivs", "Seccomp")}


def _write(path):
    with open(path, "w") as f:
        f.write("owned")
    return path


def _fork_bomb(limit):
    children, error = [], None
    for _ in range(limit):
        try:
            pid = os.fork()
        except OSError as exc:
            error = exc
            break
        if pid == 0:
            time.sleep(2)
            os._exit(0)
        children.append(pid)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
    if error is None:
        return "forked %d processes" % len(children)
    raise OSError(error.errno, "stopped after %d forks: %s" % (len(children), error.strerror))


def _memory_together(children, each):
    """``children`` processes each touch ``each`` bytes and hold them at once."""
    pids = []
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            try:
                block = bytearray(each)
                for i in range(0, each, 4096):
                    block[i] = 1
                time.sleep(1.5)
                os._exit(0)
            except BaseException:
                os._exit(3)
        pids.append(pid)
    held = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        held += os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    if held == children:
        return "all %d children held their memory" % children
    raise MemoryError("%d of %d children held their memory" % (held, children))


def _daemonize(seconds):
    """A grandchild in its own session that ignores SIGTERM and spins."""
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.closerange(3, 65536)  # let the call end: hold none of its pipes
            _spin(seconds)
        os._exit(0)
    os.waitpid(pid, 0)
    return "daemonized"


def _bind_sockets(count):
    """Socket files left in the host pipe dir (each one an inode of its filesystem)."""
    made = 0
    try:
        for i in range(count):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind("/mnt/channels/s%05d" % i)
            finally:
                sock.close()
            made += 1
    except OSError as exc:
        raise OSError(exc.errno, "stopped after %d sockets: %s" % (made, exc.strerror))
    return "bound %d sockets" % made


def _ptrace_child():
    pid = os.fork()
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    try:
        return _libc("ptrace", PTRACE_ATTACH, pid, None, None)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _connect(host, port):
    with socket.create_connection((host, int(port)), timeout=2):
        return "connected"


def _spin(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


ATTACKS = {
    "status": lambda p, r: r.update(status=_status(), pid=os.getpid(),
                                    channels=sorted(os.listdir("/mnt/channels"))),
    "read_shadow": lambda p, r: _try(r, "read", lambda: open("/etc/shadow").read(10)),
    "mknod": lambda p, r: [
        _try(r, "block", lambda: os.mknod("/tmp/sda", 0o600 | 0o060000, os.makedev(8, 0))),
        _try(r, "char", lambda: os.mknod("/tmp/mem", 0o600 | 0o020000, os.makedev(1, 1)))],
    "remount": lambda p, r: [
        _try(r, "remount_etc", lambda: _libc("mount", b"none", b"/etc", None,
                                             MS_REMOUNT | MS_BIND, None)),
        _try(r, "remount_root", lambda: _libc("mount", b"none", b"/", None, MS_REMOUNT, None)),
        _try(r, "mount_tmpfs", lambda: _libc("mount", b"none", b"/mnt", b"tmpfs", 0, None)),
        _try(r, "write_etc", lambda: _write("/etc/" + p["victim"]))],
    "write_outside": lambda p, r: [
        _try(r, path, lambda path=path: _write(path)) for path in p["paths"].split(",")],
    "pipe_dir": lambda p, r: [
        _try(r, "file", lambda: _write("/mnt/channels/junk")),
        _try(r, "dir", lambda: os.mkdir("/mnt/channels/junkdir")),
        _try(r, "symlink", lambda: os.symlink("/etc/passwd", "/mnt/channels/link")),
        _try(r, "fifo", lambda: os.mkfifo("/mnt/channels/fifo"))],
    "tmp_works": lambda p, r: _try(r, "tmp", lambda: _write("/tmp/scratch")),
    "read_paths": lambda p, r: [
        _try(r, path, lambda path=path: os.listdir(path) if os.path.isdir(path)
             else open(path, "rb").read(16)) for path in p["paths"].split(",")],
    "ptrace": lambda p, r: [
        _try(r, "sibling", _ptrace_child),
        _try(r, "factory", lambda: _libc("ptrace", PTRACE_ATTACH, 2, None, None))],
    "kill_factory": lambda p, r: [
        _try(r, "pid2", lambda: os.kill(2, signal.SIGKILL)),
        _try(r, "pid1", lambda: os.kill(1, signal.SIGKILL)),
        _try(r, "group", lambda: os.kill(0, signal.SIGKILL)),
        _try(r, "all", lambda: os.kill(-1, signal.SIGKILL))],
    "fork_bomb": lambda p, r: _try(r, "bomb", lambda: _fork_bomb(int(p["limit"]))),
    "memory": lambda p, r: _try(r, "alloc", lambda: len(bytearray(int(p["bytes"])))),
    "memory_together": lambda p, r: _try(r, "together", lambda: _memory_together(
        int(p["children"]), int(p["each"]))),
    "cgroup": lambda p, r: r.update(cgroup=open("/proc/self/cgroup").read()),
    "network": lambda p, r: [
        _try(r, "loopback", lambda: _connect("127.0.0.1", p["port"])),
        _try(r, "raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                             socket.IPPROTO_ICMP)),
        _try(r, "packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW)),
        _try(r, "netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))],
    "privileges": lambda p, r: [
        _try(r, "setuid", lambda: os.setuid(0)),
        _try(r, "setgid", lambda: os.setgid(0)),
        _try(r, "userns", lambda: _libc("unshare", CLONE_NEWUSER)),
        _try(r, "mountns", lambda: _libc("unshare", CLONE_NEWNS)),
        _try(r, "netns", lambda: _libc("unshare", CLONE_NEWNET)),
        _try(r, "pidns", lambda: _libc("unshare", CLONE_NEWPID)),
        _try(r, "setns", lambda: _libc("setns", os.open("/proc/1/ns/mnt", os.O_RDONLY), 0))],
    "spin": lambda p, r: r.update(spun=_spin(float(p["seconds"]))),
    "daemonize": lambda p, r: _try(r, "daemon", lambda: _daemonize(float(p["seconds"]))),
    "spin_with_orphan": lambda p, r: [_daemonize(float(p["seconds"])),
                                      r.update(spun=_spin(float(p["seconds"])))],
    "exit_early": lambda p, r: os._exit(0),
    "socket_inodes": lambda p, r: _try(r, "sockets", lambda: _bind_sockets(int(p["count"]))),
}


class Hostile(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        attack = params.get("attack", "status")
        results = {}
        if attack == "spin_after_metadata":
            out_files[0].set_metadata({})
            out_files[0].write(b"s" * CHUNK)  # past the output buffer: really sent
            _spin(float(params["seconds"]))
        elif attack == "trickle":  # never silent for long, never done
            out_files[0].set_metadata({})
            for _ in range(int(params["chunks"])):
                out_files[0].write(b"." * CHUNK)
                time.sleep(float(params["every"]))
        else:
            ATTACKS[attack](params, results)
            out_files[0].set_metadata({})
        out_files[0].write(json.dumps({"attack": attack, "results": results}).encode())
        in_files[0].close()
        out_files[0].close()
