"""What every container of s2aio's podman mode gets, applied to upstream's own
container start (``s2aio.podman_gateway``).

Pure, or nearly: nothing here imports storlets' container runtime, which
monkey-patches the importing process with eventlet (the servers want that; a
test process does not).
"""
from __future__ import annotations

import dataclasses
import pwd
import types

import podman
import podman.errors
from storlets.gateway.common.exceptions import StorletRuntimeException

TMP_TARGET = "/tmp"
LOG_TARGET = "/dev/log"
NATIVE_TARGET = "/usr/local/lib/storlets"
STORLET_TARGET = "/var/lib/storlets"


@dataclasses.dataclass(frozen=True)
class Confinement:
    """What every container of this gateway gets, whatever upstream asks for."""

    user: str  # "uid:gid", never 0
    owner: str  # the data dir's label value
    tmp_size_mb: int = 64  # the only writable place besides the pipe dir
    owner_label: str = "s2aio.data-dir"


def confine_run_kwargs(kwargs: dict, confinement: Confinement) -> dict:
    """Upstream's ``containers.run`` arguments with s2aio's confinement applied."""
    out = {key: value for key, value in kwargs.items()
           if key not in ("userns_mode", "cap_add", "privileged", "security_opt")}
    out.update(user=confinement.user, cap_drop=["ALL"], no_new_privileges=True,
               read_only=True, network_mode="none")
    out["labels"] = dict(kwargs.get("labels") or {},
                         **{confinement.owner_label: confinement.owner})
    out["mounts"] = list(kwargs.get("mounts") or []) + [
        {"type": "tmpfs", "target": TMP_TARGET, "size": f"{confinement.tmp_size_mb}m",
         "mode": "1777"}]
    return out


def remap_mounts(mounts: list[dict], sources: dict[str, str],
                 read_only: tuple[str, ...]) -> list[dict]:
    """Upstream's mounts with the host sources of some targets replaced, and some
    targets made read-only."""
    out = []
    for mount in mounts:
        mount = dict(mount)
        target = mount.get("target")
        if target in sources:
            mount["source"] = sources[target]
        if target in read_only:
            mount["read_only"] = True
        out.append(mount)
    return out


class ConfinedContainers:
    """A podman ``ContainersManager`` whose ``run`` confines; the rest passes through."""

    def __init__(self, manager, images, confinement: Confinement) -> None:
        self._manager, self._images, self._confinement = manager, images, confinement

    def run(self, image, **kwargs):
        # podman-py pulls a missing image; no registry is reachable from here,
        # and upstream then falls back to its default image anyway.
        if not self._images.exists(image):
            raise podman.errors.ImageNotFound(
                f"image {image} is not in this machine's podman store (no pulls)")
        return self._manager.run(image, **confine_run_kwargs(kwargs, self._confinement))

    def __getattr__(self, name):
        return getattr(self._manager, name)


class ConfinedClient:
    def __init__(self, client, confinement: Confinement) -> None:
        self._client = client
        self.containers = ConfinedContainers(client.containers, client.images, confinement)

    def __getattr__(self, name):
        return getattr(self._client, name)


def podman_facade(confinement: Confinement) -> types.SimpleNamespace:
    """What upstream's ``_restart`` uses of the ``podman`` module: ``from_env`` and
    ``errors``; ``from_env`` hands out confining clients."""
    def from_env(*args, **kwargs):
        return ConfinedClient(podman.from_env(*args, **kwargs), confinement)

    return types.SimpleNamespace(from_env=from_env, errors=podman.errors)


def with_podman(function: types.FunctionType, facade) -> types.FunctionType:
    """``function`` (upstream's own code object) reading ``facade`` as ``podman``;
    upstream's module itself is left as it is."""
    scope = dict(function.__globals__, podman=facade)
    return types.FunctionType(function.__code__, scope, function.__name__,
                              function.__defaults__, function.__closure__)


def sandbox_identity(conf) -> tuple[int, int]:
    """(uid, gid) of the gateway config's ``sandbox_user``; never root."""
    name = (conf.get("sandbox_user") or "").strip()
    if not name:
        raise StorletRuntimeException("sandbox_user is not set in the gateway config: "
                                      "containers never run as root")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise StorletRuntimeException(f"sandbox_user {name!r} does not exist on this host")
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise StorletRuntimeException("sandbox_user must not be root")
    return entry.pw_uid, entry.pw_gid
