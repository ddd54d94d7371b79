"""An SBus request the gateway gave up on must not kill the server that answers it late.

storlets 18's servers (daemon factory, storlet daemons) write their answer when
they close the reply pipe, outside their own ``IOError`` guard: answering a
request whose reply pipe the gateway already closed raises ``BrokenPipeError``
out of the main loop, and the process exits. For the daemon factory that is the
whole sandbox (bubblewrap's init ends with it) and every task running in it.
``bound_sbus_requests`` gives up on slow answers, so it must keep the reply pipe
open for a late one. Real libsbus and storlets' own ``SBusServer`` on both sides.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# storlets' own server loop; its first ping is answered after ``delay`` seconds,
# as the daemon factory answers while it starts a daemon (its 1 s sleep and pings).
SLOW_SERVER = r"""
import logging, os, sys, time
from storlets.sbus.sbus import SBus
SBus.SBUS_SO_NAME = sys.argv[2]
from storlets.agent.common.server import SBusServer, CommandSuccess, command_handler

class SlowServer(SBusServer):
    pings = 0

    @command_handler
    def ping(self, dtg):
        self.pings += 1
        if self.pings == 1:
            time.sleep(float(sys.argv[3]))
        return CommandSuccess("OK")

    @command_handler
    def execute(self, dtg):  # a task started late, as a daemon with a full pool does
        time.sleep(float(sys.argv[3]))
        for fd in dtg.invocation_fds:
            os.close(fd)
        return CommandSuccess("OK", task_id="task-1")

    @command_handler
    def cancel(self, dtg):  # then ends its loop, as storlets' daemon does
        print("cancelled", dtg.task_id, flush=True)
        return CommandSuccess("OK", False)

    def _terminate(self):
        pass

logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
sys.exit(SlowServer(sys.argv[1], logging.getLogger("slow")).main_loop())
"""

# The gateway's side, patched by eventlet as in Swift: one ping it gives up on,
# then, once the late answer was written, one it waits for.
GATEWAY_SIDE = r"""
import sys, time
import storlets.gateway.gateways.container.runtime  # patches the process, as in Swift
from storlets.sbus.client import SBusClient
from storlets.sbus.client.exceptions import SBusClientException, SBusClientIOError
from storlets.sbus.sbus import SBus
from s2aio import gateway

SBus.SBUS_SO_NAME = sys.argv[2]
gateway.bound_sbus_requests(float(sys.argv[3]))
client = SBusClient(sys.argv[1])
try:
    client.ping()
    print("first: answered in time")
except SBusClientIOError:
    print("first: gave up")
time.sleep(float(sys.argv[4]))  # the server answers the abandoned request meanwhile
try:
    print("second:", "answered" if client.ping().status else "refused")
except SBusClientException as exc:
    print("second: %s: %s" % (type(exc).__name__, exc))
"""


# The gateway's side of an execute it gives up on (fds as the gateway sends them).
GATEWAY_EXECUTE = r"""
import os, sys, time
import storlets.gateway.gateways.container.runtime  # patches the process, as in Swift
from storlets.sbus import file_description as sbus_fd
from storlets.sbus.client import SBusClient
from storlets.sbus.datagram import SBusFileDescriptor
from storlets.sbus.client.exceptions import SBusClientIOError
from storlets.sbus.sbus import SBus
from s2aio import gateway

SBus.SBUS_SO_NAME = sys.argv[2]
gateway.bound_sbus_requests(float(sys.argv[3]))
pipes = [os.pipe() for _ in range(4)]
fds = [SBusFileDescriptor(sbus_fd.SBUS_FD_INPUT_OBJECT, pipes[0][0]),
       SBusFileDescriptor(sbus_fd.SBUS_FD_OUTPUT_OBJECT, pipes[1][1]),
       SBusFileDescriptor(sbus_fd.SBUS_FD_OUTPUT_OBJECT_METADATA, pipes[2][1]),
       SBusFileDescriptor(sbus_fd.SBUS_FD_LOGGER, pipes[3][1])]
try:
    SBusClient(sys.argv[1]).execute({}, fds)
    print("execute: answered in time")
except SBusClientIOError:
    print("execute: gave up")
time.sleep(float(sys.argv[4]))  # the late answer arrives; its task is cancelled
"""


def start_server(sock: Path, libsbus: str, delay: float) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(sock), libsbus, str(delay)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 20
    while not sock.exists() and server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return server


def stop_server(server: subprocess.Popen) -> tuple[str, str]:
    if server.poll() is None:
        server.terminate()
    try:
        return server.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        return server.communicate()


@pytest.fixture
def libsbus() -> str:
    from s2aio.native import libsbus_path

    return str(libsbus_path())


def test_a_server_survives_answering_a_request_the_gateway_gave_up_on(tmp_path, libsbus):
    sock = tmp_path / "factory_pipe"
    delay = 1.0
    server = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(sock), libsbus, str(delay)],
                              stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sock.exists(), server.stderr.read() if server.poll() is not None else "no socket"
        # bound 0.3 s < delay: the first ping is abandoned; the second is
        # sent once the late answer was written (after delay + margin).
        gateway_side = subprocess.run(
            [sys.executable, "-c", GATEWAY_SIDE, str(sock), libsbus, "0.3", str(delay + 1.0)],
            capture_output=True, text=True, timeout=60, cwd=REPO)
        assert gateway_side.returncode == 0, gateway_side.stderr[-2000:]
        lines = gateway_side.stdout.strip().splitlines()
        assert lines[0] == "first: gave up", lines
        alive = server.poll() is None
        server_err = "" if alive else server.stderr.read()[-2000:]
        assert alive, f"the server died answering the abandoned request:\n{server_err}"
        assert lines[1] == "second: answered", lines
    finally:
        stop_server(server)


def test_the_task_of_an_execute_the_gateway_gave_up_on_is_cancelled(tmp_path, libsbus):
    """Its caller has gone (and upstream leaves its input pipe open): left to
    run, the task would wait for input that never ends, in one of the daemon's
    few slots."""
    sock = tmp_path / "storlet_pipe"
    server = start_server(sock, libsbus, 1.0)
    try:
        assert sock.exists(), "the server did not start"
        gateway_side = subprocess.run(
            [sys.executable, "-c", GATEWAY_EXECUTE, str(sock), libsbus, "0.3", "2.5"],
            capture_output=True, text=True, timeout=60, cwd=REPO)
        assert gateway_side.returncode == 0, gateway_side.stderr[-2000:]
        assert gateway_side.stdout.strip() == "execute: gave up"
    finally:
        out, err = stop_server(server)
    assert "BrokenPipeError" not in err, err[-2000:]
    assert "cancelled task-1" in out.splitlines(), err[-2000:]


def test_a_bounded_request_still_returns_a_timely_answer(tmp_path, libsbus):
    sock = tmp_path / "factory_pipe"
    server = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(sock), libsbus, "0"],
                              stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        gateway_side = subprocess.run(
            [sys.executable, "-c", GATEWAY_SIDE, str(sock), libsbus, "10", "0"],
            capture_output=True, text=True, timeout=60, cwd=REPO)
        assert gateway_side.returncode == 0, gateway_side.stderr[-2000:]
        assert gateway_side.stdout.split("\n")[:2] == ["first: answered in time",
                                                       "second: answered"]
    finally:
        stop_server(server)

