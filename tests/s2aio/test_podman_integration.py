"""s2aio --gateway podman end to end: storlets 18's own podman gateway on rootful
podman, with a local Debian + Python 3 image.

A confinement probe storlet (``tests/files/storlets/confinement.py``) reads from
inside its container what the project's rules require: never root, no
capabilities, no_new_privs, read-only root file system, no network, pids and
memory limits. The three notebook storlets answer one call each. ``s2aio stop``
removes the data dir's containers and no other.

Run by ``make test-podman`` (where the session's s2aio is podman's too); the
module starts its own podman s2aio when the session's runs bubblewrap.
"""
from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from s2aio import S2AIO
from s2aio import podman as pm
from s2aio.configs import GatewaySettings
from tests import datadirs
from tests.conftest import FILES, free_port
from tests.s2aio.conftest import put_storlet

pytestmark = pytest.mark.integration

NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "cells": [{"id": "a1", "cell_type": "markdown", "metadata": {}, "source": "# Title"},
              {"id": "b2", "cell_type": "code", "metadata": {}, "source": "1 + 1",
               "execution_count": 1, "outputs": []}]}


def start_podman_aio(prefix: str, **kwargs) -> S2AIO:
    aio = S2AIO(data_dir=datadirs.new_data_dir(prefix), port=free_port(),
                gateway_mode="podman", **kwargs)
    try:
        aio.start()
    except Exception as exc:  # fail, never skip
        aio.reset()
        pytest.fail(f"s2aio --gateway podman could not start: {exc}", pytrace=False)
    return aio


@pytest.fixture(scope="module")
def paio(s2aio):
    if s2aio.gateway_mode == "podman":
        yield s2aio
        return
    aio = start_podman_aio("s2aio-pm")
    yield aio
    aio.reset()


@pytest.fixture(scope="module")
def pconn(paio):
    conn = paio.connection("test")
    put_storlet(conn, FILES / "storlets" / "confinement.py", "confinement.Confinement")
    conn.put_container("pm")
    conn.put_object("pm", "in", b"x")
    yield conn
    conn.close()


def podman_cli(aio: S2AIO, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], env=pm.env_for(pm.podman_root(aio.layout)),
                          capture_output=True, text=True, timeout=120)


def probe(aio: S2AIO, conn, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in dict(params, port=aio.ports.proxy).items())
    _, body = conn.get_object("pm", "in", headers={"X-Run-Storlet": "confinement.py"},
                              query_string=query)
    return json.loads(body)


def test_the_storlet_runs_in_a_podman_container_of_this_data_dir(paio, pconn):
    probe(paio, pconn)
    done = podman_cli(paio, "ps", "--format", "{{.Names}} {{.Labels}}")
    assert done.returncode == 0, done.stderr
    assert f"{pm.IMAGE}_" in done.stdout
    assert f"s2aio.data-dir:{pm.owner(paio.layout)}" in done.stdout
    status = paio.status()
    assert status.processes["podman"] and status.healthy, status


def test_never_root_and_no_capabilities(paio, pconn):
    report = probe(paio, pconn)
    status = report["status"]
    assert report["uid"] != 0 and report["euid"] != 0 and report["gid"] != 0
    assert set(status["Uid"]) == {str(report["uid"])}
    for caps in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
        assert status[caps] == ["0000000000000000"], caps
    assert status["NoNewPrivs"] == ["1"]
    assert status["Seccomp"] == ["2"]  # podman's default profile
    assert report["setuid_root"].startswith("failed")
    assert report["raw_socket"].startswith("failed")


def test_read_only_root_and_only_pipes_and_tmp_writable(paio, pconn):
    targets = ["/etc/s2aio-x", "/usr/s2aio-x", "/var/lib/storlets/s2aio-x",
               "/s2aio-x", "/tmp/s2aio-x", f"/mnt/channels/s2aio-{uuid.uuid4().hex[:6]}"]
    report = probe(paio, pconn, write=",".join(targets))
    assert report["root_mount"].split(",")[0] == "ro"
    writes = report["write"]
    for target in targets[:4]:
        assert "Read-only file system" in writes[target], (target, writes[target])
    assert writes["/tmp/s2aio-x"] == "ok"
    assert writes[targets[5]] == "ok"


