"""Swift, storlets and gateway configuration texts for one s2aio (pure)."""
from __future__ import annotations

import dataclasses
import getpass

from .layout import Layout

GATEWAY_CLASS = "s2aio.gateway.BwrapStorletGateway"

PROXY_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
    "s3api tempauth container-quotas account-quotas storlet_handler copy slo dlo "
    "versioned_writes symlink proxy-logging proxy-server"
)
OBJECT_PIPELINE = "healthcheck recon storlet_handler object-server"


@dataclasses.dataclass(frozen=True)
class Ports:
    proxy: int
    account: int
    container: int
    object: int
    memcached: int
    syslog: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


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


def _default_section(layout: Layout, ports: Ports, log_name: str) -> str:
    return f"""[DEFAULT]
swift_dir = {layout.etc}
devices = {layout.devices}
mount_check = false
bind_ip = 127.0.0.1
workers = 1
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


def proxy_conf(layout: Layout, ports: Ports, users: Users) -> str:
    tempauth = "\n".join(users.tempauth_lines())
    return _default_section(layout, ports, "proxy-server") + f"""bind_port = {ports.proxy}

[pipeline:main]
pipeline = {PROXY_PIPELINE}

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
node_timeout = 30
conn_timeout = 2
recoverable_node_timeout = 30

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging
# Tokens never reach the logs, not even their first characters.
reveal_sensitive_prefix = 0

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{ports.memcached}

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
{tempauth}

[filter:container-quotas]
use = egg:swift#container_quotas

[filter:account-quotas]
use = egg:swift#account_quotas

[filter:storlet_handler]
use = egg:storlets#storlet_handler
execution_server = proxy
storlet_gateway_module = {GATEWAY_CLASS}
storlet_gateway_conf = {layout.gateway_conf("proxy")}
internal_client_conf_path = {layout.internal_client_conf}
storlet_container = storlet
storlet_dependency = dependency
storlet_logcontainer = log
storlet_execute_on_proxy_only = false

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
allow_object_versioning = true

[filter:symlink]
use = egg:swift#symlink
"""


def backend_conf(kind: str, layout: Layout, ports: Ports) -> str:
    port = getattr(ports, kind)
    text = _default_section(layout, ports, f"{kind}-server") + f"""bind_port = {port}

[pipeline:main]
pipeline = {OBJECT_PIPELINE if kind == "object" else f"healthcheck recon {kind}-server"}

[app:{kind}-server]
use = egg:swift#{kind}

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:recon]
use = egg:swift#recon
recon_cache_path = {layout.run}
"""
    if kind == "object":
        text += f"""
[filter:storlet_handler]
use = egg:storlets#storlet_handler
execution_server = object
storlet_gateway_module = {GATEWAY_CLASS}
storlet_gateway_conf = {layout.gateway_conf("object")}
internal_client_conf_path = {layout.internal_client_conf}
storlet_container = storlet
storlet_dependency = dependency
storlet_logcontainer = log
"""
    # Background daemons are not run by s2aio; keep their sections valid anyway.
    text += f"\n[{kind}-replicator]\n[{kind}-auditor]\n"
    if kind != "account":
        text += f"[{kind}-updater]\n"
    return text


def internal_client_conf(layout: Layout, ports: Ports) -> str:
    return _default_section(layout, ports, "storlets-internal-client") + f"""
[pipeline:main]
pipeline = catch_errors proxy-logging cache symlink proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:proxy-logging]
use = egg:swift#proxy_logging
# Tokens never reach the logs, not even their first characters.
reveal_sensitive_prefix = 0

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{ports.memcached}

[filter:symlink]
use = egg:swift#symlink
"""


def gateway_conf(layout: Layout, where: str) -> str:
    root = layout.sandbox_root(where)
    return f"""[DEFAULT]
host_root = {root}
pipes_dir = {root}/pipes
storlets_dir = {root}/storlets
log_dir = {root}/logs
cache_dir = {root}/cache
storlet_timeout = 60
restart_linux_container_timeout = 10
storlet_daemon_thread_pool_size = 5
storlet_daemon_factory_debug_level = INFO
storlet_daemon_debug_level = INFO
s2aio_native_dir = {layout.native}
s2aio_log_socket = {layout.log_socket}
s2aio_run_dir = {layout.run}
"""
