"""s2aio's podman mode (``s2aio start --gateway podman``), host side.

The storlets run in containers started by storlets 18's own podman gateway
(``s2aio.podman_gateway``) through a podman API service of this data dir.
Everything podman keeps lives in the data dir, nothing in /etc:

- ``podman/etc/``: ``containers.conf`` (runc: crun fails on this machine's
  cgroup v1 setup; ulimits podman can apply here; file events, no journald),
  ``storage.conf`` (this data dir's container store, plus the shared image
  store below, read-only) and ``registries.conf`` (no registry at all);
- ``podman/storage``, ``podman/run``, ``podman/tmp``: containers and their state;
- ``run/podman.sock``: the API service the gateways talk to.

The image holds a Debian root file system with nothing but Python 3
(``debootstrap --variant=minbase --include=python3``, apt's caches dropped),
imported once into an image store under ``~/.cache/s2aio/podman``, which every
data dir reads; a second start, or another data dir, builds nothing. No registry
is ever asked: this machine cannot pull.

Containers carry the label ``s2aio.data-dir=<digest of the data dir>``;
``s2aio stop`` removes those, and only those.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import S2AIOError
from .layout import Layout
from .native import cache_dir

MODES = ("bwrap", "podman")
GATEWAY_CLASS = "s2aio.podman_gateway.ConfinedPodmanGateway"
# A plain name: upstream names each container "<image>_<scope>", and podman only
# takes [a-zA-Z0-9_.-] in a container name. It resolves to localhost/<name>:latest.
IMAGE = "s2aio_storlets_python3"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
OWNER_LABEL = "s2aio.data-dir"
PROCESS = "podman"  # the API service's process name (pid file run/podman.pid)
TOOLS = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap",
         "conmon": "conmon"}
INSTALL_HINT = ("--gateway podman needs {missing}: run `make podman-deps` "
                "(apt-get install -y podman runc debootstrap)")
BUILD_TIMEOUT_S = 900
STOP_TIMEOUT_S = 1  # the gateway's too: a container gets SIGHUP, then SIGKILL


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise S2AIOError(f"--gateway must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def missing_tools() -> list[str]:
    return [package for tool, package in TOOLS.items() if shutil.which(tool) is None]


def check_prerequisites() -> None:
    missing = missing_tools()
    if missing:
        raise S2AIOError(INSTALL_HINT.format(missing=", ".join(missing)))
    if os.geteuid() != 0:
        # Rootless podman needs subordinate ids and keep-id; what this machine
        # runs (and was measured) is rootful podman with an unprivileged container user.
        raise S2AIOError("--gateway podman runs rootful podman: start s2aio as root "
                         "(or use the default bubblewrap gateway)")


# -- where things live --------------------------------------------------------
def podman_root(layout: Layout) -> Path:
    return layout.root / "podman"


def socket_path(layout: Layout) -> Path:
    return layout.run / "podman.sock"


def owner(layout: Layout) -> str:
    """The label value marking this data dir's containers (a digest: no path leaks
    into `podman ps` of another data dir, and any path fits a label)."""
    return hashlib.sha256(str(layout.root.resolve()).encode()).hexdigest()[:16]


def image_store() -> Path:
    """The shared, read-only image store every data dir lists."""
    return cache_dir() / "podman"


# -- config texts (pure) --------------------------------------------------------
def containers_conf(root: Path) -> str:
    return f"""# s2aio --gateway podman (CONTAINERS_CONF)
[containers]
# podman's default ulimits cannot be applied here; these can.
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
log_driver = "k8s-file"

[engine]
# crun fails on this machine's cgroup v1 setup; runc works.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{root}/events.log"
tmp_dir = "{root}/tmp"
image_copy_tmp_dir = "{root}/tmp"

[network]
# Containers run with network "none"; keep podman's own network files here.
network_config_dir = "{root}/net"
"""


def storage_conf(graphroot: Path, runroot: Path, image_store_dir: Path | None) -> str:
    extra = (f'\n[storage.options]\nadditionalimagestores = ["{image_store_dir}/storage"]\n'
             if image_store_dir else "")
    return f"""# s2aio --gateway podman (CONTAINERS_STORAGE_CONF)
[storage]
driver = "overlay"
graphroot = "{graphroot}"
runroot = "{runroot}"
{extra}"""


REGISTRIES_CONF = """# s2aio --gateway podman: no registry (this machine cannot pull)
unqualified-search-registries = []
"""


def config_paths(root: Path) -> dict[str, Path]:
    etc = root / "etc"
    return {"CONTAINERS_CONF": etc / "containers.conf",
            "CONTAINERS_STORAGE_CONF": etc / "storage.conf",
            "CONTAINERS_REGISTRIES_CONF": etc / "registries.conf"}


def env_for(root: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment podman runs with for the configs under ``root``."""
    env = dict(os.environ if base is None else base)
    env.update({name: str(path) for name, path in config_paths(root).items()})
    env["TMPDIR"] = str(root / "tmp")  # podman's scratch files too (else /var/tmp)
    return env


