"""The main job (``swift-notebooks``): notebooks in Swift, storlets next to them, JupyterLab on top.

The product's demo, not part of the Swift all-in-one: it only *uses* s2aio, which
needs the Swift server parts (``pip install 'swift-notebooks[s2aio]'``).

1. start s2aio (idempotent);
2. deploy and warm the storlets of ``storlets_apps`` with their dependencies;
3. seed a ``notebooks`` container with the example notebooks, only while it is
   empty (a user's renames and deletions are never undone);
4. list them with the listing storlet (inside Swift) and print the table;
5. launch JupyterLab on ``swiftcontents.SwiftContentsManager`` and print its URL;
   if the JupyterLab an earlier run started for this data dir still runs, print
   that one's URL instead (its own token, read from its server info file).

JupyterLab's token is never on a command line (``ps`` shows those to every
user): it is written to a 0600 file in Jupyter's runtime dir, which jupyter_server
reads through ``JUPYTER_TOKEN_FILE``; the URL with the token is printed to the
terminal, never logged (JupyterLab's own log shows ``?token=...``).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import secrets
import sys
import time
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
LAB_START_WAIT_S = 60.0  # a lab started moments ago writes its server info within this


def seed_notebooks(conn, container: str = CONTAINER) -> list[str]:
    """Upload the example notebooks into ``container`` if it is empty; return the
    notebook names in it.

    Only an empty container is seeded: once the user has renamed, moved or
    deleted an example, putting it back would undo their work.
    """
    conn.put_container(container)
    _, listing = conn.get_container(container, full_listing=True)
    existing = {o["name"] for o in listing}
    if not existing:
        for path in sorted(EXAMPLES.glob("**/*.ipynb")):
            name = str(path.relative_to(EXAMPLES))
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
        runtime_dir = jupyter_runtime()
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = runtime_dir / f"s2aio-lab-{port}.token"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)  # jupyter_server reads the whole file: no newline
    os.replace(tmp, path)
    return path


def jupyter_runtime() -> Path:
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


def lab_record_path(data_dir: Path, runtime: Path) -> Path:
    """Where the main job notes the JupyterLab it started for ``data_dir``."""
    key = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    return runtime / f"s2aio-lab-{key}.json"


def write_lab_record(path: Path, pid: int, port: int, data_dir: Path) -> None:
    """pid and port only (no token: the server's own info file holds that)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": pid, "port": port, "data_dir": str(data_dir)}, f)
    os.replace(tmp, path)


def read_lab_record(path: Path) -> tuple[int, int] | None:
    """``(pid, port)`` from the record, or None if there is none or it is garbled."""
    try:
        record = json.loads(path.read_text())
        pid, port = record.get("pid"), record.get("port")
    except (OSError, ValueError, AttributeError):
        return None
    if not all(isinstance(n, int) and n > 0 for n in (pid, port)):
        return None
    return pid, port


def is_starting_lab(pid: int) -> bool:
    """``pid`` is a JupyterLab on Swift that has not written its server info yet."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"jupyterlab" in cmdline and b"swiftcontents.SwiftContentsManager" in cmdline


def running_lab(record: Path, runtime: Path, wait_s: float = LAB_START_WAIT_S) -> dict | None:
    """The server info (url, port, token, pid) of the JupyterLab an earlier run
    started for this data dir, if it still runs; None otherwise.

    jupyter_server writes that info file (0600) once it listens, and
    ``list_running_servers`` drops the files of servers whose process is gone.
    A lab still starting is waited for. The token is the server's own, never a
    new one.
    """
    from jupyter_server.serverapp import list_running_servers

    noted = read_lab_record(record)
    if noted is None:
        return None
    pid, port = noted
    deadline = time.monotonic() + wait_s
    while True:
        for info in list_running_servers(str(runtime)):
            # pid and port: a reused pid is not taken for the lab
            if (info.get("pid"), info.get("port")) == (pid, port) and info.get("token"):
                return info
        if not is_starting_lab(pid) or time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def lab_url(info: Mapping) -> str:
    return f"{str(info['url']).rstrip('/')}/lab?token={info['token']}"


def port_number(text: str) -> int:
    """A TCP port, 1-65535 (argparse reports the error and exits 2)."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, got {text!r}")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--port", type=port_number, help="Swift proxy port (default 8080)")
    parser.add_argument("--lab-port", type=port_number, default=8888,
                        help="JupyterLab's port (default 8888); `make run LAB_PORT=N`")
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
    return launch_lab(aio, args.lab_port)


def launch_lab(aio, port: int) -> int:
    """Print the running lab's URL, or start JupyterLab in this process (exec)."""
    from s2aio.core import port_is_free

    runtime = jupyter_runtime()
    record = lab_record_path(aio.data_dir, runtime)
    info = running_lab(record, runtime)
    if info is not None:
        moved = "" if info.get("port") == port else \
            f"; --lab-port {port} ignored: stop it first (Ctrl-C in its terminal) to move it"
        print(f"\nJupyterLab on Swift already runs for {aio.data_dir} (pid {info['pid']}"
              f"{moved}):\n{lab_url(info)}\n", flush=True)
        return 0
    if not port_is_free(port):
        print(f"main job: error: port {port} on 127.0.0.1 is taken by another program; "
              f"choose JupyterLab's port with `make run LAB_PORT=N` (or --lab-port N)",
              file=sys.stderr)
        return 1
    token = secrets.token_hex(16)
    env = lab_env(os.environ, aio.env("test"), write_token_file(token, port, runtime))
    write_lab_record(record, os.getpid(), port, aio.data_dir)  # exec keeps this pid
    print(f"\nJupyterLab on Swift: http://127.0.0.1:{port}/lab?token={token}\n"
          f"(Ctrl-C stops JupyterLab; `s2aio stop` stops Swift)\n", flush=True)
    os.execvpe(sys.executable, lab_argv(port), env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
