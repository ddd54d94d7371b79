"""A storlets gateway that runs storlets' own sandbox under bubblewrap.

Storlets' invocation path stays upstream's (the container gateway: cache, SBus
protocol, ping, daemon start, recovery after the sandbox dies), except that SBus
requests are sent by s2aio's own client (``s2aio.sbus_client``: libsbus's wire
format from Python, see ``bound_sbus_requests``). ``RunTimeSandbox._restart``
differs: instead of ``docker run`` it
starts storlets' daemon factory (``python3 -m storlets.agent.daemon_factory``)
in a bubblewrap sandbox laid out like the engine's container image:

- read-only ``/usr`` and a few files of ``/etc`` of the host, nothing else;
- the scope's pipe dir at ``/mnt/channels`` (the only writable host dir), its
  storlet dir at ``/var/lib/storlets`` (read-only);
- libsbus + the storlets agent at ``/usr/local/lib/storlets`` (read-only);
- the s2aio log sink as ``/dev/log``;
- an unprivileged uid in a user namespace, no capabilities, no_new_privs, a
  seccomp filter, rlimits; new pid, ipc, uts and net namespaces (see
  ``sandbox``).

Names of storlets, main classes, dependencies and scopes are checked before
any of them becomes part of a host path, at upload and at every call.

Named in the storlet_handler's ``storlet_gateway_module`` option by its
dotted path ``s2aio.gateway.BwrapStorletGateway``.
"""
from __future__ import annotations

import contextlib
import functools
import os
import pwd
import shutil
import signal
import subprocess
import time

from storlets.gateway.common.exceptions import StorletRuntimeException, StorletTimeout
from storlets.gateway.common.stob import FileDescriptorIterator, StorletData
from storlets.gateway.gateways.container.gateway import StorletGatewayContainer
from storlets.gateway.gateways.container.runtime import RunTimeSandbox
from swift.common.utils import config_true_value

from swiftproto import UnsafeNameError, check_engine_name

from . import cgroups, mounts
from .agent import IDLE_ENV, STAGES_ENV, STAMPS_KEY
from .native import AGENT_MODULE
from .procs import child_pids, inner_pid, pid_is_alive, process_start_time
from .sandbox import (PRLIMIT, SANDBOX_PYTHON, Limits, SandboxConfigError, bwrap_argv,
                      confine_argv, daemon_idle_timeout)

# bubblewrap's init (pid 1 inside) keeps the environment bubblewrap was started
# with, readable by the sandbox's uid: none of the server's (keys included).
SANDBOX_HOST_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
# No SBus request may wait forever for a daemon's answer: a storlet can bind its
# own socket where the gateway expects its daemon's (storlets 18 reads the
# reply pipe with no timeout). Starting a daemon takes ~1 s (the factory sleeps).
SBUS_REQUEST_TIMEOUT_S = 15.0
# How long a request the gateway gave up on still waits for its late answer.
# storlets 18's factory and daemons write an answer as they close its pipe,
# outside their IOError guard: answering into a closed pipe raises
# BrokenPipeError out of their main loop, and the process exits. The factory's
# exit ends its whole sandbox, and every task running in it.
SBUS_LATE_ANSWER_S = 300.0

# A daemon whose status the factory gave this recently is taken as running
# without asking again (a round trip of ~4 ms per call). Should it have died
# meanwhile, the execute cannot be sent, and the call is retried once the
# upstream way (status, restart, start). Short against the daemons' idle time,
# and it keeps the factory asked often enough that it never idles out.
STATUS_FRESH_S = 1800.0  # at most; and at most half the daemons' idle time
# storlets 18's error when the execute command could not be sent (or was refused):
# nothing of the call's input has been read yet, so it can be retried.
EXECUTE_NOT_SENT = "Failed to send execute command"
EXECUTE_UNANSWERED = "The storlet daemon did not answer the execute command"
_status_seen: dict[str, float] = {}
# Pauses (s) before each new attempt when the daemon turned out gone. The factory
# counts a daemon as running until its process ends, but an exiting daemon (after
# a cancel, which ends upstream's daemon, or its idle time) has closed its socket
# already: an execute in that window is refused though the status said running.
GONE_RETRIES = (0.0, 0.1, 0.5)
# pid file -> (its stamp, the sandbox's init, its factory), when the init was last
# found with the factory as its only child (``kill_orphans``).
_lone_factory: dict[str, tuple[tuple[int, int] | None, int, int]] = {}


