"""The engine's entry inside a storlets sandbox: storlets' own daemon factory and
daemons, with four costs of their defaults taken out, and the daemons' SBus
requests read in Python.

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
- **Task processes forked ahead.** Upstream forks the task process between the
  execute request and its answer. Here the daemon forks the next call's task
  process ``SPARE_DELAY_S`` after it answers (at once when a call found none).
  An execute request goes to the spare as it came (the raw texts and fds, over
  a socket pair) and the spare answers it: the daemon parses only the command,
  and neither builds upstream's datagram nor writes the answer.
- **Warm daemons.** Upstream's daemons and factory exit after 300 s without a
  request; the next call pays a restart. Here they wait ``S2AIO_IDLE_TIMEOUT``
  seconds (the gateway's ``daemon_idle_timeout``).
- **No fixed sleep at daemon start.** Upstream's factory sleeps 1 s after it
  spawns a daemon, then pings it once a second. Here each of those sleeps ends
  as soon as the daemon's socket exists (within the same second at most).
- **A cancel keeps the daemon.** Upstream's daemon ends after a cancel, and the
  next call found it exiting (see ``cancel``).
- **The daemon's loop reads SBus in Python** (libsbus's datagram, see
  ``receive_sbus``), not through libsbus's ctypes calls: a malformed datagram
  (anything in the sandbox can send one) is dropped instead of ending the
  daemon, and a task process closes the daemon's socket before the storlet runs.
  The factory keeps upstream's loop.
"""
from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import uuid

IDLE_ENV = "S2AIO_IDLE_TIMEOUT"
# Set (to "1") when the gateway logs stage timings: daemons then add their own
# CLOCK_MONOTONIC stamps to each answer, under STAMPS_KEY (upstream's client
# ignores keys it does not know).
STAGES_ENV = "S2AIO_STAGE_TIMINGS"
STAMPS_KEY = "s2aio_stamps"
DEFAULT_IDLE_S = 3600.0
SOCKET_POLL_S = 0.005
# A daemon forks the next call's task process this long after its answer (or
# earlier, when a request comes first), so the fork does not compete for the CPU
# with the task that just got its request.
SPARE_DELAY_S = 0.002
# A socket that exists but does not answer yet: wait this long between pings.
PING_PAUSE_S = 0.05
# fds of one execute request: input, output, metadata, logger, service out, and
# one per extra resource (storlets' proxy handler caps those by configuration).
MAX_TASK_FDS = 253
# libsbus's datagram (see s2aio/sbus_client.py, the gateway's side): three C ints
# (n_fds, metadata length, params length), the two JSON texts, a NUL; fds in
# SCM_RIGHTS. Its receiver reads at most 4096 bytes and 4096 fds.
SBUS_HEADER = struct.Struct("=iii")
SBUS_MAX_MESSAGE = 4096
SBUS_MAX_FDS = 4096


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


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def send_request(sock, fds: list[int], texts: list[str]) -> None:
    """One request to a spare task process: its fds, then its texts (each length-prefixed)."""
    parts = [t.encode("utf-8") for t in texts]
    body = b"".join(struct.pack("!I", len(p)) + p for p in parts)
    socket.send_fds(sock, [struct.pack("!I", len(body))], fds)
    sock.sendall(body)


def receive_request(sock) -> tuple[list[int], list[str]] | None:
    """What ``send_request`` sent, or None when the daemon closed the socket."""
    head, fds, _, _ = socket.recv_fds(sock, 4, MAX_TASK_FDS)
    if len(head) < 4:
        for fd in fds:
            os.close(fd)
        return None
    (size,) = struct.unpack("!I", head)
    body = bytearray()
    while len(body) < size:
        chunk = sock.recv(size - len(body))
        if not chunk:
            return None
        body += chunk
    texts, at = [], 0
    while at < size:
        (length,) = struct.unpack_from("!I", body, at)
        texts.append(body[at + 4:at + 4 + length].decode("utf-8"))
        at += 4 + length
    return fds, texts


def is_execute(params_text: str) -> bool:
    """Whether an SBus request's params JSON is an execute command (a hostile one: no)."""
    try:
        params = json.loads(params_text)
    except Exception:  # ValueError, RecursionError (deep nesting fits in 4 KiB)
        return False
    return isinstance(params, dict) and params.get("command") == "SBUS_CMD_EXECUTE"


def execute_answer(task_id: str, stamps: dict[str, float] | None = None) -> bytes:
    """Upstream's answer to an execute (``CommandSuccess("OK", task_id=...)``), with the
    stage stamps when the gateway times calls."""
    answer: dict = {"status": True, "message": "OK", "task_id": task_id}
    if stamps is not None:
        answer[STAMPS_KEY] = stamps
    return json.dumps(answer).encode("utf-8")


