"""Run one Swift server with this data dir's swift.conf instead of /etc/swift.

Usage: ``python -m s2aio.server {proxy|account|container|object} CONF``.
Swift reads ``/etc/swift/swift.conf`` from a module constant; pointing that
constant (and libsbus' path) at the data dir keeps every s2aio self-contained,
so two data dirs run side by side and nothing is written under /etc.

Every file a server writes (objects, account and container databases, locks,
storlet caches) is owner-only: the umask is 077, kept after Swift's daemon
hygiene, which would reset it to 022.
"""
from __future__ import annotations

import os
import sys

PRIVATE_UMASK = 0o077
MAINS = {
    "proxy": "swift.proxy.server",
    "account": "swift.account.server",
    "container": "swift.container.server",
    "object": "swift.obj.server",
}


def use_swift_conf(path: str) -> None:
    import swift.common.utils as utils
    from swift.common import constraints, storage_policy

    utils.SWIFT_CONF_FILE = path
    utils.HASH_PATH_SUFFIX = b""
    utils.HASH_PATH_PREFIX = b""
    utils.validate_hash_conf()
    storage_policy.reload_storage_policies()
    constraints.reload_constraints()


def keep_private_umask() -> None:
    """Umask 077 now and after ``clean_up_daemon_hygiene`` (``os.umask(0o22)``), which
    ``run_wsgi`` calls before it forks the workers; Swift has no setting for it."""
    from swift.common import utils, wsgi

    hygiene = utils.clean_up_daemon_hygiene

    def private_hygiene() -> None:
        hygiene()
        os.umask(PRIVATE_UMASK)

    # wsgi imported the function by name; daemons call it through utils
    wsgi.clean_up_daemon_hygiene = utils.clean_up_daemon_hygiene = private_hygiene
    os.umask(PRIVATE_UMASK)


def use_libsbus(path: str) -> None:
    from storlets.sbus.sbus import SBus

    SBus.SBUS_SO_NAME = path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in MAINS:
        print(__doc__, file=sys.stderr)
        return 2
    kind, conf = argv
    use_swift_conf(os.environ["S2AIO_SWIFT_CONF"])
    use_libsbus(os.environ["S2AIO_LIBSBUS"])
    keep_private_umask()
    module = __import__(MAINS[kind], fromlist=["main"])
    sys.argv = [f"swift-{kind}-server", conf]
    return module.main() or 0


if __name__ == "__main__":
    sys.exit(main())
