"""Units of s2aio's podman mode: the confinement of upstream's container start,
podman's configs, and the mode switch (no podman, no servers)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from s2aio import S2AIO, S2AIOError
from s2aio import podman as pm
from s2aio import podman_confine
from s2aio.cli import build_parser
from s2aio.layout import Layout
from tests.conftest import REPO

UPSTREAM_MOUNTS = [
    {"type": "bind", "source": "/dev/log", "target": "/dev/log"},
    {"type": "bind", "source": "/d/sbox/podman/pipes/s", "target": "/mnt/channels"},
    {"type": "bind", "source": "/d/sbox/podman/storlets/s", "target": "/var/lib/storlets"},
    {"type": "bind", "source": "/usr/local/lib/storlets", "target": "/usr/local/lib/storlets",
     "read_only": True},
]


@pytest.fixture
def gw():
    return podman_confine


def upstream_kwargs() -> dict:
    return {"detach": True, "command": ["-m", "storlets.agent.daemon_factory"],
            "entrypoint": ["python3"], "environment": {"PYTHONPATH": "/x"},
            "name": "img_scope", "network_mode": "none", "mounts": list(UPSTREAM_MOUNTS),
            "userns_mode": "keep-id", "auto_remove": True, "stop_signal": 1,
            "mem_limit": 1 << 30, "pids_limit": 256, "labels": {"managed_by": "storlets"}}


def test_confinement_drops_keep_id_and_every_privilege(gw):
    hostile = dict(upstream_kwargs(), cap_add=["SYS_ADMIN"], privileged=True,
                   security_opt=["label=disable"], network_mode="host")
    out = gw.confine_run_kwargs(hostile, gw.Confinement(user="999:995", owner="abc"))
    assert "userns_mode" not in out
    for key in ("cap_add", "privileged", "security_opt"):
        assert key not in out
    assert out["user"] == "999:995"
    assert out["cap_drop"] == ["ALL"]
    assert out["no_new_privileges"] is True
    assert out["read_only"] is True
    assert out["network_mode"] == "none"
    assert out["labels"] == {"managed_by": "storlets", "s2aio.data-dir": "abc"}
    # upstream's own choices stay
    assert out["mem_limit"] == 1 << 30 and out["pids_limit"] == 256
    assert out["command"] == hostile["command"] and out["auto_remove"] is True
    assert out["mounts"][:4] == UPSTREAM_MOUNTS
    assert out["mounts"][4] == {"type": "tmpfs", "target": "/tmp", "size": "64m",
                                "mode": "1777"}
    assert hostile["userns_mode"] == "keep-id"  # the caller's dict is left alone


def test_mounts_log_sink_native_dir_and_read_only_storlets(gw):
    out = gw.remap_mounts(UPSTREAM_MOUNTS, {"/dev/log": "/d/run/log.sock",
                                            "/usr/local/lib/storlets": "/d/native"},
                          ("/var/lib/storlets",))
    by_target = {m["target"]: m for m in out}
    assert by_target["/dev/log"]["source"] == "/d/run/log.sock"
    assert by_target["/usr/local/lib/storlets"] == {
        "type": "bind", "source": "/d/native", "target": "/usr/local/lib/storlets",
        "read_only": True}
    assert by_target["/var/lib/storlets"]["read_only"] is True
    assert by_target["/mnt/channels"] == UPSTREAM_MOUNTS[1]  # the pipes stay writable
    assert UPSTREAM_MOUNTS[0]["source"] == "/dev/log"


# Upstream's _restart and the gateway class live beside storlets' container runtime,
# which monkey-patches its importer with eventlet: they run in a child process.
UPSTREAM_PROBE = r"""
import json, logging, sys
import podman, podman.errors
from storlets.gateway.common.exceptions import StorletRuntimeException
from storlets.gateway.gateways.container.runtime import RunTimePaths
from storlets.gateway.gateways.podman import runtime
from swiftproto import UnsafeNameError
from s2aio import podman_confine as pc
from s2aio.podman_gateway import ConfinedPodmanGateway

