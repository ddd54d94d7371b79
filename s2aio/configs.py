"""Swift, storlets and gateway configuration texts for one s2aio (pure)."""
from __future__ import annotations

import dataclasses
import getpass

from .layout import Layout

GATEWAY_CLASS = "s2aio.gateway.BwrapStorletGateway"

PROXY_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
    "s3api tempauth container-quotas account-quotas put_echo storlet_handler "
    "storlet_head_cache copy slo dlo "
    "versioned_writes symlink proxy-logging proxy-server"
)
# keystone mode: keystone's token check and Swift's keystone authorization in
# tempauth's place. No s3api: S3 against keystone needs s3token and EC2 credentials.
KEYSTONE_AUTH_FILTERS = "authtoken keystoneauth"
TEMPAUTH_FILTERS = "s3api tempauth"
OBJECT_PIPELINE = "healthcheck recon storlet_handler object-server"
INFO_CACHE_S = 900  # the proxy's account/container info (Swift's default: 60 s)


@dataclasses.dataclass(frozen=True)
class Ports:
    proxy: int
    account: int
    container: int
    object: int
    memcached: int
    syslog: int
    rsync: int = 0  # only with replicas (account/container DB replication)
    keystone: int = 0  # only with --auth keystone

    def as_dict(self) -> dict[str, int]:
        return {name: port for name, port in dataclasses.asdict(self).items() if port}


@dataclasses.dataclass(frozen=True)
class Node:
    """One storage node of a replicated s2aio: its number and its servers' ports."""

    number: int
    account: int
    container: int
    object: int

    def port(self, kind: str) -> int:
        return getattr(self, kind)


# Seconds between two passes of a node's background daemons. Replicators and
# updaters converge a node that comes back within ~one interval; an idle pass
# over a few databases and partitions costs milliseconds. Auditors only find
# bit rot, which no test needs quickly, and read every byte: rarely.
DAEMON_INTERVALS = {
    "account-replicator": 10, "container-replicator": 10, "object-replicator": 10,
    "container-updater": 10, "object-updater": 10,
    "account-auditor": 600, "container-auditor": 600, "object-auditor": 600,
}
# The daemons each server's config holds, by server kind.
DAEMONS = {
    "account": ("account-replicator", "account-auditor"),
    "container": ("container-replicator", "container-updater", "container-auditor"),
    "object": ("object-replicator", "object-updater", "object-auditor"),
}


@dataclasses.dataclass(frozen=True)
class GatewaySettings:
    """What an operator sets for every storlets sandbox (the gateway config).

    ``storlet_timeout`` is the wall time a storlet may take before the engine
    cancels it and kills its task process; the limits are per sandbox (see
    ``s2aio.sandbox.Limits``). ``sandbox_user`` is the unprivileged host user
    sandboxes run as when s2aio runs as root.
    """

    storlet_timeout: int = 40
    sandbox_user: str = "s2aio-sandbox"
    gateway_class: str = GATEWAY_CLASS
    memory_mb: int = 1024
    processes: int = 256
    open_files: int = 1024
    file_size_mb: int = 256
    tmp_size_mb: int = 64
    landlock: str = "on"  # on | off | auto (on where the kernel has Landlock)
    # Seconds a storlet daemon waits for its next call before it exits (upstream: 300).
    daemon_idle_timeout: int = 3600
    # Log each storlet call's engine stages (ms) in the server log (for the benchmarks).
    stage_timings: bool = False


@dataclasses.dataclass(frozen=True)
class KeystoneAuth:
    """What the proxy's authtoken filter needs: keystone's URL and its service user."""

    url: str  # the identity API, .../v3
    service_project: str
    service_user: str
    service_password: str = dataclasses.field(repr=False)
    operator_roles: tuple[str, ...] = ("admin", "member")
    reseller_admin_role: str = "ResellerAdmin"