def sbus_socket(path: str) -> socket.socket:
    """The server's SBus socket, made as libsbus's ``sbus_create`` makes it."""
    try:
        os.unlink(path)
    except OSError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    sock.bind(path)
    os.chmod(path, 0o777)  # the gateway may run as another user
    return sock


def parse_sbus_message(message: bytes, fds: list[int]) -> tuple[list[int], str, str]:
    """(fds, metadata JSON, params JSON) of one datagram; ValueError if malformed."""
    if len(message) < SBUS_HEADER.size:
        raise ValueError("short SBus message")
    n_fds, md_len, params_len = SBUS_HEADER.unpack_from(message)
    body = message[SBUS_HEADER.size:]
    if n_fds != len(fds) or md_len < 0 or params_len < 0 or md_len + params_len > len(body):
        raise ValueError("inconsistent SBus message")
    return fds, body[:md_len].decode("utf-8"), body[md_len:md_len + params_len].decode("utf-8")


def receive_sbus(sock: socket.socket) -> tuple[list[int], str, str] | None:
    """One datagram's (fds, metadata, params), or None (and its fds closed) when it is
    not a well-formed SBus message: anything in the sandbox can send to this socket."""
    message, ancillary, flags, _ = sock.recvmsg(
        SBUS_MAX_MESSAGE, socket.CMSG_SPACE(SBUS_MAX_FDS * 4))
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds.extend(struct.unpack(f"{usable // 4}i", data[:usable]))
    try:
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise ValueError("truncated SBus message")
        return parse_sbus_message(message, fds)
    except (ValueError, UnicodeDecodeError, struct.error):
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        return None


