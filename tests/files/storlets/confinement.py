"""Test storlet: reports, as JSON, how it is confined (read from inside its sandbox).

Parameters: ``host``/``port`` to try to connect to, ``write`` a comma-separated
list of paths to try to create, ``forks`` how many processes to try to start.
"""
import errno
import json
import os
import socket


def status_fields():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("Uid", "Gid", "CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb",
                        "NoNewPrivs", "Seccomp", "Groups"):
                fields[name] = value.split()
    return fields


def attempt(action):
    try:
        action()
        return "ok"
    except Exception as exc:
        return "failed: %s" % exc


def write_file(path):
    with open(path, "w") as f:
        f.write("x")


def read_first(*paths):
    for path in paths:
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            continue
    return None


def mount_options(target):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == target:
                return fields[5]
    return None


class Confinement(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        in_files[0].read()
        in_files[0].close()
        host, port = params.get("host", "127.0.0.1"), int(params.get("port", "8080"))
        report = {
            "status": status_fields(),
            "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
            "root_mount": mount_options("/"),
            "interfaces": sorted(os.listdir("/sys/class/net"))
            if os.path.isdir("/sys/class/net") else None,
            "connect": attempt(lambda: socket.create_connection((host, port), timeout=2).close()),
            "write": {path: attempt(lambda p=path: write_file(p))
                      for path in filter(None, params.get("write", "").split(","))},
            "pids_max": read_first("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max"),
            "memory_max": read_first("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                     "/sys/fs/cgroup/memory.max"),
            "setuid_root": attempt(lambda: os.setuid(0)),
            "chown": attempt(lambda: os.chown("/tmp", 0, 0)),
            "raw_socket": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                                        socket.IPPROTO_ICMP).close()),
            "dev_log": os.path.exists("/dev/log"),
        }
        self.logger.debug("confinement report done")
        out_files[0].set_metadata({})
        out_files[0].write(json.dumps(report).encode("utf-8"))
        out_files[0].close()