def proxy_pipeline(auth: KeystoneAuth | None = None) -> str:
    return PROXY_PIPELINE if auth is None else \
        PROXY_PIPELINE.replace(TEMPAUTH_FILTERS, KEYSTONE_AUTH_FILTERS)


def keystone_filters(auth: KeystoneAuth) -> dict[str, str]:
    """``authtoken`` validates tokens (cached in Swift's memcache), ``keystoneauth``
    authorizes: operators own their project's account, ACLs for the others."""
    return {
        "authtoken": f"""paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = {auth.url}
auth_url = {auth.url}
auth_type = password
user_domain_id = default
project_domain_id = default
project_name = {auth.service_project}
username = {auth.service_user}
password = {auth.service_password}
interface = public
delay_auth_decision = True
cache = swift.cache
include_service_catalog = False
service_token_roles_required = True""",
        "keystoneauth": f"""use = egg:swift#keystoneauth
operator_roles = {", ".join(auth.operator_roles)}
reseller_admin_role = {auth.reseller_admin_role}""",
    }


@dataclasses.dataclass(frozen=True)
class Users:
    """tempauth users: name -> (account, user, key, groups)."""

    admin_key: str

    def tempauth_lines(self) -> list[str]:
        return [
            f"user_admin_admin = {self.admin_key} .admin .reseller_admin",
            "user_test_tester = testing .admin",
            "user_test_tester3 = testing3",
            "user_test2_tester2 = testing2 .admin",
        ]


# With workers >= 1 a Swift server's parent polls for its workers' exit 100 times
# a second (eventlet's green waitpid): ~1% of a core per idle server. Replicas run
# ten servers, so they serve from the one process instead (workers = 0).
REPLICA_WORKERS = 0


def _default_section(layout: Layout, ports: Ports, log_name: str,
                     node: Node | None = None, workers: int = 1) -> str:
    return f"""[DEFAULT]
swift_dir = {layout.etc}
devices = {layout.node_devices(node.number if node else None)}
mount_check = false
bind_ip = 127.0.0.1
workers = {workers}
user = {getpass.getuser()}
log_name = {log_name}
log_udp_host = 127.0.0.1
log_udp_port = {ports.syslog}
log_level = INFO
"""


def swift_conf() -> str:
    return """[swift-hash]
swift_hash_path_suffix = s2aio-suffix
swift_hash_path_prefix = s2aio-prefix

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
"""


def _filters(layout: Layout, ports: Ports, users: Users | None, where: str,
             gateway_class: str = GATEWAY_CLASS, node: Node | None = None) -> dict[str, str]:
    """The body of every ``[filter:NAME]`` section s2aio uses."""
    number = node.number if node else None
    gateway = layout.gateway_conf(layout.object_where(number) if where == "object" else where)
    return {
        "catch_errors": "use = egg:swift#catch_errors",
        "gatekeeper": "use = egg:swift#gatekeeper",
        "healthcheck": "use = egg:swift#healthcheck",
        "recon": f"use = egg:swift#recon\nrecon_cache_path = {layout.recon_dir(number)}",
        # Tokens never reach the logs, not even their first characters.
        "proxy-logging": "use = egg:swift#proxy_logging\nreveal_sensitive_prefix = 0",
        "cache": f"use = egg:swift#memcache\nmemcache_servers = 127.0.0.1:{ports.memcached}",
        "listing_formats": "use = egg:swift#listing_formats",
        "s3api": "use = egg:swift#s3api\nlocation = us-east-1",
        "tempauth": "use = egg:swift#tempauth\n" + "\n".join(
            users.tempauth_lines() if users else []),
        "container-quotas": "use = egg:swift#container_quotas",
        "account-quotas": "use = egg:swift#account_quotas",
        "storlet_handler": f"""use = egg:storlets#storlet_handler
execution_server = {where}
storlet_gateway_module = {gateway_class}
storlet_gateway_conf = {gateway}
internal_client_conf_path = {layout.internal_client_conf}
storlet_container = storlet
storlet_dependency = dependency
storlet_logcontainer = log
storlet_execute_on_proxy = false""",
        # s2aio/filters.py: a storlet call's HEAD from memcache, a PUT's result echoed.
        "put_echo": "paste.filter_factory = s2aio.filters:put_echo_factory",
        "storlet_head_cache": ("paste.filter_factory = s2aio.filters:storlet_head_cache_factory\n"
                               "storlet_container = storlet"),
        "copy": "use = egg:swift#copy",
        "slo": "use = egg:swift#slo",
        "dlo": "use = egg:swift#dlo",
        "versioned_writes": ("use = egg:swift#versioned_writes\n"
                             "allow_versioned_writes = true\nallow_object_versioning = true"),
        "symlink": "use = egg:swift#symlink",
    }


