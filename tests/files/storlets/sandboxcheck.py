"""Test storlet: reports what it can reach from inside the sandbox, as JSON.

Parameters: ``host``/``port`` to connect to, ``read`` a path to try to list,
``write`` a comma-separated list of paths to try to create.
"""
import json
import os
import socket


class SandboxCheck(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        report = {"pid": os.getpid(), "uid": os.getuid()}
        try:
            sock = socket.create_connection((params.get("host", "127.0.0.1"),
                                             int(params.get("port", "8080"))), timeout=2)
            sock.close()
            report["connect"] = "ok"
        except Exception as exc:
            report["connect"] = "failed: %s" % exc
        path = params.get("read")
        if path:
            try:
                report["read"] = "ok: %d entries" % len(os.listdir(path))
            except Exception as exc:
                report["read"] = "failed: %s" % exc
        writes = {}
        for target in filter(None, params.get("write", "").split(",")):
            try:
                with open(target, "w") as f:
                    f.write("x")
                writes[target] = "ok"
            except Exception as exc:
                writes[target] = "failed: %s" % exc
        report["write"] = writes
        self.logger.debug("sandbox check done")
        in_files[0].close()
        out_files[0].set_metadata({})
        out_files[0].write(json.dumps(report).encode("utf-8"))
        out_files[0].close()