def _pid_file_stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns

# One restart at a time per sandbox: concurrent first calls (green threads of
# one server) would otherwise each start a sandbox and orphan all but one.
_restart_locks: dict[str, "eventlet.semaphore.Semaphore"] = {}


def _restart_lock(key: str):
    import eventlet.semaphore

    return _restart_locks.setdefault(key, eventlet.semaphore.Semaphore(1))


class BwrapRunTimeSandbox(RunTimeSandbox):
    def __init__(self, scope, conf, logger):
        super().__init__(scope, conf, logger)
        self.gateway_conf = conf
        self.native_dir = conf["s2aio_native_dir"]
        self.log_socket = conf.get("s2aio_log_socket", "")
        self.run_dir = conf["s2aio_run_dir"]
        self.seccomp_filter = conf.get("s2aio_seccomp_filter", "")
        self.sandbox_user = conf.get("sandbox_user", "").strip()
        self.where = os.path.basename(os.path.normpath(self.paths.host_root_dir))
        try:
            self.daemon_idle_timeout = daemon_idle_timeout(conf)
        except SandboxConfigError as exc:
            raise StorletRuntimeException(f"gateway config: {exc}")

    @property
    def pid_file(self) -> str:
        return os.path.join(self.run_dir, f"sandbox-{self.where}-{self.scope}.pid")

    def activate_storlet_daemon(self, sreq, cache_updated=True):
        with stage(sreq, "daemon"):
            return self._activate(sreq, cache_updated)

    def _activate(self, sreq, cache_updated):
        key = self.paths.get_host_storlet_pipe(sreq.storlet_main)
        seen = _status_seen.get(key)
        fresh = min(STATUS_FRESH_S, self.daemon_idle_timeout / 2)
        if not cache_updated and seen is not None and time.monotonic() - seen < fresh:
            sreq.s2aio_daemon_ready = sreq.s2aio_status_skipped = True
            return None
        # A start that fails or times out is the engine's fault, not the
        # storlet's: keep it apart from what the storlet does (see invocation_flow).
        _status_seen.pop(key, None)
        try:
            result = super().activate_storlet_daemon(sreq, cache_updated)
        except StorletTimeout:
            raise StorletRuntimeException("the storlet sandbox did not start in time")
        _status_seen[key] = time.monotonic()
        sreq.s2aio_daemon_ready = True
        sreq.s2aio_status_skipped = False
        return result

    def forget_status(self, sreq) -> None:
        _status_seen.pop(self.paths.get_host_storlet_pipe(sreq.storlet_main), None)

    def kill_orphans(self) -> int:
        """SIGKILL every process the sandbox's init adopted: storlets' engine
        never daemonizes, so an orphan is a storlet's leftover (e.g. a
        double-forked child that outlived its cancelled task)."""
        if self._only_the_factory():
            return 0
        init = self._init_pid()
        killed = 0
        for _ in range(5):  # an orphan's own children are adopted in turn
            inner = {pid: inner_pid(pid) for pid in child_pids(init)}
            orphans = [pid for pid, number in inner.items() if number not in (None, 2)]
            if not orphans:
                factories = [pid for pid, number in inner.items() if number == 2]
                if init is not None and len(factories) == 1:
                    _lone_factory[self.pid_file] = (_pid_file_stamp(self.pid_file), init,
                                                    factories[0])
                break
            for pid in orphans:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except OSError:
                    pass
            time.sleep(0.01)
        if killed:
            self.logger.warning("s2aio: killed %d leftover process(es) of scope %s"
                                % (killed, self.scope))
        return killed

    def _only_the_factory(self) -> bool:
        """The check of every call, in two syscalls: the sandbox's init still has
        exactly the child it had when it was last found to have no orphans (its
        factory, pid 2 inside). Any other answer takes the full walk."""
        known = _lone_factory.get(self.pid_file)
        if known is None:
            return False
        stamp, init, factory = known
        if _pid_file_stamp(self.pid_file) != stamp:  # a new sandbox
            return False
        return child_pids(init) == [factory]

    def _init_pid(self) -> int | None:
        """The host pid of the sandbox's init (bubblewrap's child, pid 1 inside)."""
        try:
            with open(self.pid_file) as f:
                bwrap = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        children = child_pids(bwrap)
        return children[0] if len(children) == 1 else None

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

    def _identity(self) -> tuple[int, int] | None:
        """(uid, gid) the sandbox runs as, or None for the server's own user."""
        if not self.sandbox_user:
            if os.geteuid() == 0:
                raise StorletRuntimeException(
                    "refusing to start a storlets sandbox as root: set sandbox_user "
                    "in the gateway config to an unprivileged user")
            return None
        try:
            entry = pwd.getpwnam(self.sandbox_user)
        except KeyError:
            raise StorletRuntimeException(
                f"sandbox_user {self.sandbox_user!r} does not exist on this host")
        if entry.pw_uid == 0 or entry.pw_gid == 0:
            raise StorletRuntimeException("sandbox_user must not be root")
        return entry.pw_uid, entry.pw_gid

    def _share_dirs(self, identity: tuple[int, int] | None) -> None:
        """Give the sandbox user its pipe dir, and read access to its storlets."""
        pipe_dir = self.paths.host_pipe_dir
        os.makedirs(pipe_dir, mode=0o700, exist_ok=True)
        os.makedirs(self.paths.host_storlet_base_dir, mode=0o750, exist_ok=True)
        if identity is None:
            return
        uid, gid = identity
        try:
            mounts.mount_pipe_tmpfs(pipe_dir, uid, gid)  # caps what a storlet puts there
        except mounts.MountError as exc:
            raise StorletRuntimeException(str(exc))
        os.chown(pipe_dir, uid, gid)
        os.chmod(pipe_dir, 0o700)
        share_read(self.paths.host_storlet_base_dir, gid)

    @property
    def cgroup_name(self) -> str:
        data_root = os.path.dirname(os.path.normpath(self.run_dir))
        return f"{cgroups.group_prefix(data_root)}{self.where}-{self.scope}"

    def _cgroup(self, limits: Limits) -> cgroups.SandboxCgroup | None:
        """The sandbox's own memory + pids group, or None (rlimits only) with a warning."""
        try:
            group = cgroups.plan(self.cgroup_name, limits.memory_mb, limits.processes)
            group.create()
            return group
        except OSError as exc:
            self.logger.warning("s2aio: no cgroup for the %s sandbox (%s); its rlimits "
                                "still apply" % (self.scope, exc))
            return None

    def sandbox_command(self, seccomp_fd: int, limits: Limits,
                        container_image_name: str) -> list[str]:
        """bubblewrap, prlimit, then storlets' daemon factory (through ``agent``)."""
        argv = bwrap_argv(
            pipe_dir=self.paths.host_pipe_dir,
            storlet_dir=self.paths.host_storlet_base_dir,
            native_dir=self.native_dir, log_socket=self.log_socket,
            sandbox_pipe_dir=self.paths.sandbox_pipe_dir,
            sandbox_storlet_dir=self.paths.sandbox_storlet_base_dir,
            seccomp_fd=seccomp_fd, limits=limits)
        landlock = self.gateway_conf.get("sandbox_landlock", "on").strip().lower()
        confine = confine_argv() if landlock in ("on", "true", "yes") else []
        idle = ["--setenv", IDLE_ENV, str(self.daemon_idle_timeout)]
        if config_true_value(self.gateway_conf.get("stage_timings", "off")):
            idle += ["--setenv", STAGES_ENV, "1"]  # daemons stamp their answers
        return argv + idle + limits.prlimit_argv() + confine + [
            SANDBOX_PYTHON, "-m", AGENT_MODULE, "factory",
            self.paths.sandbox_factory_pipe, self.storlet_daemon_factory_debug_level,
            self._get_container_name(container_image_name)]

    def _restart(self, container_image_name):
        for tool in ("bwrap", PRLIMIT):
            if shutil.which(tool) is None:
                raise StorletRuntimeException(f"{tool} is not installed")
        try:
            limits = Limits.from_conf(self.gateway_conf)
        except SandboxConfigError as exc:
            raise StorletRuntimeException(f"gateway config: {exc}")
        identity = self._identity()
        self._stop_existing()
        self._share_dirs(identity)
        self._clear_pipes()
        try:
            # Fail closed: no filter, no sandbox.
            seccomp_fd = os.open(self.seccomp_filter, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise StorletRuntimeException(
                f"the sandbox's seccomp filter is unreadable ({exc.strerror}): "
                "restart s2aio to rebuild it")
        argv = self.sandbox_command(seccomp_fd, limits, container_image_name)
        os.makedirs(self.run_dir, exist_ok=True)
        group = self._cgroup(limits)
        try:
            # Own session + process group so s2aio stop can end the whole tree.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, close_fds=True,
                                    pass_fds=(seccomp_fd,), start_new_session=True,
                                    env=SANDBOX_HOST_ENV,  # bubblewrap's own; nothing of ours
                                    preexec_fn=_enter_sandbox(group, identity))
        except (OSError, subprocess.SubprocessError) as exc:
            raise StorletRuntimeException(f"cannot start the sandbox: {exc}")
        finally:
            os.close(seccomp_fd)
        with open(self.pid_file, "w") as f:
            f.write(f"{proc.pid} {process_start_time(proc.pid)}")
        # Reap it when it ends so a killed sandbox leaves no zombie behind.
        _reap_later(proc)
        self.logger.info("s2aio: started sandbox for scope %s (pid %d)" % (self.scope, proc.pid))


