"""The pure parts of a replicated s2aio: names, rings, configs, the daemons' schedule."""
from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from s2aio import S2AIO, S2AIOError, configs, daemons
from s2aio.core import PROCESSES, check_replicas
from s2aio.layout import LAYOUT_VERSION, Layout, node_processes, parse_process, process_names
from s2aio.rings import builder_args, ring_devices

LAYOUT = Layout(Path("/d"))
PORTS = configs.Ports(proxy=8080, account=6201, container=6202, object=6203,
                      memcached=11211, syslog=5140, rsync=8730)
NODE2 = configs.Node(number=2, account=6211, container=6212, object=6213)


def parse(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return parser


def test_one_replica_keeps_its_process_names():
    assert process_names(1) == PROCESSES == (
        "logsink", "memcached", "account", "container", "object", "proxy")
    assert node_processes(1, 1) == ("account", "container", "object")


def test_three_replicas_name_every_node_process():
    names = process_names(3)
    assert names[:3] == ("logsink", "memcached", "rsync") and names[-1] == "proxy"
    assert node_processes(2, 3) == ("n2-account", "n2-container", "n2-object", "n2-daemons")
    assert len(names) == 4 + 3 * 4 and len(set(names)) == len(names)


@pytest.mark.parametrize("name, parsed", [
    ("n2-object", (2, "object")), ("n12-daemons", (12, "daemons")), ("object", (None, "object")),
    ("proxy", (None, "proxy")), ("sandbox-object-n2-x", (None, "sandbox-object-n2-x")),
    ("nx-object", (None, "nx-object")),
])
def test_parse_process(name, parsed):
    assert parse_process(name) == parsed


def test_ring_has_one_device_per_node_each_in_its_own_zone():
    devs = ring_devices([6201, 6211, 6221])
    assert [(d["id"], d["zone"], d["port"], d["device"]) for d in devs] == [
        (0, 1, 6201, "d1"), (1, 2, 6211, "d2"), (2, 3, 6221, "d3")]
    assert builder_args(3) == (10, 3.0, 1)
    assert builder_args(1) == (10, 1.0, 1)


@pytest.mark.parametrize("bad", [0, 6, -1, True, "3", 2.5])
def test_replica_count_is_checked(bad):
    with pytest.raises(S2AIOError, match="--replicas must be"):
        check_replicas(bad)


def test_node_configs_are_the_nodes_own():
    obj = parse(configs.backend_conf("object", LAYOUT, PORTS, node=NODE2))
    assert obj.get("DEFAULT", "bind_port") == "6213"
    assert obj.get("DEFAULT", "devices") == "/d/devices/n2"
    assert obj.get("DEFAULT", "workers") == "0"
    assert obj.get("filter:recon", "recon_cache_path") == "/d/run/n2"
    assert obj.get("filter:storlet_handler", "storlet_gateway_conf") == \
        "/d/etc/storlet-gateway-object-n2.conf"
    assert obj.get("filter:storlet_handler", "execution_server") == "object"
    assert obj.get("object-replicator", "sync_method") == "ssync"
    assert obj.get("object-updater", "interval") == "10"
    assert obj.get("object-auditor", "recon_cache_path") == "/d/run/n2"
    assert obj.get("object-auditor", "log_name") == "n2-object-auditor"
    cont = parse(configs.backend_conf("container", LAYOUT, PORTS, node=NODE2))
    assert cont.get("container-replicator", "rsync_module") == \
        "rsync://s2aio@127.0.0.1:8730/{device}_container"
    assert cont.has_section("container-updater") and cont.has_section("container-auditor")


def test_one_replica_backend_config_is_unchanged():
    obj = parse(configs.backend_conf("object", LAYOUT, PORTS))
    assert obj.get("DEFAULT", "devices") == "/d/devices"
    assert obj.get("DEFAULT", "workers") == "1"
    assert obj.get("filter:storlet_handler", "storlet_gateway_conf") == \
        "/d/etc/storlet-gateway-object.conf"
    assert dict(obj.items("object-replicator")) == dict(obj.items("DEFAULT"))  # no options


def test_proxy_fails_over_fast_with_replicas():
    one = parse(configs.proxy_conf(LAYOUT, PORTS, configs.Users("k")))
    three = parse(configs.proxy_conf(LAYOUT, PORTS, configs.Users("k"), replicas=3))
    assert one.get("app:proxy-server", "conn_timeout") == "2"
    assert three.get("app:proxy-server", "conn_timeout") == "0.5"
    assert three.get("app:proxy-server", "node_timeout") == "30"  # storlets need it


def test_each_node_has_its_own_sandbox_root():
    text = parse("[x]\n" + configs.gateway_conf(LAYOUT, "object-n2",
                                                 configs.GatewaySettings()).split("\n", 1)[1])
    assert text.get("x", "host_root") == "/d/sbox/object-n2"
    assert text.get("x", "pipes_dir") == "/d/sbox/object-n2/pipes"
    assert Layout.object_where(2) == "object-n2" and Layout.object_where(None) == "object"


def test_rsyncd_is_loopback_authenticated_and_write_only():
    conf = configs.rsyncd_conf(LAYOUT, PORTS, [NODE2], "u", "g")
    parser = parse("[global]\n" + conf)
    assert parser.get("global", "address") == "127.0.0.1"
    assert parser.get("global", "port") == "8730"
    assert parser.get("global", "auth users") == "s2aio"
    assert parser.get("global", "secrets file") == "/d/etc/rsyncd.secrets"
    assert parser.get("global", "write only") == "true"
    assert parser.get("d2_container", "path") == "/d/devices/n2"
    assert parser.get("d2_account", "path") == "/d/devices/n2"


def test_daemon_schedule():
    now = 100.0
    assert daemons.first_due("object-replicator", 10, now) == 100.0
    assert daemons.first_due("object-auditor", 600, now) == 700.0
    runs = {"a": 90.0, "b": 100.0, "c": 105.0}
    assert daemons.due(runs, now) == ["a", "b"]
    assert daemons.sleep_for({"c": 102.0}, now) == 2.0
    assert daemons.sleep_for({"c": 900.0}, now) == daemons.MAX_SLEEP
    assert daemons.sleep_for({"c": 90.0}, now) == 0.0


def test_every_swift_daemon_of_a_node_is_run():
    sections = {d for kind in configs.DAEMONS.values() for d in kind}
    assert sections == set(daemons.CLASSES) == set(configs.DAEMON_INTERVALS)


def test_a_forked_child_never_returns_into_the_loop(monkeypatch):
    exits = []

    class Exited(Exception):
        pass

    def fake_exit(code):
        exits.append(code)
        raise Exited  # os._exit never returns

    monkeypatch.setattr(daemons.os, "_exit", fake_exit)

    class Forked:
        def __init__(self, ending):
            self.ending = ending

        def run_once(self):
            if self.ending:
                raise self.ending

    for ending in (SystemExit(), None, ValueError("in a child")):
        with pytest.raises(Exited):
            daemons.run_pass("x", Forked(ending), None, parent_pid=-1)  # "we are a child"
    assert exits == [0, 0, 1]


def test_a_failing_pass_is_logged_not_fatal():
    logged = []

    class Broken:
        def run_once(self):
            raise ValueError("boom")

    class Logger:
        def exception(self, *args):
            logged.append(args)

    import os
    daemons.run_pass("object-updater", Broken(), Logger(), parent_pid=os.getpid())
    assert logged and logged[0][1] == "object-updater"


def test_a_different_replica_count_is_refused(tmp_path):
    (tmp_path / "s2aio.json").write_text(json.dumps(
        {"layout_version": LAYOUT_VERSION, "replicas": 3, "ports": PORTS.as_dict(),
         "admin_key": "k", "nodes": [], "rsync_key": "r"}))
    with pytest.raises(S2AIOError, match="made with 3 replica"):
        S2AIO(tmp_path, replicas=1).start()
    assert S2AIO(tmp_path).replicas == 3
    assert S2AIO(tmp_path).nodes == (1, 2, 3)


def test_an_old_data_dir_has_one_replica(tmp_path):
    (tmp_path / "s2aio.json").write_text(json.dumps(
        {"layout_version": LAYOUT_VERSION, "ports": PORTS.as_dict(), "admin_key": "k"}))
    aio = S2AIO(tmp_path)
    assert aio.replicas == 1 and aio.nodes == (1,)
    assert aio.node_processes(1) == ("account", "container", "object")
    with pytest.raises(S2AIOError, match="no node 2"):
        aio.node_stop(2)
