"""The main job (``make run``): notebooks in Swift, storlets next to them, JupyterLab on top.

1. start s2aio (idempotent);
2. deploy and warm the storlets of ``storlets_apps`` with their dependencies;
3. seed a ``notebooks`` container with the example notebooks (first run only);
4. list them with the listing storlet (inside Swift) and print the table;
5. launch JupyterLab on ``swiftcontents.SwiftContentsManager`` and print its URL.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from swiftclient import ClientException

from storlets_apps.nblisting import batches, render_markdown

from .core import S2AIO
from .errors import S2AIOError

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
                            headers={"X-Run-Storlet": "nbvalidate.py"},
                            query_string="mode=stamp",
                            content_type="application/x-ipynb+json")
            existing.add(name)
    return sorted(n for n in existing if n.endswith(".ipynb"))


def listing_rows(conn, names: list[str], container: str = CONTAINER) -> list[dict]:
    """Summaries of the notebooks, computed by the listing storlet on the proxy, in batches."""
    import json
    from urllib.parse import quote

    paths = [f"/{container}/{quote(n)}" for n in names]
    by_path = dict(zip(paths, names))
    rows: list[dict] = []
    # 330: the JSON size of a stamp with a first error (see swiftcontents.storlets)
    for batch in batches(paths, names=names, metadata_bytes=330):
        batch_names = [by_path[p] for p in batch]
        headers = {"X-Run-Storlet": "nblisting.py", "X-Storlet-Run-On-Proxy": "",
                   "X-Storlet-Parameter-1": "format:json",
                   "X-Storlet-Parameter-2": "names:" + json.dumps(batch_names)}
        if len(batch) > 1:
            headers["X-Storlet-Extra-Resources"] = ",".join(batch[1:])
        _, body = conn.get_object(container, batch_names[0], headers=headers)
        rows.extend(json.loads(body))
    return rows


def lab_argv(aio: S2AIO, port: int, token: str) -> list[str]:
    return [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            "--ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager",
            f"--SwiftContentsManager.container={CONTAINER}",
            # editable installs do not place jupyter_server_config.d files
            "--ServerApp.jpserver_extensions={'swiftcontents': True}",
            *(["--allow-root"] if os.geteuid() == 0 else [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--port", type=int, help="Swift proxy port (default 8080)")
    parser.add_argument("--lab-port", type=int, default=8888)
    parser.add_argument("--no-lab", action="store_true", help="stop after the listing")
    args = parser.parse_args(argv)
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
    env = dict(os.environ, **aio.env("test"))
    for var in ("OS_AUTH_TOKEN", "OS_STORAGE_URL"):
        env.pop(var, None)
    print(f"\nJupyterLab on Swift: http://127.0.0.1:{args.lab_port}/lab?token={token}\n"
          f"(Ctrl-C stops JupyterLab; `s2aio stop` stops Swift)\n", flush=True)
    os.execvpe(sys.executable, lab_argv(aio, args.lab_port, token), env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