class DeadlineReader(FileDescriptorIterator):
    """Upstream's reader of a storlet's output, with the whole call bounded.

    Upstream waits up to 10 s per read and, when the storlet goes silent,
    ends the response without stopping the task, which then runs on. Here
    every read waits at most until the call's deadline (``storlet_timeout``
    after it began); past it, or when the storlet goes silent, the task is
    cancelled (its daemon kills the task process) and the response ends.
    """

    def __init__(self, fd, deadline, cancel, logger, storlet_id, on_give_up=None):
        super().__init__(fd, max(0.0, deadline - time.monotonic()), cancel)
        self.deadline = deadline
        self.logger = logger
        self.storlet_id = storlet_id
        self.on_give_up = on_give_up

    def next(self, size=64 * 1024):
        self.timeout = self.deadline - time.monotonic()
        if self.timeout <= 0:
            self._give_up()
            raise StopIteration("storlet_timeout")
        try:
            return super().next(size)
        except StopIteration:
            if self.closed:  # upstream closes when the wait ran out
                self._give_up()
            else:  # the storlet's end of output
                self.close()
            raise

    __next__ = next

    def _give_up(self) -> None:
        self.logger.warning("storlet %s exceeded storlet_timeout while streaming; task "
                            "cancelled" % self.storlet_id)
        try:
            self.cancel_func()  # an SBus request: bounded (bound_sbus_requests)
        except StorletRuntimeException:
            pass  # it ended meanwhile
        self.cancel_func = None
        self.close()
        if self.on_give_up is not None:
            self.on_give_up()