def fast_daemon_class():
    from storlets.agent.daemon.server import StorletDaemon
    from storlets.sbus.datagram import build_datagram_from_raw_message

    class FastStorletDaemon(StorletDaemon):
        """Task processes forked ahead: the fork (~1 ms of page tables) happens after
        an answer, not between a request and its answer. A spare is a fork of the
        daemon like upstream's task process, made a call earlier; it waits for one
        execute request, answers it, runs it, then ends. Any trouble handing it
        over: upstream's fork."""

        sbus_sock: socket.socket | None = None  # the daemon's own, once its loop runs

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.listen_timeout = idle_timeout()
            self.spare: tuple[int, socket.socket] | None = None
            self.spare_due: float | None = None  # when to fork the next spare
            self.timed = os.environ.get(STAGES_ENV) == "1"
            self.stamps: dict[str, float] = {}

        def main_loop(self):
            """Upstream's loop (``SBusServer.main_loop``: same socket, signals, idle
            exit and dispatch), with the datagram read in Python rather than through
            libsbus's ctypes calls; a malformed one is dropped, not fatal."""
            from storlets.agent.common.server import EXIT_FAILURE, EXIT_SUCCESS

            try:
                sock = sbus_socket(self.sbus_path)
            except OSError:
                self.logger.error("Failed to create SBus. exiting.")
                return EXIT_FAILURE
            signal.signal(signal.SIGHUP, self._graceful_shutdown)
            signal.signal(signal.SIGTERM, self._force_shutdown)
            idle_since = time.monotonic()
            status = EXIT_SUCCESS
            self.sbus_sock = sock
            with sock:
                while self.running:
                    wait = self.loop_timeout if self.spare_due is None else max(
                        0.0, self.spare_due - time.monotonic())
                    ready, _, _ = select.select([sock], [], [], wait)
                    if not ready:
                        if self.spare_due is not None:
                            self._fork_spare()
                        elif time.monotonic() - idle_since >= self.listen_timeout:
                            break
                        continue
                    idle_since = time.monotonic()
                    try:
                        request = receive_sbus(sock)
                    except OSError:
                        self.logger.exception("Failed to receive message. exiting")
                        status = EXIT_FAILURE
                        break
                    if request is None:
                        self.logger.warning("Dropped a malformed SBus message")
                        continue
                    if self.timed:
                        self.stamps = {"received": time.monotonic()}
                    if self.spare is not None and is_execute(request[2]) \
                            and self._forward(*request):
                        continue
                    try:
                        dtg = build_datagram_from_raw_message(*request)
                    except Exception:  # whatever a hostile sender's JSON makes upstream raise
                        self.logger.warning("Dropped an invalid SBus request")
                        for fd in request[0]:
                            self._safe_close(fd)
                        continue
                    if not self.dispatch_command(dtg):
                        break
            self._terminate()
            return status

        def _execute(self, dtg) -> None:
            # Only ever called in a task process: the storlet must not read the
            # daemon's requests.
            if self.sbus_sock is not None:
                self.sbus_sock.close()
            try:
                super()._execute(dtg)
            finally:
                _flush_stdio()
                os._exit(0)

        def dispatch_command(self, dtg):
            missed = self.spare is None and dtg.command == "SBUS_CMD_EXECUTE"
            keep_going = super().dispatch_command(dtg)
            if keep_going and self.spare is None and self.spare_due is None \
                    and dtg.command != "SBUS_CMD_CANCEL":
                # The answer is out: fork the next call's task process once this
                # call's task had the CPU to start (on 2 cores a fork right now
                # delays it), or at once when calls come faster than that.
                self.spare_due = time.monotonic() + (0.0 if missed else SPARE_DELAY_S)
            return keep_going

        def _forward(self, fds: list[int], str_md: str, str_params: str) -> bool:
            """An execute request, as it came, to the spare task process, which
            answers it itself: the daemon builds no datagram and writes no answer.
            False (the fds still the daemon's) when the spare cannot take it."""
            pid, sock = self.spare
            self.spare = None
            while len(self.task_id_to_pid) >= self.pool_size:
                self._wait_child_process()
            task_id = str(uuid.uuid4())[:8]
            texts = [task_id, str_md, str_params]
            if self.timed:
                self.stamps["handed"] = time.monotonic()
                texts.append(json.dumps(self.stamps))
            try:
                with sock:
                    send_request(sock, fds, texts)
            except OSError:
                self._end_spare(pid)
                return False
            self.task_id_to_pid[task_id] = pid
            for fd in fds:  # the task has its own copies now, the answer's too
                self._safe_close(fd)
            self.spare_due = time.monotonic() + SPARE_DELAY_S
            return True

        def cancel(self, dtg):
            """Upstream's cancel (kill the task), but the daemon stays: upstream's
            answer ends its loop, and until its process is gone the factory still
            counts it running while its socket refuses the next call. The task is
            reaped here (upstream would leave it a zombie until the daemon ends) and
            the spare ended: after a cancel only the daemon remains, and the next
            call's task is a fresh fork."""
            pid = self.task_id_to_pid.get(dtg.task_id)
            resp = super().cancel(dtg)
            if pid is not None and resp.status:
                try:
                    os.waitpid(pid, 0)  # SIGKILLed: at once
                except OSError:
                    pass
            spare, self.spare = self.spare, None
            if spare is not None:
                spare[1].close()
                self._end_spare(spare[0])
            self.spare_due = None
            resp.iterable = True
            return resp

        cancel.is_command_handler = True

        def _respond(self, outfile, resp) -> None:
            if not self.timed:
                return super()._respond(outfile, resp)
            self.stamps["replied"] = time.monotonic()
            answer = json.loads(resp.report_message)
            answer[STAMPS_KEY] = self.stamps
            try:
                outfile.write(json.dumps(answer).encode("utf-8"))
            except OSError:
                self.logger.exception("Unable to return response to client")

        def _fork_spare(self) -> None:
            self.spare_due = None
            try:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            except OSError:
                return
            # A task lives one call: no collector pass in it, whose walk over the
            # daemon's objects would copy their pages (fork's copy-on-write).
            gc.freeze()
            try:
                pid = os.fork()
            except OSError:
                gc.unfreeze()
                ours.close()
                theirs.close()
                return
            if pid == 0:
                gc.disable()
                ours.close()
                self._run_spare(theirs)  # never returns
            gc.unfreeze()
            theirs.close()
            self.spare = (pid, ours)

        def _run_spare(self, sock) -> None:
            code = 0
            try:
                request = receive_request(sock)
                sock.close()
                if request is not None:
                    fds, texts = request
                    task_id, str_md, str_params = texts[:3]
                    stamps = json.loads(texts[3]) if len(texts) > 3 else None
                    dtg = build_datagram_from_raw_message(fds, str_md, str_params)
                    if stamps is not None:
                        stamps["replied"] = time.monotonic()
                    with os.fdopen(dtg.service_out_fd, "wb") as answer:
                        answer.write(execute_answer(task_id, stamps))
                    self._execute(dtg)  # ends the process
            except BaseException:
                code = 1
            _flush_stdio()
            os._exit(code)

        def _end_spare(self, pid: int) -> None:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass

        def _terminate(self):
            spare, self.spare = self.spare, None
            if spare is not None:
                spare[1].close()  # the spare reads the end and exits
                try:
                    os.waitpid(spare[0], 0)
                except OSError:
                    pass
            super()._terminate()

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
            if os.environ.get(STAGES_ENV):
                env[STAGES_ENV] = os.environ[STAGES_ENV]
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
