"""keystone's side of s2aio; runs in keystone's own virtualenv, never in s2aio's.

Usage (``OS_KEYSTONE_CONFIG_DIR`` names the dir of ``keystone.conf``)::

    <keystone venv>/bin/python -I keystone_run.py setup PUBLIC_URL REGION
    <keystone venv>/bin/python -I keystone_run.py serve PORT WORKERS

``setup`` brings a new keystone up (keystone-manage's ``db_sync``,
``fernet_setup``, ``credential_setup`` and ``bootstrap``, the admin password from
``OS_BOOTSTRAP_PASSWORD``) in one interpreter: four ``keystone-manage`` runs
took ~8 s here, mostly keystone's imports, one run ~2.5 s. ``serve`` serves
keystone's WSGI app with gunicorn on 127.0.0.1.

Standalone on purpose (standard library, gunicorn, keystone): keystone's
virtualenv does not hold s2aio, and ``-I`` keeps this file's directory (s2aio's
own modules) off ``sys.path``. keystone 30 ships no ``keystone-wsgi-public``
script, so the app comes from ``keystone.server.wsgi``. oslo.config parses
``sys.argv`` when keystone loads: it must not see this file's arguments.
"""
from __future__ import annotations

import getpass
import grp
import os
import sys

# One sync worker serves a request at a time; keystone's in-memory cache is per
# worker and sqlite serialises writes anyway.
GUNICORN_OPTIONS = {
    "graceful_timeout": 2,  # s2aio stop waits 2 s before SIGKILL
    "timeout": 60,
    "accesslog": None,
    "errorlog": "-",
    "loglevel": "warning",
    "proc_name": "s2aio-keystone",
    "control_socket_disable": True,  # gunicorn >= 25.1 opens one in $HOME otherwise
}


def setup(public_url: str, region: str) -> int:
    from keystone.cmd import cli
    from keystone.conf import CONF

    conf = os.path.join(os.environ["OS_KEYSTONE_CONFIG_DIR"], "keystone.conf")
    owner = ["--keystone-user", getpass.getuser(),
             "--keystone-group", grp.getgrgid(os.getegid()).gr_name]
    steps = (["db_sync"], ["fernet_setup"] + owner, ["credential_setup"] + owner,
             ["bootstrap", "--bootstrap-public-url", public_url,
              "--bootstrap-region-id", region])
    for step in steps:
        cli.main(argv=["keystone-manage", "--config-file", conf] + step)
        # keystone-manage parses its global config once per process
        CONF.reset()
        CONF.clear()
    return 0


def serve(port: int, workers: int) -> int:
    from gunicorn.app.base import BaseApplication
    from gunicorn.config import KNOWN_SETTINGS

    known = {setting.name for setting in KNOWN_SETTINGS}

    class KeystoneApp(BaseApplication):
        def load_config(self) -> None:
            options = dict(GUNICORN_OPTIONS, bind=f"127.0.0.1:{port}", workers=workers)
            for key, value in options.items():
                if key in known:  # older gunicorns lack the control socket settings
                    self.cfg.set(key, value)

        def load(self):
            from keystone.server.wsgi import initialize_public_application

            return initialize_public_application()

    KeystoneApp().run()
    return 0


def main(argv: list[str]) -> int:
    sys.argv = sys.argv[:1]
    os.umask(0o077)  # the database, keys and logs: owner-only, as s2aio's servers
    if len(argv) == 3 and argv[0] == "setup":
        return setup(argv[1], argv[2])
    if len(argv) == 3 and argv[0] == "serve" and argv[1].isdigit() and argv[2].isdigit():
        return serve(int(argv[1]), int(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