def _pipeline(pipeline: str, app: str, filters: dict[str, str]) -> str:
    """``[pipeline:main]``, the app section, and one section per filter it names."""
    names = pipeline.split()
    text = f"\n[pipeline:main]\npipeline = {pipeline}\n\n[app:{names[-1]}]\n{app}\n"
    for name in dict.fromkeys(names[:-1]):
        text += f"\n[filter:{name}]\n{filters[name]}\n"
    return text


def proxy_conf(layout: Layout, ports: Ports, users: Users,
               gateway_class: str = GATEWAY_CLASS, replicas: int = 1,
               keystone: KeystoneAuth | None = None) -> str:
    """``keystone``: authenticate with keystone instead of tempauth (``users`` unused)."""
    # With replicas a stopped node refuses connections at once; a hung one costs
    # conn_timeout before the proxy tries the next. node_timeout stays long: a
    # storlet may run for storlet_timeout before its first byte.
    conn_timeout = 2 if replicas == 1 else 0.5
    # One proxy: every account or container change goes through it and clears its
    # cached info at once, so the info may live longer than Swift's 60 s. A user back
    # from a break then pays no account + container HEADs (12-30 ms on idle servers).
    app = f"""use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
node_timeout = 30
conn_timeout = {conn_timeout}
recoverable_node_timeout = 30
recheck_account_existence = {INFO_CACHE_S}
recheck_container_existence = {INFO_CACHE_S}"""
    workers = 1 if replicas == 1 else REPLICA_WORKERS
    filters = _filters(layout, ports, users, "proxy", gateway_class)
    if keystone is not None:
        filters.update(keystone_filters(keystone))
    return (_default_section(layout, ports, "proxy-server", workers=workers)
            + f"bind_port = {ports.proxy}\n"
            + _pipeline(proxy_pipeline(keystone), app, filters))


def backend_conf(kind: str, layout: Layout, ports: Ports,
                 gateway_class: str = GATEWAY_CLASS, node: Node | None = None) -> str:
    """A backend server's config; ``node`` (replicas only) gives its own port,
    devices, recon dir, sandbox and the sections of its background daemons."""
    pipeline = OBJECT_PIPELINE if kind == "object" else f"healthcheck recon {kind}-server"
    prefix = f"n{node.number}-" if node else ""
    port = node.port(kind) if node else getattr(ports, kind)
    workers = REPLICA_WORKERS if node else 1
    text = (_default_section(layout, ports, f"{prefix}{kind}-server", node, workers)
            + f"bind_port = {port}\n"
            + _pipeline(pipeline, f"use = egg:swift#{kind}",
                        _filters(layout, ports, None, "object", gateway_class, node)))
    for daemon in DAEMONS[kind]:
        # One replica runs no daemons; keep their sections valid anyway.
        text += f"\n[{daemon}]\n"
        if node:
            text += daemon_section(daemon, layout, ports, node)
    return text


