"""s2aio's own SBus ends against storlets' libsbus (unit, real libsbus.so).

The gateway sends with ``s2aio.sbus_client`` and the storlet daemons receive with
``s2aio.agent.receive_sbus``; the daemon factory still receives with libsbus, and
upstream's tools may still send with it. Each side is checked against the other
library's real end, fds included.
"""
from __future__ import annotations

import json
import os
import socket

import pytest
from storlets.sbus import command as sbus_cmd
from storlets.sbus import file_description as sbus_fd
from storlets.sbus.datagram import SBusFileDescriptor, build_datagram

from s2aio import agent, sbus_client


@pytest.fixture
def libsbus():
    from storlets.sbus.sbus import SBus

    from s2aio.native import libsbus_path

    SBus.SBUS_SO_NAME = str(libsbus_path())
    return SBus


def execute_datagram(pipes: list[tuple[int, int]]):
    fds = [SBusFileDescriptor(sbus_fd.SBUS_FD_SERVICE_OUT, pipes[0][1]),
           SBusFileDescriptor(sbus_fd.SBUS_FD_INPUT_OBJECT, pipes[1][0],
                              storage_metadata={"X-Object-Meta-Name": "n\u00e9"},
                              storlets_metadata={"start": "1", "end": "9"}),
           SBusFileDescriptor(sbus_fd.SBUS_FD_OUTPUT_OBJECT, pipes[2][1]),
           SBusFileDescriptor(sbus_fd.SBUS_FD_OUTPUT_OBJECT_METADATA, pipes[3][1]),
           SBusFileDescriptor(sbus_fd.SBUS_FD_LOGGER, pipes[4][1])]
    return build_datagram(sbus_cmd.SBUS_CMD_EXECUTE, fds, {"mode": "report"}, None)


def same_pipe(a: int, b: int) -> bool:
    return os.fstat(a).st_ino == os.fstat(b).st_ino


def test_libsbus_reads_what_our_client_sends(tmp_path, libsbus):
    path = str(tmp_path / "daemon")
    server = libsbus()
    handle = server.create(path)
    assert handle >= 0
    pipes = [os.pipe() for _ in range(5)]
    try:
        sent = execute_datagram(pipes)
        message = sbus_client.encode(sent.serialized_cmd_params, sent.serialized_metadata,
                                     sent.fds)
        sbus_client.send(path, message, sent.fds)
        got = server.receive(handle)
        assert got.command == sbus_cmd.SBUS_CMD_EXECUTE
        assert got.params == {"mode": "report"}
        assert got.metadata == sent.metadata
        assert len(got.fds) == 5
        assert all(same_pipe(a, b) for a, b in zip(got.fds, sent.fds))
        for fd in got.fds:
            os.close(fd)
    finally:
        os.close(handle)
        for r, w in pipes:
            os.close(r)
            os.close(w)


def test_our_daemon_reads_what_libsbus_sends(tmp_path, libsbus):
    path = str(tmp_path / "daemon")
    sock = agent.sbus_socket(path)
    assert os.stat(path).st_mode & 0o777 == 0o777
    pipes = [os.pipe() for _ in range(5)]
    try:
        sent = execute_datagram(pipes)
        assert libsbus.send(path, sent) >= 0
        fds, metadata, params = agent.receive_sbus(sock)
        assert json.loads(params) == sent.cmd_params
        assert json.loads(metadata) == sent.metadata
        assert all(same_pipe(a, b) for a, b in zip(fds, sent.fds))
        for fd in fds:
            os.close(fd)
    finally:
        sock.close()
        for r, w in pipes:
            os.close(r)
            os.close(w)


def test_our_daemon_drops_a_malformed_message_and_closes_its_fds(tmp_path):
    path = str(tmp_path / "daemon")
    sock = agent.sbus_socket(path)
    r, w = os.pipe()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            # claims two fds and more text than it carries
            sender.sendmsg([agent.SBUS_HEADER.pack(2, 500, 500) + b"{}"],
                           [(socket.SOL_SOCKET, socket.SCM_RIGHTS, w.to_bytes(4, "little"))],
                           0, path)
        assert agent.receive_sbus(sock) is None
        os.close(w)
        w = -1
        assert os.read(r, 1) == b""  # the daemon's copy of the fd was closed too
    finally:
        sock.close()
        os.close(r)
        if w >= 0:
            os.close(w)


def test_a_message_the_daemon_could_not_read_whole_is_refused_before_sending():
    with pytest.raises(sbus_client.SBusWireError):
        sbus_client.encode(json.dumps({"params": "x" * 5000}), "[]", [])


def test_an_answer_is_taken_as_soon_as_it_is_whole():
    r, w = os.pipe()
    try:
        os.write(w, b'{"status": true, "message": "OK", "task_id": "ab12"}')
        # the server has not closed its end yet: the answer is whole anyway
        assert json.loads(sbus_client.read_answer(r))["task_id"] == "ab12"
    finally:
        os.close(r)
        os.close(w)


def test_a_cut_answer_is_read_until_the_server_closes():
    r, w = os.pipe()
    os.write(w, b'{"status": true, ')
    os.close(w)
    try:
        assert sbus_client.read_answer(r) == b'{"status": true, '
    finally:
        os.close(r)