def bound_sbus_requests(seconds: float = SBUS_REQUEST_TIMEOUT_S,
                        late_answer: float = SBUS_LATE_ANSWER_S) -> None:
    """Make storlets' ``SBusClient`` send with s2aio's own client, with a deadline
    on every request of this process (idempotent).

    ``SBusClient._request`` is replaced by ``sbus_request`` (``s2aio.sbus_client``:
    the same datagram, sent from Python, in the caller's green thread). A request
    past ``seconds`` fails as upstream's own I/O errors do, which its callers
    already handle. Its reply pipe then stays open for up to ``late_answer``
    seconds in a green thread of its own, so that a late answer finds it open:
    closing it would kill the server that answers (see ``SBUS_LATE_ANSWER_S``). A
    task that a late ``execute`` answer names is cancelled: its caller has gone
    (and left its input open), so it would only hold one of the daemon's slots.
    """
    from storlets.sbus.client import client as sbus_client

    if getattr(sbus_client.SBusClient._request, "s2aio_bounded", False):
        return

    def request(self, command, params=None, task_id=None, extra_fds=None):
        return sbus_request(self, command, params, task_id, extra_fds,
                            seconds=seconds, late_answer=late_answer)

    request.s2aio_bounded = True
    sbus_client.SBusClient._request = request


