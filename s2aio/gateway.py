"""A storlets gateway that runs storlets' own sandbox under bubblewrap.

Everything of storlets' invocation path stays upstream (the container
gateway: cache, SBus protocol, ping, daemon start, recovery after the sandbox
dies). Only ``RunTimeSandbox._restart`` differs: instead of ``docker run`` it
starts storlets' daemon factory (``python3 -m storlets.agent.daemon_factory``)
in a bubblewrap sandbox laid out like the engine's container image:

- read-only ``/usr`` and ``/etc`` of the host, nothing else of it;
- the scope's pipe dir at ``/mnt/channels``, its storlet dir at
  ``/var/lib/storlets`` (the only writable host dirs);
- libsbus + the storlets agent at ``/usr/local/lib/storlets`` (read-only);
- the s2aio log sink as ``/dev/log``;
- new pid, ipc, uts and net namespaces: no network at all.

Named in the storlet_handler's ``storlet_gateway_module`` option by its
dotted path ``s2aio.gateway.BwrapStorletGateway``.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from storlets.gateway.common.exceptions import StorletRuntimeException
from storlets.gateway.gateways.container.gateway import StorletGatewayContainer
from storlets.gateway.gateways.container.runtime import RunTimeSandbox

from .procs import pid_is_alive, process_start_time
from .sandbox import SANDBOX_PYTHON, bwrap_argv

# One restart at a time per sandbox: concurrent first calls (green threads of
# one server) would otherwise each start a sandbox and orphan all but one.
_restart_locks: dict[str, "eventlet.semaphore.Semaphore"] = {}


def _restart_lock(key: str):
    import eventlet.semaphore

    return _restart_locks.setdefault(key, eventlet.semaphore.Semaphore(1))


class BwrapRunTimeSandbox(RunTimeSandbox):
    def __init__(self, scope, conf, logger):
        super().__init__(scope, conf, logger)
        self.native_dir = conf["s2aio_native_dir"]
        self.log_socket = conf.get("s2aio_log_socket", "")
        self.run_dir = conf["s2aio_run_dir"]
        self.where = os.path.basename(os.path.normpath(self.paths.host_root_dir))

    @property
    def pid_file(self) -> str:
        return os.path.join(self.run_dir, f"sandbox-{self.where}-{self.scope}.pid")

    def restart(self):
        with _restart_lock(self.pid_file):
            # Another green thread may have restarted it while we waited.
            if os.path.exists(self.pid_file) and self.ping():
                return
            super().restart()

    def _stop_existing(self) -> None:
        try:
            with open(self.pid_file) as f:
                pid_text, _, start = f.read().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return
        # Only a process we started (same pid *and* start time) is ended.
        if pid_is_alive(pid) and process_start_time(pid) == start.strip():
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            deadline = time.monotonic() + self.sandbox_stop_timeout
            while pid_is_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        try:
            os.unlink(self.pid_file)
        except OSError:
            pass

    def _clear_pipes(self) -> None:
        # Sockets of a dead sandbox would make SBus binds fail.
        pipe_dir = self.paths.host_pipe_dir
        for name in os.listdir(pipe_dir):
            try:
                os.unlink(os.path.join(pipe_dir, name))
            except OSError:
                pass

    def _restart(self, container_image_name):
        if shutil.which("bwrap") is None:
            raise StorletRuntimeException("bubblewrap (bwrap) is not installed")
        self._stop_existing()
        os.makedirs(self.paths.host_storlet_base_dir, exist_ok=True)
        self._clear_pipes()
        argv = bwrap_argv(
            pipe_dir=self.paths.host_pipe_dir,
            storlet_dir=self.paths.host_storlet_base_dir,
            native_dir=self.native_dir, log_socket=self.log_socket,
            sandbox_pipe_dir=self.paths.sandbox_pipe_dir,
            sandbox_storlet_dir=self.paths.sandbox_storlet_base_dir)
        argv += [SANDBOX_PYTHON, "-m", "storlets.agent.daemon_factory",
                 self.paths.sandbox_factory_pipe,
                 self.storlet_daemon_factory_debug_level,
                 self._get_container_name(container_image_name)]
        os.makedirs(self.run_dir, exist_ok=True)
        try:
            # Own session + process group so s2aio stop can end the whole tree.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, close_fds=True,
                                    start_new_session=True)
        except OSError as exc:
            raise StorletRuntimeException(f"cannot start the sandbox: {exc}")
        with open(self.pid_file, "w") as f:
            f.write(f"{proc.pid} {process_start_time(proc.pid)}")
        # Reap it when it ends so a killed sandbox leaves no zombie behind.
        _reap_later(proc)
        self.logger.info("s2aio: started sandbox for scope %s (pid %d)" % (self.scope, proc.pid))


def _reap_later(proc: subprocess.Popen) -> None:
    import eventlet

    def wait() -> None:
        while proc.poll() is None:
            eventlet.sleep(1)

    eventlet.spawn_n(wait)


class BwrapStorletGateway(StorletGatewayContainer):
    sandbox = BwrapRunTimeSandbox

    def update_container_from_cache(self, sreq):
        # storlets 18.0.0 refreshes a dependency only when it is missing from
        # the (per scope) cache, and a sandbox copy only when its size changed.
        # When the storlet is new on this node or newer than its cached copy,
        # drop the cached and
        # sandbox copies of it and of its dependencies so upstream fetches all.
        if self._storlet_cache_is_stale(sreq):
            sandbox_dir = self.paths.get_host_storlet_dir(sreq.storlet_main)
            for name in [sreq.storlet_id] + list(sreq.dependencies):
                cache = (self.paths.host_storlet_cache_dir if name == sreq.storlet_id
                         else self.paths.host_dependency_cache_dir)
                for path in (os.path.join(cache, name), os.path.join(sandbox_dir, name)):
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
        return super().update_container_from_cache(sreq)

    def _storlet_cache_is_stale(self, sreq) -> bool:
        path = os.path.join(self.paths.host_storlet_cache_dir, sreq.storlet_id)
        try:
            stat = os.stat(path)
            size = int(str(sreq.options["storlet_content_length"]).rstrip("L"))
            stamp = float(sreq.options["storlet_x_timestamp"])
        except FileNotFoundError:
            # First use on this node: its dependencies may be cached from
            # another storlet's older upload of the same name; refetch them.
            return True
        except (OSError, KeyError, ValueError):
            return False
        return stat.st_size != size or stat.st_mtime < stamp

    def _upload_storlet_logs(self, slog_path, sreq):
        # storlets 18.0.0's SwiftFileManager._put_object drops the object
        # name, so X-Storlet-Generate-Log answers 503 upstream; upload here
        # with the same object name upstream intends (<storlet>.log).
        if not sreq.generate_log:
            return
        fm = sreq.file_manager
        name = "%s.log" % sreq.storlet_id.split("-")[0]
        try:
            with open(slog_path, "rb") as logfile:
                fm.client.upload_object(logfile, fm.account, fm.log_container, name,
                                        {"Content-Type": "text/plain"})
        except Exception:
            self.logger.exception("Failed to store the storlet log %s" % name)
            raise StorletRuntimeException("Failed to store the storlet log")