def write_configs(root: Path, image_store_dir: Path | None) -> None:
    """Podman's configs for a store under ``root`` (a data dir's, or the image store)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)  # podman's state and logs: root's only
    for sub in ("etc", "storage", "run", "tmp", "net"):
        (root / sub).mkdir(mode=0o700, exist_ok=True)
    texts = {
        "CONTAINERS_CONF": containers_conf(root),
        "CONTAINERS_STORAGE_CONF": storage_conf(root / "storage", root / "run", image_store_dir),
        "CONTAINERS_REGISTRIES_CONF": REGISTRIES_CONF,
    }
    for name, path in config_paths(root).items():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(texts[name])
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def debian_mirror(sources: list[str], suite: str = SUITE) -> str:
    """The Debian mirror apt uses for ``suite`` (one-line or deb822 sources)."""
    for text in sources:
        for stanza in re.split(r"\n\s*\n", text):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            if suite in fields.get("Suites", "").split():
                for uri in fields.get("URIs", "").split():
                    if uri.rstrip("/").endswith("/debian"):
                        return uri.rstrip("/")
        for line in text.splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 3 and parts[0] == "deb":
                uri_suite = [p for p in parts[1:] if not p.startswith("[")]
                if len(uri_suite) >= 2 and uri_suite[1] == suite \
                        and uri_suite[0].rstrip("/").endswith("/debian"):
                    return uri_suite[0].rstrip("/")
    return DEFAULT_MIRROR


def apt_sources() -> list[str]:
    paths = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    texts = []
    for path in paths:
        with contextlib.suppress(OSError):
            texts.append(path.read_text(errors="replace"))
    return texts


# -- the image ----------------------------------------------------------------
def _podman(root: Path, *args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], env=env_for(root), capture_output=True,
                          timeout=timeout, **kwargs)


def image_exists(store: Path | None = None) -> bool:
    store = store or image_store()
    if not (store / "etc" / "storage.conf").exists() or shutil.which("podman") is None:
        return False
    return _podman(store, "image", "exists", IMAGE).returncode == 0


def _tail(data: bytes | str, limit: int = 400) -> str:
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    return text.strip()[-limit:]


def build_image(store: Path, mirror: str) -> None:
    """debootstrap a root file system holding Python 3, import it as ``IMAGE``."""
    write_configs(store, None)
    with tempfile.TemporaryDirectory(prefix="build-", dir=store) as tmp:
        rootfs = Path(tmp) / "rootfs"
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3", SUITE, str(rootfs),
             mirror], capture_output=True, timeout=BUILD_TIMEOUT_S)
        if done.returncode != 0:
            raise S2AIOError(f"debootstrap of the storlets image failed (mirror {mirror}): "
                             f"{_tail(done.stdout + done.stderr)}")
        # apt's downloads and lists are not part of "Python 3" (~90 MB).
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            done = _podman(store, "import", "--change", "CMD=[\"python3\"]", "-", IMAGE,
                           stdin=tar.stdout, timeout=BUILD_TIMEOUT_S)
        finally:
            tar.stdout.close()
            tar.wait()
        if done.returncode != 0 or tar.returncode != 0:
            raise S2AIOError(f"importing the storlets image into podman failed: "
                             f"{_tail(done.stderr)}")


def ensure_image() -> float:
    """Build the image once per machine (cached); the seconds a build took, 0 if none."""
    store = image_store()
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(store / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two starts at once build it once
        if image_exists(store):
            return 0.0
        began = time.monotonic()
        build_image(store, debian_mirror(apt_sources()))
        if not image_exists(store):
            raise S2AIOError(f"the storlets image {IMAGE} is missing after its build")
        return time.monotonic() - began


# -- the data dir's service and containers ------------------------------------
def prepare(layout: Layout) -> None:
    write_configs(podman_root(layout), image_store())


def service_argv(layout: Layout) -> list[str]:
    # --time=0: the service never exits on its own; s2aio stop ends it.
    return ["podman", "system", "service", "--time=0", f"unix://{socket_path(layout)}"]


def service_env(layout: Layout, base: dict[str, str]) -> dict[str, str]:
    return env_for(podman_root(layout), base)


def service_answers(layout: Layout, timeout: float = 2.0) -> bool:
    """The API service answers its ``/_ping`` on the data dir's socket."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path(layout)))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
    except OSError:
        return False
    return status_line.startswith(b"HTTP/1.") and b" 200" in status_line


def owned_containers(layout: Layout) -> list[str]:
    """Names of the containers this data dir started (running or not)."""
    root = podman_root(layout)
    if not (root / "etc" / "storage.conf").exists():
        return []
    done = _podman(root, "ps", "-a", "--filter", f"label={OWNER_LABEL}={owner(layout)}",
                   "--format", "{{.Names}}", text=True)
    if done.returncode != 0:
        raise S2AIOError(f"listing the storlets containers failed: {_tail(done.stderr)}")
    return done.stdout.split()


def stop_containers(layout: Layout) -> list[str]:
    """Remove this data dir's containers (never another's); what was removed."""
    names = owned_containers(layout)
    if names:
        done = _podman(podman_root(layout), "rm", "--force", "--time", str(STOP_TIMEOUT_S),
                       *names, text=True)
        if done.returncode != 0:
            raise S2AIOError(f"removing the storlets containers failed: {_tail(done.stderr)}")
    return [f"container {name}" for name in names]


def gateway_conf_extra(layout: Layout, memory_mb: int, processes: int) -> str:
    """The gateway config lines of upstream's podman gateway (and of s2aio's
    wrapper around it), appended to s2aio's common gateway config."""
    return f"""default_container_image_name = {IMAGE}
socket_path = {socket_path(layout)}
container_mem_limit = {memory_mb * 1024 * 1024}
container_pids_limit = {processes}
stop_linux_container_timeout = {STOP_TIMEOUT_S}
s2aio_owner = {owner(layout)}
"""