def sbus_request(client, command: str, params=None, task_id=None, extra_fds=None, *,
                 seconds: float, late_answer: float):
    """One SBus request and its answer (an upstream ``SBusResponse``)."""
    import eventlet
    from storlets.sbus.client.exceptions import SBusClientIOError, SBusClientSendError
    from storlets.sbus.datagram import SBusFileDescriptor, build_datagram
    from storlets.sbus.file_description import SBUS_FD_SERVICE_OUT

    from . import sbus_client as wire

    read_fd, write_fd = os.pipe()
    stamps = getattr(client, "s2aio_stamps", None)
    deadline = eventlet.Timeout(seconds)
    try:
        try:
            try:
                datagram = build_datagram(
                    command, [SBusFileDescriptor(SBUS_FD_SERVICE_OUT, write_fd)]
                    + (extra_fds or []), params, task_id)
                message = wire.encode(datagram.serialized_cmd_params,
                                      datagram.serialized_metadata, datagram.fds)
                _stamp(stamps, "built")
                wire.send(client.socket_path, message, datagram.fds)
                _stamp(stamps, "sent")
            except OSError as exc:
                raise SBusClientSendError("failed to send command %s to socket %s: %s"
                                          % (command, client.socket_path, exc.strerror))
            finally:
                os.close(write_fd)  # the server has its own copy now
            answer = wire.read_answer(read_fd)
            _stamp(stamps, "answered")
            if stamps is not None:
                stamps.update(daemon_stamps(answer))
        except eventlet.Timeout as exc:
            # Ours, or the caller's own (upstream's StorletTimeout): either way
            # the reply pipe stays open for the answer.
            eventlet.spawn_n(_late_answer, client, command, read_fd, late_answer)
            read_fd = None
            if exc is not deadline:
                raise
            raise SBusClientIOError("no answer from %s within %gs"
                                    % (client.socket_path, seconds)) from None
        except OSError as exc:
            raise SBusClientIOError("failed to read the answer of %s: %s"
                                    % (client.socket_path, exc.strerror))
    finally:
        deadline.cancel()
        if read_fd is not None:
            os.close(read_fd)
    return client._parse_response(answer.decode("utf-8", "replace"))


def _stamp(stamps: dict | None, name: str) -> None:
    if stamps is not None:
        stamps[name] = time.monotonic()


def daemon_stamps(answer: bytes) -> dict[str, float]:
    """The daemon's own CLOCK_MONOTONIC stamps in its answer (``stage_timings`` on)."""
    from . import sbus_client as wire

    got = (wire.parse_answer(answer) or {}).get(STAMPS_KEY)
    if not isinstance(got, dict):
        return {}
    return {f"daemon_{k}": float(v) for k, v in got.items()
            if isinstance(k, str) and isinstance(v, (int, float))}


# The execute round trip's sub-stages (ms): gateway side, then the daemon's, from
# the stamps both took on the same clock (CLOCK_MONOTONIC is not namespaced).
ROUND_TRIP = (
    ("rt_build", "began", "built"),              # SBusClient, fds, datagram, JSON
    ("rt_send", "built", "sent"),                # sendmsg
    ("rt_to_daemon", "sent", "daemon_received"),  # the daemon wakes, recvmsg
    ("rt_handoff", "daemon_received", "daemon_handed"),  # the command, a task id
    ("rt_reply", "daemon_handed", "daemon_replied"),     # to the spare, which answers
    ("rt_to_gateway", "daemon_replied", "answered"),     # green thread wakes, reads
)


def round_trip_stages(stamps: dict[str, float]) -> dict[str, float]:
    return {name: (stamps[b] - stamps[a]) * 1000 for name, a, b in ROUND_TRIP
            if a in stamps and b in stamps}


