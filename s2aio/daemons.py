"""Run one node's Swift background daemons in one process.

Usage: ``python -m s2aio.daemons ACCOUNT_CONF CONTAINER_CONF OBJECT_CONF``.

Swift's replicators, updaters and auditors are Swift's own classes, configured
by the ``[<kind>-<daemon>]`` sections of the node's server configs. Swift would
run each as its own process (``swift-object-replicator`` ...): eight per node,
24 interpreters for three nodes on a 2-core machine. Here one process per node
calls each daemon's ``run_once`` whenever its ``interval`` has passed, one at a
time, and sleeps in between: the same passes, a fraction of the memory and start
time. A daemon that forks (the object updater and auditor do) exits its children
with ``sys.exit``; a child never returns into this loop.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, Mapping

# section name -> "module:Class"
CLASSES = {
    "account-replicator": "swift.account.replicator:AccountReplicator",
    "account-auditor": "swift.account.auditor:AccountAuditor",
    "container-replicator": "swift.container.replicator:ContainerReplicator",
    "container-updater": "swift.container.updater:ContainerUpdater",
    "container-auditor": "swift.container.auditor:ContainerAuditor",
    "object-replicator": "swift.obj.replicator:ObjectReplicator",
    "object-updater": "swift.obj.updater:ObjectUpdater",
    "object-auditor": "swift.obj.auditor:ObjectAuditor",
}
# Auditors wait one interval before their first pass: right after a start
# nothing has rotted, and the start is when the CPU is busiest.
FIRST_PASS_DELAYED = ("auditor",)
MAX_SLEEP = 5.0  # wake up at least this often (notice a parent's SIGTERM promptly)


def first_due(name: str, interval: float, now: float) -> float:
    return now + interval if name.endswith(FIRST_PASS_DELAYED) else now


def due(next_runs: Mapping[str, float], now: float) -> list[str]:
    """The daemons whose next pass is due at ``now``, most overdue first."""
    return sorted((n for n, at in next_runs.items() if at <= now), key=lambda n: next_runs[n])


def sleep_for(next_runs: Mapping[str, float], now: float) -> float:
    """How long to sleep until the next pass is due (at most ``MAX_SLEEP``)."""
    if not next_runs:
        return MAX_SLEEP
    return max(0.0, min(MAX_SLEEP, min(next_runs.values()) - now))


def _load(name: str, conf_file: str):
    from swift.common import utils

    module_name, _, class_name = CLASSES[name].partition(":")
    conf = utils.readconf(conf_file, name)
    klass = getattr(__import__(module_name, fromlist=[class_name]), class_name)
    logger = utils.get_logger(conf, conf.get("log_name", name), log_route=name)
    return klass(conf, logger=logger), float(conf.get("interval", 30)), logger


def run_pass(name: str, daemon, logger, parent_pid: int) -> None:
    """One ``run_once``; a forked child that returns or exits here ends at once."""
    try:
        daemon.run_once()
    except SystemExit:
        if os.getpid() != parent_pid:
            os._exit(0)
        raise
    except Exception:  # one daemon's bad pass must not end the node's others
        if os.getpid() != parent_pid:
            os._exit(1)
        logger.exception("s2aio: %s pass failed", name)
    if os.getpid() != parent_pid:
        os._exit(0)


def loop(daemons: dict[str, tuple], clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> None:
    parent_pid = os.getpid()
    now = clock()
    next_runs = {name: first_due(name, interval, now)
                 for name, (_, interval, _) in daemons.items()}
    while True:
        for name in due(next_runs, clock()):
            daemon, interval, logger = daemons[name]
            run_pass(name, daemon, logger, parent_pid)
            next_runs[name] = clock() + interval
        sleep(sleep_for(next_runs, clock()))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    from .server import keep_private_umask, use_swift_conf

    use_swift_conf(os.environ["S2AIO_SWIFT_CONF"])
    keep_private_umask()
    import eventlet
    from swift.common import utils

    utils.monkey_patch()
    eventlet.hubs.use_hub(utils.get_hub())
    os.environ["TZ"] = "UTC+0"
    time.tzset()
    confs = dict(zip(("account", "container", "object"), argv))
    daemons = {name: _load(name, confs[name.partition("-")[0]]) for name in CLASSES}
    try:
        loop(daemons)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
