"""The main job (``swift-notebooks``): notebooks in Swift, storlets next to them, JupyterLab on top.

The product's demo, not part of the Swift all-in-one: it only *uses* s2aio, which
needs the Swift server parts (``pip install 'swift-notebooks[s2aio]'``).

1. start s2aio (idempotent);
2. deploy and warm the storlets of ``storlets_apps`` with their dependencies;
3. seed a ``notebooks`` container with the example notebooks (first run only);
4. list them with the listing storlet (inside Swift) and print the table;
5. launch JupyterLab on ``swiftcontents.SwiftContentsManager`` and print its URL.

JupyterLab's token is never on a command line (``ps`` shows those to every
user): it is written to a 0600 file in Jupyter's runtime dir, which jupyter_server
reads through ``JUPYTER_TOKEN_FILE``; the URL with the token is printed once, to
the terminal (JupyterLab's own log shows ``?token=...``).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Mapping

from swiftclient import ClientException

from storlets_apps.nblisting import render_markdown
from swiftproto import listing_calls, run_headers
from swiftproto.batching import STAMPED_METADATA_BYTES

SERVER_PARTS = ("swift", "jupyterlab")  # what [s2aio] adds to a plain install
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
CONTAINER = "notebooks"


def seed_notebooks(conn, container: str = CONTAINER) -> list[str]:
    """Upload the example notebooks once; return the notebook names in the container."""
    conn.put_container(container)
    _, listing = conn.get_container(container, full_listing=True)
    existing = {o["name"] for o in listing}
    for path in sorted(EXAMPLES.glob("**/*.ipynb")):
        name = str(path.relative_to(EXAMPLES))
        if name not in existing:
            conn.put_object(container, name, path.read_bytes(),
                            headers=run_headers("nbvalidate.py", {"mode": "stamp"}),
                            content_type="application/x-ipynb+json")
            existing.add(name)
    return sorted(n for n in existing if n.endswith(".ipynb"))


def listing_rows(conn, names: list[str], container: str = CONTAINER) -> list[dict]:
    """Summaries of the notebooks, computed by the listing storlet on the proxy, in batches."""
    rows: list[dict] = []
    for call in listing_calls(container, names, names, metadata_bytes=STAMPED_METADATA_BYTES):
        _, body = conn.get_object(container, call.obj, headers=call.headers)
        rows.extend(json.loads(body))
    return rows


def lab_argv(port: int) -> list[str]:
    """JupyterLab's command line: no secret in it (the token comes from ``lab_env``)."""
    return [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", "--ServerApp.port_retries=0",
            "--ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager",
            f"--SwiftContentsManager.container={CONTAINER}",
            # editable installs do not place jupyter_server_config.d files
            "--ServerApp.jpserver_extensions={'swiftcontents': True}",
            *(["--allow-root"] if os.geteuid() == 0 else [])]


def lab_env(base: Mapping[str, str], swift_env: Mapping[str, str],
            token_file: Path) -> dict[str, str]:
    """JupyterLab's environment: Swift credentials, and the token by file, not by value.

    A ``JUPYTER_TOKEN`` would win over the file and be inherited by every kernel.
    """
    env = dict(base, **swift_env)
    for var in ("OS_AUTH_TOKEN", "OS_STORAGE_URL", "JUPYTER_TOKEN"):
        env.pop(var, None)
    env["JUPYTER_TOKEN_FILE"] = str(token_file)
    return env


def write_token_file(token: str, port: int, runtime_dir: Path | None = None) -> Path:
    """``token`` in a new owner-only file of Jupyter's runtime dir (one per lab port)."""
    if runtime_dir is None:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime_dir = Path(jupyter_runtime_dir())
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = runtime_dir / f"s2aio-lab-{port}.token"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)  # jupyter_server reads the whole file: no newline
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--port", type=int, help="Swift proxy port (default 8080)")
    parser.add_argument("--lab-port", type=int, default=8888)
    parser.add_argument("--no-lab", action="store_true", help="stop after the listing")
    args = parser.parse_args(argv)
    missing = [name for name in SERVER_PARTS if importlib.util.find_spec(name) is None]
    if missing:
        print(f"main job: error: {', '.join(missing)} not installed: the main job runs Swift "
              "here; pip install 'swift-notebooks[s2aio]'", file=sys.stderr)
        return 1
    from s2aio import S2AIO, S2AIOError  # the server parts, only once known present

    aio = S2AIO(args.data_dir, args.port)
    try:
        started = aio.start()
    except S2AIOError as exc:
        print(f"s2aio: error: {exc}", file=sys.stderr)
        return 1
    print(f"s2aio: {'started' if started else 'already running'} at {aio.proxy_url} "
          f"(data {aio.data_dir})")
    from deploy.api import deploy
    from deploy.errors import DeployError

    conn = aio.connection("test")
    try:
        report = deploy(conn, warm=True, progress=lambda line: print(f"deploy: {line}"))
        print(f"deploy: {len(report.uploaded)} uploaded, {len(report.skipped)} unchanged, "
              f"{len(report.warmed)} warmed")
        if not EXAMPLES.is_dir():  # a wheel install: the examples live in the source tree
            print("main job: no example notebooks to seed here (they come with the source "
                  "tree's examples/)")
        names = seed_notebooks(conn)
        print(f"\nNotebooks in Swift container '{CONTAINER}', summarised inside Swift "
              f"by the listing storlet:\n")
        print(render_markdown(listing_rows(conn, names)))
    except (DeployError, ClientException) as exc:
        print(f"main job: error: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if args.no_lab:
        return 0
    token = secrets.token_hex(16)
    env = lab_env(os.environ, aio.env("test"), write_token_file(token, args.lab_port))
    print(f"\nJupyterLab on Swift: http://127.0.0.1:{args.lab_port}/lab?token={token}\n"
          f"(Ctrl-C stops JupyterLab; `s2aio stop` stops Swift)\n", flush=True)
    os.execvpe(sys.executable, lab_argv(args.lab_port), env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