def _late_answer(client, command: str, read_fd: int, late_answer: float) -> None:
    """Wait for the answer of a request its caller gave up on (past ``late_answer``
    the server is taken for hung), then close its pipe; cancel a task it started."""
    import eventlet
    from storlets.sbus import command as sbus_cmd

    from . import sbus_client as wire

    try:
        with eventlet.Timeout(late_answer, False):
            answer = wire.parse_answer(wire.read_answer(read_fd)) or {}
            if (command == sbus_cmd.SBUS_CMD_EXECUTE and answer.get("status")
                    and answer.get("task_id")):
                client.cancel(answer["task_id"])
    except Exception:
        pass  # nobody to tell: the caller has had its error; the task may have ended
    finally:
        os.close(read_fd)


@contextlib.contextmanager
def stage(sreq, name: str):
    """Time one stage of a call into ``sreq.s2aio_stages`` (ms), when it is measured."""
    stages = getattr(sreq, "s2aio_stages", None)
    if stages is None:
        yield
        return
    began = time.perf_counter()
    try:
        yield
    finally:
        stages[name] = stages.get(name, 0.0) + (time.perf_counter() - began) * 1000


class PipeWriter:
    """Writes a storlet's input into its pipe, green, and stops at a closed pipe.

    Upstream writes through ``os.fdopen(fd, "wb")``: its buffer is flushed when
    it closes, and under eventlet a flush into a pipe the storlet closed without
    reading retries EPIPE forever (a proxy thread spinning at a whole core). Here
    every write is unbuffered and a closed pipe raises ``BrokenPipeError``, which
    upstream's writer already handles (it logs and closes the fd once)."""

    def __init__(self, fd: int) -> None:
        import eventlet.patcher

        self.fd = fd
        self._write = eventlet.patcher.original("os").write
        os.set_blocking(fd, False)

    def write(self, data: bytes) -> None:
        from eventlet.hubs import trampoline

        view = memoryview(data)
        while view:
            try:
                view = view[self._write(self.fd, view):]
            except BlockingIOError:
                trampoline(self.fd, write=True)


def install_protocol() -> None:
    """Upstream's invocation protocol with ``PipeWriter`` for the inputs, and its
    execute round trip and wait for metadata timed when a call is measured
    (``stage_timings``). Upstream's container gateway builds the protocol by this
    module-level name; it is the one thing replaced there."""
    from storlets.gateway.gateways.container import gateway as container_gateway
    from storlets.gateway.gateways.container.runtime import StorletInvocationProtocol
    from storlets.sbus.client import SBusClient
    from storlets.sbus.client.exceptions import SBusClientException, SBusClientIOError

    if getattr(container_gateway.StorletInvocationProtocol, "s2aio", False):
        return

    class S2aioInvocationProtocol(StorletInvocationProtocol):
        s2aio = True

        @contextlib.contextmanager
        def _open_writer(self, fd):
            yield PipeWriter(fd)  # upstream closes the fd after, once

        def _send_execute_command(self):
            # Upstream's, with the round trip's sub-stages timed when measured.
            stamps = {} if getattr(self.srequest, "s2aio_stages", None) is not None else None
            with stage(self.srequest, "execute"):
                _stamp(stamps, "began")
                client = SBusClient(self.storlet_pipe_path)
                client.s2aio_stamps = stamps
                try:
                    resp = client.execute(self.srequest.params, self.remote_fds)
                except SBusClientIOError:
                    # Sent, but no answer in time: it may still run, so no retry.
                    raise StorletRuntimeException(EXECUTE_UNANSWERED)
                except SBusClientException:  # refused, or the pipe closed unanswered
                    raise StorletRuntimeException(EXECUTE_NOT_SENT)
                if not resp.status:
                    raise StorletRuntimeException(EXECUTE_NOT_SENT)
                if not resp.task_id:
                    raise StorletRuntimeException("Missing task id")
                self.task_id = resp.task_id
            if stamps:
                self.srequest.s2aio_stages.update(round_trip_stages(stamps))

        def _read_metadata(self):
            with stage(self.srequest, "metadata"):
                return super()._read_metadata()

        def _invoke(self):  # the storlet's log file, the pipes, and the execute
            with stage(self.srequest, "invoke"):
                return super()._invoke()

        def communicate(self):  # _invoke, the metadata, then the first output bytes
            with stage(self.srequest, "protocol"):
                return super().communicate()

    container_gateway.StorletInvocationProtocol = S2aioInvocationProtocol


