"""``s2aio start --auth keystone --replicas 3``: keystone in front of a 3-node Swift.

Its own s2aio (fails, never skips, when it cannot start): healthy with the probe
storlet run end to end, and with node 2 down a keystone user still writes (quorum)
and reads, and the probe storlet still runs.
"""
from __future__ import annotations

import pytest

from tests import datadirs
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.keystone,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:keystoneclient"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:debtcollector")]


@pytest.fixture(scope="module")
def ks3():
    from s2aio import S2AIO

    aio = S2AIO(data_dir=datadirs.new_data_dir("s2aio-k3"), port=free_port(), replicas=3,
                auth="keystone")
    try:
        aio.start(timeout=90)
    except Exception as exc:  # fail (not skip) with the reason
        aio.stop()
        pytest.fail(f"s2aio --auth keystone --replicas 3 could not start: {exc}",
                    pytrace=False)
    yield aio
    aio.reset()


def test_keystone_with_three_replicas_survives_a_node_down(ks3):
    status = ks3.status()
    assert status.healthy, status
    assert status.processes["keystone"] and ks3.replicas == 3
    conn = ks3.connection("test2")
    try:
        conn.put_container("c")
        conn.put_object("c", "before", b"1")
        ks3.node_stop(2)
        conn.put_object("c", "during", b"2")  # 2 of 3 acknowledge
        assert conn.get_object("c", "before")[1] == b"1"
        assert conn.get_object("c", "during")[1] == b"2"
        assert ks3.probe() == "ok"  # a storlet through keystone on the surviving nodes
    finally:
        conn.close()
        ks3.node_start(2)
    assert ks3.status().healthy