class Manager:
    runs = []
    def get(self, name):
        raise podman.errors.NotFound(name)
    def list(self, **kwargs):
        return []
    def run(self, image, **kwargs):
        self.runs.append([image, kwargs])

class Images:
    def exists(self, image):
        return image == "s2aio_storlets_python3"

class Client:
    containers, images = Manager(), Images()

podman.from_env = lambda *a, **k: Client()  # only this child's podman module
sandbox = object.__new__(runtime.PodmanRunTimeSandbox)
sandbox.__dict__.update(
    socket_path=sys.argv[1] + "/podman.sock", scope="scope1",
    paths=RunTimePaths("scope1", {"host_root": sys.argv[1]}), container_image_namespace=None,
    sandbox_stop_timeout=1.0, max_containers_per_node=0,
    storlet_daemon_factory_debug_level="WARNING", container_cpu_period=None,
    container_cpu_quota=None, container_mem_limit=1 << 30, container_cpuset_cpus=None,
    container_cpuset_mems=None, container_pids_limit=256, logger=logging.getLogger("t"))
restart = pc.with_podman(runtime.PodmanRunTimeSandbox._restart,
                         pc.podman_facade(pc.Confinement(user="999:995", owner="abc")))
out = {}
restart(sandbox, "s2aio_storlets_python3")
try:
    restart(sandbox, "scope1")  # upstream first tries a per-scope image: not here
except StorletRuntimeException as exc:
    out["missing"] = str(exc)
out["runs"] = Manager.runs
out["upstream_module_untouched"] = runtime.podman is podman
refused = []
for name, params in [
        ("dep", ("../../etc/passwd", {})),
        ("storlet", ("ok.py", {"Language": "python", "Language-Version": "3",
                               "Interface-Version": "1.0", "Object-Metadata": "no",
                               "Main": "ok.B", "Dependency": "dep.py,/etc/shadow"}))]:
    check = (ConfinedPodmanGateway.validate_dependency_registration if name == "dep"
             else ConfinedPodmanGateway.validate_storlet_registration)
    try:
        check(params[1], params[0])
    except UnsafeNameError:
        refused.append(name)