@functools.cache
def quiet_c_syslog() -> None:
    """Keep debug and info messages of C libraries out of this process's syslog.

    libsbus (storlets' SBus client, loaded by the gateway) calls syslog() at debug
    level for every message it sends, and the Swift servers never set a syslog
    mask: with no /dev/log, glibc writes each one to /dev/console (LOG_CONS, set by
    liberasurecode), 1-3 ms per storlet call. Warnings and errors still go out.
    (Swift's own logging goes through Python's logging, not syslog(3).)
    """
    import ctypes

    log_warning = 4
    try:
        ctypes.CDLL(None).setlogmask((1 << (log_warning + 1)) - 1)  # LOG_UPTO(LOG_WARNING)
    except (OSError, AttributeError):
        pass


def _enter_sandbox(group: cgroups.SandboxCgroup | None, identity: tuple[int, int] | None):
    """The child's last steps before it execs bubblewrap: join the sandbox's
    cgroup while still privileged, then become the sandbox user for good."""
    def enter() -> None:
        if group is not None:
            group.join()
        if identity is not None:
            uid, gid = identity
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
    return enter


def share_read(top: str, gid: int) -> None:
    """Let group ``gid`` read ``top`` and everything under it (never write)."""
    for root, dirs, files in os.walk(top):
        for name, mode in [(root, 0o750)] + [(os.path.join(root, f), None) for f in files]:
            try:
                st = os.lstat(name)
                if not os.path.islink(name):
                    os.chown(name, -1, gid)
                    os.chmod(name, mode if mode is not None else
                             (st.st_mode & 0o700) | ((st.st_mode & 0o500) >> 3))
            except OSError:
                pass


def check_request_names(sreq) -> None:
    """Every name of ``sreq`` that upstream joins into a host path."""
    check_engine_name(sreq.storlet_id, "storlet name")
    check_engine_name(sreq.storlet_main, "storlet main class")
    for dep in sreq.dependencies:
        check_engine_name(dep, "dependency name")


def refuse_unsafe_names(sreq) -> None:
    """``check_request_names``, as the 400 the client sees, before any path is built."""
    from swift.common.swob import HTTPBadRequest

    try:
        check_request_names(sreq)
    except UnsafeNameError as exc:
        raise HTTPBadRequest(body=str(exc).encode("utf-8"))


class SafeNames:
    """Gateway mixin: storlet, main class and dependency names are checked at
    registration, as upstream joins them into host paths (both s2aio gateways)."""

    @classmethod
    def validate_storlet_registration(cls, params, name):
        check_engine_name(name, "storlet name")
        super().validate_storlet_registration(params, name)
        check_engine_name(params.get("Main", ""), "storlet main class")
        for dep in (params.get("Dependency") or "").split(","):
            if dep:
                check_engine_name(dep, "dependency name")

    @classmethod
    def validate_dependency_registration(cls, params, name):
        check_engine_name(name, "dependency name")
        super().validate_dependency_registration(params, name)


def _reap_later(proc: subprocess.Popen) -> None:
    import eventlet

    def wait() -> None:
        while proc.poll() is None:
            eventlet.sleep(1)

    eventlet.spawn_n(wait)


