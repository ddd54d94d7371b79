"""storlets 18's own podman gateway, with the adjustments s2aio needs.

Named in ``storlet_gateway_module`` as ``s2aio.podman_gateway.ConfinedPodmanGateway``
by ``s2aio start --gateway podman``. Upstream's classes do all the work
(``PodmanStorletGateway``, ``PodmanRunTimeSandbox._restart``: stop the scope's old
container, start a new one with upstream's command, entrypoint, environment,
mounts, ``network_mode='none'``, limits). Upstream's ``_restart`` runs as it is,
with the ``podman`` module it calls bound to a facade whose client confines
every container it starts (``s2aio.podman_confine``):

- no ``userns_mode='keep-id'`` (rootless only; this is rootful podman);
- the sandbox user (``uid:gid``, never root), ``cap_drop=['ALL']``,
  ``no_new_privileges``, a read-only root file system;
- a capped tmpfs at ``/tmp`` (``sandbox_tmp_size_mb``), the only writable place
  besides the scope's pipe dir;
- ``/dev/log`` bound from s2aio's log sink socket (this machine has no /dev/log),
  ``/usr/local/lib/storlets`` from the data dir's native dir, the storlet dir
  read-only;
- the data dir's owner label, so ``s2aio stop`` removes exactly its containers;
- the image must be in the local store: no registry pull is attempted.

Inputs are written by s2aio's ``PipeWriter`` (``s2aio.gateway.install_protocol``):
upstream's writer lets one hostile request keep a proxy thread spinning.
Memory and pids limits are upstream's own options (``container_mem_limit``,
``container_pids_limit``), set in the gateway config. Because the container user
is not the server's, the storlet dir is shared read-only with its group, as the
bubblewrap gateway does, and every name that upstream joins into a host path is
checked first (``swiftproto.check_engine_name``).
"""
from __future__ import annotations

import os

from storlets.gateway.gateways.podman import PodmanStorletGateway
from storlets.gateway.gateways.podman.runtime import PodmanRunTimeSandbox

from swiftproto import check_engine_name

from .gateway import (SafeNames, install_protocol, quiet_c_syslog, refuse_unsafe_names,
                      share_read)
from .podman_confine import (LOG_TARGET, NATIVE_TARGET, STORLET_TARGET, Confinement,
                             podman_facade, remap_mounts, sandbox_identity, with_podman)


class ConfinedPodmanSandbox(PodmanRunTimeSandbox):
    def __init__(self, scope, conf, logger):
        super().__init__(scope, conf, logger)
        self.identity = sandbox_identity(conf)
        self.confinement = Confinement(user="%d:%d" % self.identity,
                                       owner=conf["s2aio_owner"],
                                       tmp_size_mb=int(conf.get("sandbox_tmp_size_mb", 64)))
        self.mount_sources = {LOG_TARGET: conf["s2aio_log_socket"],
                              NATIVE_TARGET: conf["s2aio_native_dir"]}

    def _get_mounts(self):
        return remap_mounts(super()._get_mounts(), self.mount_sources, (STORLET_TARGET,))

    def _restart(self, container_image_name):
        # The container user reads its storlets (the servers write them 0600).
        base = self.paths.host_storlet_base_dir
        os.makedirs(base, mode=0o750, exist_ok=True)
        share_read(base, self.identity[1])
        restart = with_podman(PodmanRunTimeSandbox._restart,
                              podman_facade(self.confinement))
        return restart(self, container_image_name)


class ConfinedPodmanGateway(SafeNames, PodmanStorletGateway):
    sandbox = ConfinedPodmanSandbox

    def __init__(self, conf, logger, scope):
        check_engine_name(scope, "storlet scope")  # it names host dirs
        super().__init__(conf, logger, scope)
        # libsbus logs every message through syslog(3); with no /dev/log here,
        # glibc writes each to /dev/console.
        quiet_c_syslog()
        # Upstream's input writer, under eventlet, retries EPIPE forever when a
        # storlet closes an input it did not read: one request (a 200 MB input a
        # storlet refuses on the proxy) pins a proxy thread at a core for good.
        # s2aio's PipeWriter stops at the closed pipe; nothing else changes.
        install_protocol()

    def invocation_flow(self, sreq):
        refuse_unsafe_names(sreq)
        return super().invocation_flow(sreq)

    def update_container_from_cache(self, sreq):
        updated = super().update_container_from_cache(sreq)
        if updated:  # the new copies are the servers' (0600): let the container read them
            share_read(self.paths.host_storlet_base_dir, sandbox_identity(self.conf)[1])
        return updated
