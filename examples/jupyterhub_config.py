# JupyterHub: one single-user server per user, each on SwiftContentsManager with
# the container nb-{username} and that user's own Swift credentials
# (swiftcontents/hub.py says why per-user credentials, and the file format).
#
#   SWIFTHUB_CREDENTIALS=/etc/jupyterhub/swift-users.json \
#   jupyterhub -f examples/jupyterhub_config.py
#
# Environment:
#   SWIFTHUB_CREDENTIALS  the per-user credentials file (JSON, mode 0600): per hub
#                         user, tempauth ST_* or keystone OS_* variables (format:
#                         swiftcontents/hub.py); required
#   SWIFTHUB_STATE_DIR    the hub's database, cookie secret and proxy pid file
#                         (default: the current directory)
#   SWIFTHUB_BIND_URL     the public URL (default http://127.0.0.1:8000)
#
# Users' servers run under their own Unix accounts (JupyterHub's default
# LocalProcessSpawner and PAM login): a server's environment, which holds its
# user's Swift key, is then readable by that user alone. A spawner that runs
# every server as one Unix user (SimpleLocalProcessSpawner, as tests/hub does)
# lets any user's kernel read every other server's key from /proc: never in
# production. Container spawners (DockerSpawner, a podman spawner) isolate too.
import os
from pathlib import Path

from swiftcontents.hub import configure

c = get_config()  # noqa: F821 - defined by JupyterHub when it loads this file

state = Path(os.environ.get("SWIFTHUB_STATE_DIR", "."))
c.JupyterHub.bind_url = os.environ.get("SWIFTHUB_BIND_URL", "http://127.0.0.1:8000")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")

# Each server: ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager,
# its container and its user's credentials (environment, never argv).
configure(c, os.environ["SWIFTHUB_CREDENTIALS"], container_template="nb-{username}",
          storlets="auto")

# Servers listen on loopback only; the proxy is the one way in.
c.Spawner.ip = "127.0.0.1"