def test_no_network(paio, pconn):
    report = probe(paio, pconn)
    assert report["interfaces"] == ["lo"]
    assert report["connect"].startswith("failed"), report["connect"]


def test_pids_and_memory_limits(paio, pconn):
    report = probe(paio, pconn)
    assert report["pids_max"] == str(paio.gateway.processes)
    assert int(report["memory_max"]) == paio.gateway.memory_mb * 1024 * 1024


def test_the_log_sink_is_the_containers_dev_log(paio, pconn):
    report = probe(paio, pconn)
    assert report["dev_log"] is True


def test_each_notebook_storlet_answers(paio):
    from deploy.api import deploy

    conn = paio.connection("test")
    try:
        deploy(conn, warm=True)
        container = f"pm-{uuid.uuid4().hex[:8]}"
        conn.put_container(container)
        body = json.dumps(NOTEBOOK).encode()
        conn.put_object(container, "a.ipynb", body)
        changed = dict(NOTEBOOK, cells=NOTEBOOK["cells"][:1])
        conn.put_object(container, "b.ipynb", json.dumps(changed).encode())

        _, report = conn.get_object(container, "a.ipynb", headers={
            "X-Run-Storlet": "nbvalidate.py", "X-Storlet-Parameter-1": "mode:report"})
        assert json.loads(report)["valid"] is True

        _, listing = conn.get_object(container, "a.ipynb", headers={
            "X-Run-Storlet": "nblisting.py", "X-Storlet-Run-On-Proxy": "",
            "X-Storlet-Extra-Resources": f"/{container}/b.ipynb"})
        entries = json.loads(listing)
        entries = entries.get("notebooks", entries) if isinstance(entries, dict) else entries
        assert [e["title"] for e in entries] == ["Title", "Title"]

        _, diff = conn.get_object(container, "b.ipynb", headers={
            "X-Run-Storlet": "nbdiff.py", "X-Storlet-Extra-Resources": f"/{container}/a.ipynb",
            "X-Storlet-Parameter-1": "format:nbdime"})
        assert json.loads(diff), "an empty diff for two different notebooks"
    finally:
        conn.close()


def test_the_image_is_built_once_and_holds_no_storlets_code(paio):
    assert pm.image_exists()
    assert pm.ensure_image() == 0.0  # cached: no debootstrap, no import
    done = podman_cli(  # in the data dir's store, which reads the image from the shared one
        paio, "run", "--rm", "--network", "none", pm.IMAGE, "python3", "-c",
        "import importlib.util as u, sys; "
        "print(sys.version_info[0], bool(u.find_spec('storlets')), bool(u.find_spec('pip')))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "False", "False"]


def test_stop_removes_its_containers_and_no_other(paio, pconn):
    probe(paio, pconn)  # paio's container runs
    other = start_podman_aio("s2aio-pm2", gateway=GatewaySettings(storlet_timeout=20))
    try:
        assert other.image_build_s == 0.0  # a new data dir reads the shared image store
        conn = other.connection("test")
        put_storlet(conn, FILES / "storlets" / "confinement.py", "confinement.Confinement")
        conn.put_container("pm")
        conn.put_object("pm", "in", b"x")
        probe(other, conn)
        conn.close()
        # A container of the same podman store that s2aio did not start.
        bystander = f"bystander-{uuid.uuid4().hex[:6]}"
        done = podman_cli(other, "create", "--name", bystander, "--network", "none",
                          pm.IMAGE, "python3", "-c", "pass")
        assert done.returncode == 0, done.stderr
        assert pm.owned_containers(other.layout)
        stopped = other.stop()
        assert any(name.startswith(f"container {pm.IMAGE}_") for name in stopped), stopped
        assert pm.owned_containers(other.layout) == []
        left = podman_cli(other, "ps", "-a", "--format", "{{.Names}}").stdout.split()
        assert left == [bystander]
        assert podman_cli(other, "rm", bystander).returncode == 0
        # paio's container still runs and serves.
        assert pm.owned_containers(paio.layout)
        assert probe(paio, pconn)["uid"] != 0
    finally:
        other.reset()
    assert not other.data_dir.exists()
