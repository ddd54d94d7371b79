"""s2aio: a real OpenStack Swift + storlets all-in-one on one machine, no Docker.

Public surface::

    from s2aio import S2AIO, S2AIOError
    aio = S2AIO(data_dir="/tmp/s2aio-x", port=18080)
    aio.start(); aio.env("test"); aio.connection("test"); aio.stop()

    aio = S2AIO(data_dir="/tmp/s2aio-r", port=18081, replicas=3)  # one node per replica
    aio.start(); aio.nodes  # (1, 2, 3)
    aio.node_stop(2)  # -> names of what was stopped; aio.node_start(2) brings it back

Errors: every failure the user can act on is an ``S2AIOError`` whose message
says what happened and what to do.
"""
from __future__ import annotations

from .errors import S2AIOError
from .core import S2AIO, USERS, Status

__all__ = ["S2AIO", "S2AIOError", "Status", "USERS"]