class BwrapStorletGateway(SafeNames, StorletGatewayContainer):
    sandbox = BwrapRunTimeSandbox

    def __init__(self, conf, logger, scope):
        # The scope names the pipe and storlet dirs of an account.
        check_engine_name(scope, "storlet scope")
        super().__init__(conf, logger, scope)
        bound_sbus_requests()
        quiet_c_syslog()
        self.stage_timings = config_true_value(conf.get("stage_timings", "off"))
        install_protocol()

    def invocation_flow(self, sreq):
        from swift.common.swob import HTTPUnprocessableEntity

        refuse_unsafe_names(sreq)
        deadline = time.monotonic() + self.storlet_timeout
        if self.stage_timings:
            sreq.s2aio_stages = {}
        began = time.perf_counter()
        sandbox = self.sandbox(self.scope, self.conf, self.logger)
        with stage(sreq, "orphans"):
            sandbox.kill_orphans()  # what an earlier call of this scope left behind
        try:
            sresp = self._flow(sreq, sandbox, deadline)
        except StorletTimeout:
            # Upstream has already cancelled the task (its process is killed).
            # A 4xx, not upstream's 500: the proxy relays it with this body
            # instead of a bare 503, and clients do not retry it.
            sandbox.kill_orphans()
            self.logger.warning("storlet %s exceeded storlet_timeout=%gs; task cancelled"
                                % (sreq.storlet_id, self.storlet_timeout))
            raise HTTPUnprocessableEntity(body=(
                "storlet %s ran longer than the engine's storlet_timeout of %g s and was "
                "cancelled; send a smaller input or ask the operator for a longer timeout"
                % (sreq.storlet_id, self.storlet_timeout)).encode("utf-8"))
        except StorletRuntimeException:
            if not getattr(sreq, "s2aio_daemon_ready", False):
                raise  # the engine failed: upstream's 503
            # The storlet itself failed (it raised, exited, or wrote no valid
            # metadata). A 4xx: a 5xx would make the proxy error-limit this
            # node for every account after a few such calls.
            sandbox.kill_orphans()
            raise HTTPUnprocessableEntity(body=(
                "storlet %s failed before it produced its output (it raised, exited or "
                "sent invalid metadata); run it with X-Storlet-Generate-Log: True to see "
                "its log" % sreq.storlet_id).encode("utf-8"))
        if self.stage_timings:
            self._log_stages(sreq, began)
        data = sresp.data
        if data.has_fd and data.cancel is not None:
            sresp.data = StorletData(data.user_metadata, data_iter=DeadlineReader(
                data.data_fd, deadline, data.cancel, self.logger, sreq.storlet_id,
                on_give_up=sandbox.kill_orphans))
        return sresp

    def _log_stages(self, sreq, began: float) -> None:
        stages = dict(getattr(sreq, "s2aio_stages", {}))
        stages["to_output"] = (time.perf_counter() - began) * 1000
        stages["status_skipped"] = float(bool(getattr(sreq, "s2aio_status_skipped", False)))
        self.logger.info("s2aio stages %s: %s" % (sreq.storlet_main, " ".join(
            f"{name}={ms:.3f}" for name, ms in stages.items())))

    def _flow(self, sreq, sandbox: BwrapRunTimeSandbox, deadline: float):
        """Upstream's invocation flow; when the execute could not be sent (the daemon
        gone or going), again with the daemon's status asked (``GONE_RETRIES``)."""
        import eventlet

        for attempt, pause in enumerate((None,) + GONE_RETRIES):
            if pause is not None:
                if time.monotonic() + pause >= deadline:
                    break
                if attempt == 1:
                    self.logger.info("s2aio: the %s daemon was gone; starting it"
                                     % sreq.storlet_main)
                eventlet.sleep(pause)
                sandbox.forget_status(sreq)
                sreq.s2aio_daemon_ready = sreq.s2aio_status_skipped = False
            try:
                return super().invocation_flow(sreq)
            except StorletRuntimeException as exc:
                if str(exc) != EXECUTE_NOT_SENT:
                    raise
        sreq.s2aio_daemon_ready = False  # the engine's fault: upstream's 503
        raise StorletRuntimeException(EXECUTE_NOT_SENT)

    def update_container_from_cache(self, sreq):
        with stage(sreq, "cache"):
            return self._update_from_cache(sreq)

    def _update_from_cache(self, sreq):
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
        updated = super().update_container_from_cache(sreq)
        user = self.conf.get("sandbox_user", "").strip()
        if updated and user:
            share_read(self.paths.get_host_storlet_dir(sreq.storlet_main),
                       pwd.getpwnam(user).pw_gid)
        return updated

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