out["refused"] = refused
print(json.dumps(out, default=str))
"""


def run_upstream_probe(tmp_path) -> dict:
    done = subprocess.run([sys.executable, "-c", UPSTREAM_PROBE, str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_upstream_restart_runs_confined_and_never_pulls(tmp_path):
    """Upstream's very _restart, run with the facade: what reaches podman is
    confined, a missing image is not pulled, and upstream's module keeps its
    real ``podman``."""
    out = run_upstream_probe(tmp_path)
    [[image, kwargs]] = out["runs"]  # the per-scope image never reached run()
    assert image == "s2aio_storlets_python3"
    assert kwargs["name"] == "s2aio_storlets_python3_scope1"
    assert "userns_mode" not in kwargs and kwargs["cap_drop"] == ["ALL"]
    assert kwargs["user"] == "999:995" and kwargs["read_only"] is True
    assert kwargs["no_new_privileges"] is True and kwargs["network_mode"] == "none"
    assert kwargs["labels"] == {"managed_by": "storlets", "s2aio.data-dir": "abc"}
    assert kwargs["pids_limit"] == 256 and kwargs["mem_limit"] == 1 << 30
    assert out["missing"] == "Image scope1 is not found"
    assert out["upstream_module_untouched"] is True
    assert out["refused"] == ["dep", "storlet"]  # path tricks in names


def test_sandbox_user_must_exist_and_not_be_root(gw):
    from storlets.gateway.common.exceptions import StorletRuntimeException

    with pytest.raises(StorletRuntimeException, match="not set"):
        gw.sandbox_identity({})
    with pytest.raises(StorletRuntimeException, match="must not be root"):
        gw.sandbox_identity({"sandbox_user": "root"})
    with pytest.raises(StorletRuntimeException, match="does not exist"):
        gw.sandbox_identity({"sandbox_user": "no-such-user-s2aio"})


def test_configs_keep_podman_in_the_data_dir(tmp_path):
    conf = pm.containers_conf(tmp_path)
    assert 'runtime = "runc"' in conf
    assert 'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]' in conf
    assert f'tmp_dir = "{tmp_path}/tmp"' in conf
    storage = pm.storage_conf(tmp_path / "s", tmp_path / "r", tmp_path / "img")
    assert f'graphroot = "{tmp_path}/s"' in storage
    assert f'additionalimagestores = ["{tmp_path}/img/storage"]' in storage
    assert "additionalimagestores" not in pm.storage_conf(tmp_path / "s", tmp_path / "r", None)
    env = pm.env_for(tmp_path, {"PATH": "/usr/bin"})
    assert env["CONTAINERS_CONF"] == str(tmp_path / "etc" / "containers.conf")
    assert env["CONTAINERS_STORAGE_CONF"] == str(tmp_path / "etc" / "storage.conf")
    assert env["CONTAINERS_REGISTRIES_CONF"] == str(tmp_path / "etc" / "registries.conf")
    assert env["PATH"] == "/usr/bin" and env["TMPDIR"] == str(tmp_path / "tmp")
    pm.write_configs(tmp_path, tmp_path / "img")
    assert (tmp_path / "etc" / "storage.conf").read_text() == pm.storage_conf(
        tmp_path / "storage", tmp_path / "run", tmp_path / "img")
    assert (tmp_path / "etc" / "registries.conf").stat().st_mode & 0o777 == 0o600


def test_gateway_conf_gives_upstream_integers_and_the_socket(tmp_path):
    lay = Layout(tmp_path)
    text = pm.gateway_conf_extra(lay, memory_mb=256, processes=64)
    lines = dict(line.split(" = ", 1) for line in text.splitlines())
    assert lines["container_mem_limit"] == str(256 * 1024 * 1024)  # upstream int()s it
    assert lines["container_pids_limit"] == "64"
    assert lines["socket_path"] == str(tmp_path / "run" / "podman.sock")
    assert lines["default_container_image_name"] == pm.IMAGE
    assert lines["s2aio_owner"] == pm.owner(lay)


def test_owner_label_differs_per_data_dir(tmp_path):
    a, b = Layout(tmp_path / "a"), Layout(tmp_path / "b")
    assert pm.owner(a) == pm.owner(Layout(tmp_path / "a"))
    assert pm.owner(a) != pm.owner(b)
    assert str(tmp_path) not in pm.owner(a)


@pytest.mark.parametrize("sources, mirror", [
    (["Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
      "Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n"
      "Suites: bookworm-security\n"], "http://deb.debian.org/debian"),
    (["deb [arch=amd64] http://mirror.example/debian/ bookworm main\n"],
     "http://mirror.example/debian"),
    (["deb http://mirror.example/debian bullseye main\n"], pm.DEFAULT_MIRROR),
    ([], pm.DEFAULT_MIRROR),
])
def test_debian_mirror_follows_apt(sources, mirror):
    assert pm.debian_mirror(sources) == mirror


def test_mode_names_its_service_and_refuses_unknown_modes(tmp_path):
    aio = S2AIO(tmp_path / "d", gateway_mode="podman")
    assert aio.gateway_mode == "podman"
    assert aio.processes[:3] == ("logsink", "memcached", "podman")
    assert "podman" not in S2AIO(tmp_path / "e").processes
    with pytest.raises(S2AIOError, match="--gateway must be one of"):
        S2AIO(tmp_path / "f", gateway_mode="docker")
    args = build_parser().parse_args(["start", "--gateway", "podman"])
    assert args.gateway == "podman"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["start", "--gateway", "docker"])
