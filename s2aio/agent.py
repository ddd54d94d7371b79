"""The engine's entry inside a storlets sandbox: storlets' own daemon factory and
daemons, with three costs of their defaults taken out.

Runs under Debian's ``/usr/bin/python3`` inside the sandbox, next to the copy of
the ``storlets`` package (s2aio copies this file there as ``s2aio_agent.py``)::

    python3 -m s2aio_agent factory SBUS_PATH LOG_LEVEL CONTAINER_ID
    python3 -m s2aio_agent daemon STORLET SBUS_PATH LOG_LEVEL POOL_SIZE CONTAINER_ID

Both run a subclass of upstream's server (the entry is the factory's pluggable
point); everything else (the SBus protocol, task forks, cancels, halts) is
upstream's. What differs:

- **Fast task exit.** A task process is a fork of its daemon; upstream ends it
  with ``sys.exit()``, whose interpreter teardown touches (and so copies) the
  forked memory: 23-32 ms of CPU per call. Here it ends with ``os._exit`` once
  the storlet's files are closed (upstream closes them in ``_execute``).
- **Warm daemons.** Upstream's daemons and factory exit after 300 s without a
  request; the next call pays a restart. Here they wait ``S2AIO_IDLE_TIMEOUT``
  seconds (the gateway's ``daemon_idle_timeout``).
- **No fixed sleep at daemon start.** Upstream's factory sleeps 1 s after it
  spawns a daemon, then pings it once a second. Here each of those sleeps ends
  as soon as the daemon's socket exists (within the same second at most).
"""
from __future__ import annotations

import os
import sys
import time

IDLE_ENV = "S2AIO_IDLE_TIMEOUT"
DEFAULT_IDLE_S = 3600.0
SOCKET_POLL_S = 0.005
# A socket that exists but does not answer yet: wait this long between pings.
PING_PAUSE_S = 0.05


def engine_role(argv: list[str]) -> tuple[str, str] | None:
    """("factory", "") or ("daemon", STORLET) for an engine process's argv (as read
    from /proc/PID/cmdline), else None: how tests and benches find them."""
    try:
        at = argv.index("s2aio_agent")
    except ValueError:
        return None
    if at < 1 or argv[at - 1] != "-m" or len(argv) <= at + 1:
        return None
    role = argv[at + 1]
    if role == "factory":
        return "factory", ""
    if role == "daemon" and len(argv) > at + 2:
        return "daemon", argv[at + 2]
    return None


def idle_timeout() -> float:
    try:
        value = float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S))
    except ValueError:
        return DEFAULT_IDLE_S
    return value if value > 0 else DEFAULT_IDLE_S


class SocketClock:
    """Stands in for the factory module's ``time``: its ``sleep`` ends when the
    socket of the daemon being started appears (at most the asked seconds)."""

    def __init__(self) -> None:
        self.socket_path: str | None = None

    def sleep(self, seconds: float) -> None:
        path = self.socket_path
        if path is None or os.path.exists(path):
            time.sleep(min(seconds, PING_PAUSE_S))
            return
        deadline = time.monotonic() + seconds
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(SOCKET_POLL_S)

    def __getattr__(self, name: str):  # time.time() and the rest: the real ones
        return getattr(time, name)


def fast_daemon_class():
    from storlets.agent.daemon.server import StorletDaemon

    class FastStorletDaemon(StorletDaemon):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.listen_timeout = idle_timeout()

        def _execute(self, dtg) -> None:
            # Only ever called in the task's forked process.
            try:
                super()._execute(dtg)
            finally:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except Exception:
                        pass
                os._exit(0)

    return FastStorletDaemon


def fast_factory_class(module):
    base = module.StorletDaemonFactory
    clock = SocketClock()
    module.time = clock  # only spawn_subprocess and its ping loop use it

    class FastDaemonFactory(base):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            # The factory outlives idle daemons: when it exits, the sandbox ends.
            self.listen_timeout = idle_timeout() * 2

        def get_python_args(self, *args, **kwargs):
            pargs, env = super().get_python_args(*args, **kwargs)
            if pargs[1:3] == ["-m", "storlets.agent.daemon"]:
                pargs[1:3] = ["-m", "s2aio_agent", "daemon"]
            env[IDLE_ENV] = str(idle_timeout())
            return pargs, env

        def spawn_subprocess(self, pargs, env, storlet_name):
            path = self.storlet_name_to_pipe_name.get(storlet_name)
            if path:  # a dead daemon's socket would look like the new one's
                try:
                    os.unlink(path)
                except OSError:
                    pass
            clock.socket_path = path
            try:
                return super().spawn_subprocess(pargs, env, storlet_name)
            finally:
                clock.socket_path = None

    return FastDaemonFactory


def serve(logger_name: str, server_factory, log_level: str, container_id: str) -> None:
    """What upstream's ``main()`` does for a server, with our server class (upstream's
    own ``main()`` names its class in a ``super()`` call, so it cannot be swapped)."""
    from storlets.agent.common.server import EXIT_FAILURE
    from storlets.agent.common.utils import get_logger
    from storlets.sbus import SBus

    logger = get_logger(logger_name, log_level, container_id)
    try:
        SBus.start_logger(log_level.upper(), container_id=container_id)
        server = server_factory(logger)
        sys.exit(server.main_loop())
    except Exception:
        logger.exception("Unhandled exception")
        sys.exit(EXIT_FAILURE)


def main(argv: list[str]) -> None:
    role, args = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    if role == "factory" and len(args) == 3:
        from storlets.agent.daemon_factory import server as factory_module

        sbus_path, log_level, container_id = args
        cls = fast_factory_class(factory_module)
        serve("daemon-factory", lambda log: cls(sbus_path, log, container_id),
              log_level, container_id)
    elif role == "daemon" and len(args) == 5:
        storlet, sbus_path, log_level, pool_size, container_id = args
        cls = fast_daemon_class()
        serve("storlets-daemon", lambda log: cls(storlet, sbus_path, log, int(pool_size)),
              log_level, container_id)
    else:
        sys.exit("usage: s2aio_agent factory SBUS_PATH LOG_LEVEL CONTAINER_ID\n"
                 "       s2aio_agent daemon STORLET SBUS_PATH LOG_LEVEL POOL_SIZE CONTAINER_ID")


if __name__ == "__main__":
    main(sys.argv)