def daemon_section(daemon: str, layout: Layout, ports: Ports, node: Node) -> str:
    """The body of ``[<kind>-<daemon>]`` for node ``node``'s daemons runner."""
    lines = {
        "log_name": f"n{node.number}-{daemon}",
        "interval": DAEMON_INTERVALS[daemon],
        "recon_cache_path": layout.recon_dir(node.number),
        "concurrency": 1,
        "conn_timeout": 0.5,  # a stopped node refuses at once; a hung one costs this
        "node_timeout": 10,
    }
    kind, _, role = daemon.partition("-")
    if role == "replicator" and kind == "object":
        lines["sync_method"] = "ssync"  # over the object servers' own port: no rsync
        lines["rsync_timeout"] = 30
    elif role == "replicator":
        # Whole databases go by rsync to this s2aio's own daemon (module per node
        # and kind, as Swift's SAIO does); its password comes from the environment.
        lines["rsync_module"] = (f"rsync://s2aio@127.0.0.1:{ports.rsync}/"
                                 f"{{device}}_{kind}")
    elif role == "auditor" and kind == "object":
        lines.update(files_per_second=20, bytes_per_second=1_000_000,
                     zero_byte_files_per_second=20)
    return "".join(f"{key} = {value}\n" for key, value in lines.items())


def rsyncd_conf(layout: Layout, ports: Ports, nodes: list[Node], user: str, group: str) -> str:
    """rsync daemon for account/container DB replication: loopback, password,
    write only (replicators only push), one module per node device and kind."""
    text = f"""# s2aio: rsync --daemon --no-detach --config=<this file>
address = 127.0.0.1
port = {ports.rsync}
use chroot = no
uid = {user}
gid = {group}
max connections = 8
lock file = {layout.run / "rsyncd.lock"}
log file = {layout.logs / "rsyncd.log"}
hosts allow = 127.0.0.1
auth users = s2aio
secrets file = {layout.rsyncd_secrets}
strict modes = yes
read only = false
write only = true
list = false
"""
    for node in nodes:
        for kind in ("account", "container"):
            text += (f"\n[d{node.number}_{kind}]\n"
                     f"path = {layout.node_devices(node.number)}\n")
    return text
def internal_client_conf(layout: Layout, ports: Ports) -> str:
    return (_default_section(layout, ports, "storlets-internal-client")
            + _pipeline("catch_errors proxy-logging cache symlink proxy-server",
                        "use = egg:swift#proxy\naccount_autocreate = true",
                        _filters(layout, ports, None, "proxy")))


def gateway_conf(layout: Layout, where: str, gateway: GatewaySettings) -> str:
    """``where``: "proxy", "object", or a node's "object-n<N>" (its own sandbox root,
    hence its own pipes, pid files and cgroups)."""
    root = layout.sandbox_root(where)
    return f"""[DEFAULT]
host_root = {root}
pipes_dir = {root}/pipes
storlets_dir = {root}/storlets
log_dir = {root}/logs
cache_dir = {root}/cache
storlet_timeout = {gateway.storlet_timeout}
sandbox_user = {gateway.sandbox_user}
sandbox_memory_mb = {gateway.memory_mb}
sandbox_processes = {gateway.processes}
sandbox_open_files = {gateway.open_files}
sandbox_file_size_mb = {gateway.file_size_mb}
sandbox_tmp_size_mb = {gateway.tmp_size_mb}
sandbox_landlock = {gateway.landlock}
daemon_idle_timeout = {gateway.daemon_idle_timeout}
stage_timings = {"on" if gateway.stage_timings else "off"}
s2aio_seccomp_filter = {layout.seccomp_filter}
restart_linux_container_timeout = 10
storlet_daemon_thread_pool_size = 5
storlet_daemon_factory_debug_level = WARNING
storlet_daemon_debug_level = WARNING
s2aio_native_dir = {layout.native}
s2aio_log_socket = {layout.log_socket}
s2aio_run_dir = {layout.run}
"""
