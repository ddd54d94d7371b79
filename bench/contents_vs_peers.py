"""Benchmark: SwiftContentsManager vs s3contents (same s2aio, via s3api) vs local disk.

Operations (medians over --repeat runs, measured side by side in one run):
get notebook, save notebook, list a 1,000-entry directory, rename a 100-file
directory. Then the memory check: a 1 GiB upload through a real jupyter server
in 1 MiB chunks (JupyterLab's protocol), server RSS growth measured.

    python bench/contents_vs_peers.py [--repeat 11] [--upload-mb 1024]

Uses a running s2aio when ST_AUTH/ST_USER/ST_KEY are set (`eval "$(s2aio env)"`),
else starts one in a temporary directory. Needs `pip install s3contents`.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

import nbformat
from jupyter_core.utils import ensure_async

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LIST_SIZE = 1000
RENAME_SIZE = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_notebook(cells: int = 40) -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    for i in range(cells):
        nb.cells.append(nbformat.v4.new_markdown_cell(f"# Section {i}\n" + "text " * 40))
        nb.cells.append(nbformat.v4.new_code_cell(f"x{i} = {i} ** 2\nprint(x{i})", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text=f"{i * i}\n" * 5)]))
    return nb


# -- managers -------------------------------------------------------------------------
def make_managers(env: dict[str, str], tmp: Path) -> dict[str, Any]:
    from jupyter_server.services.contents.filemanager import AsyncFileContentsManager
    from s3contents import S3ContentsManager

    from swiftcontents import SwiftContentsManager
    from swiftproto import connect, settings_from_env

    settings = settings_from_env(env)
    conn = connect(settings)
    bucket = f"bench-s3-{uuid.uuid4().hex[:8]}"
    conn.put_container(bucket)
    conn.close()
    proxy = env["ST_AUTH"].split("/auth")[0]
    common = dict(auth_version="1", auth_url=env["ST_AUTH"], user=env["ST_USER"], key=env["ST_KEY"])
    local = tmp / "local"
    local.mkdir()
    return {
        "swiftcontents": SwiftContentsManager(container=f"bench-sw-{uuid.uuid4().hex[:8]}",
                                              storlets="auto", **common),
        "swiftcontents (storlets off)": SwiftContentsManager(
            container=f"bench-swoff-{uuid.uuid4().hex[:8]}", storlets="off", **common),
        "s3contents": S3ContentsManager(bucket=bucket, endpoint_url=proxy, region_name="us-east-1",
                                        access_key_id=env["ST_USER"], secret_access_key=env["ST_KEY"]),
        "local disk (AsyncFileContentsManager)": AsyncFileContentsManager(root_dir=str(local)),
    }


async def populate(cm: Any, directory: str, count: int, ext: str = ".txt") -> None:
    await ensure_async(cm.save({"type": "directory"}, directory))
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        async with sem:
            await ensure_async(cm.save({"type": "file", "format": "text", "content": f"file {i}"},
                                       f"{directory}/f{i:04d}{ext}"))

    if asyncio.iscoroutinefunction(cm.save):
        await asyncio.gather(*(one(i) for i in range(count)))
    else:  # a synchronous manager: one at a time, as its server would
        for i in range(count):
            await one(i)


async def setup(cm: Any, model: dict[str, Any]) -> None:
    await ensure_async(cm.save(model, "bench.ipynb"))
    await populate(cm, "big", LIST_SIZE)
    await populate(cm, "r0", RENAME_SIZE)


async def interleaved(managers: dict[str, Any], repeat: int) -> dict[str, dict[str, float]]:
    """Medians per operation; each round times every manager in turn, so a load
    change on the shared machine hits all of them alike."""
    model = {"type": "notebook", "content": sample_notebook()}
    for cm in managers.values():
        await setup(cm, model)
    step = {name: 0 for name in managers}

    async def rename(name: str, cm: Any) -> None:
        i = step[name]
        await ensure_async(cm.rename(f"r{i}", f"r{i + 1}"))
        step[name] = i + 1

    ops: dict[str, Callable[[str, Any], Any]] = {
        "get notebook": lambda n, cm: cm.get("bench.ipynb"),
        "save notebook": lambda n, cm: cm.save(model, "bench.ipynb"),
        f"list {LIST_SIZE}-entry dir": lambda n, cm: cm.get("big"),
        f"rename {RENAME_SIZE}-file dir": rename,
    }
    samples: dict[str, dict[str, list[float]]] = {n: {op: [] for op in ops} for n in managers}
    for op, fn in ops.items():
        rounds = repeat if "rename" not in op and "list" not in op else max(3, repeat // 2)
        for _ in range(rounds):
            for name, cm in managers.items():
                started = time.perf_counter()
                await ensure_async(fn(name, cm))
                samples[name][op].append(time.perf_counter() - started)
    for name, cm in managers.items():  # renames must not lose files
        listing = await ensure_async(cm.get(f"r{step[name]}"))
        assert len(listing["content"]) == RENAME_SIZE, f"{name}: rename lost files"
    return {n: {op: statistics.median(v) for op, v in ops_.items()} for n, ops_ in samples.items()}


# -- memory: 1 GiB chunked upload through a real server ---------------------------------
def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def upload_memory(env: dict[str, str], size_mb: int, tmp: Path) -> dict[str, float]:
    port, token = free_port(), secrets.token_hex(16)
    container = f"bench-up-{uuid.uuid4().hex[:8]}"
    cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
           f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.root_dir={tmp}",
           "--ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager",
           f"--SwiftContentsManager.container={container}"]
    # The token goes through the environment, never the command line (ps shows it).
    server_env = {**os.environ, **env, "PYTHONPATH": str(REPO), "JUPYTER_TOKEN": token,
                  "JUPYTER_CONFIG_DIR": str(tmp / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp / "rt")}
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(cmd, env=server_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def put(path: str, body: dict[str, Any]) -> None:
        req = urllib.request.Request(f"{base}/api/contents/{path}", method="PUT",
                                     data=json.dumps(body).encode())
        req.add_header("Authorization", f"token {token}")
        with urllib.request.urlopen(req, timeout=120) as resp:
            resp.read()

    try:
        for _ in range(300):
            try:
                put("warm.txt", {"type": "file", "format": "text", "content": "warm"})
                break
            except OSError:
                time.sleep(0.2)
        chunk = base64.b64encode(os.urandom(1024 * 1024)).decode()
        put("warm.bin", {"type": "file", "format": "base64", "content": chunk, "chunk": 1})
        put("warm.bin", {"type": "file", "format": "base64", "content": chunk, "chunk": -1})
        before = peak = rss_kb(proc.pid)
        started = time.perf_counter()
        for i in range(1, size_mb + 1):
            number = -1 if i == size_mb else i
            put("big.bin", {"type": "file", "format": "base64", "content": chunk, "chunk": number})
            peak = max(peak, rss_kb(proc.pid))
        elapsed = time.perf_counter() - started
        req = urllib.request.Request(f"{base}/api/contents/big.bin?content=0")
        req.add_header("Authorization", f"token {token}")
        size = json.loads(urllib.request.urlopen(req).read())["size"]
        assert size == size_mb * 1024 * 1024, f"uploaded size {size}"
        return {"size_mb": size_mb, "seconds": elapsed, "rss_before_mb": before / 1024,
                "rss_peak_mb": peak / 1024, "rss_growth_mb": (peak - before) / 1024}
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


# -- main -------------------------------------------------------------------------------
def start_s2aio(tmp: Path) -> tuple[Any, dict[str, str]]:
    from s2aio import S2AIO

    aio = S2AIO(data_dir=tempfile.mkdtemp(prefix="s2aio-b"), port=free_port())
    aio.start()
    return aio, aio.env("test")


def deploy_storlets(env: dict[str, str]) -> None:
    from deploy.api import deploy
    from swiftproto import connect, settings_from_env

    conn = connect(settings_from_env(env))
    try:
        deploy(conn, warm=True)
    finally:
        conn.close()


def report(results: dict[str, dict[str, float]]) -> str:
    ops = list(next(iter(results.values())))
    names = list(results)
    ours = [n for n in names if n.startswith("swiftcontents")]
    lines = ["| operation | " + " | ".join(names) + " | "
             + " | ".join(f"s3contents / {n}" for n in ours) + " |",
             "|---" * (len(names) + len(ours) + 1) + "|"]
    for op in ops:
        row = [f"{results[n][op] * 1000:.1f} ms" for n in names]
        ratios = [f"{results['s3contents'][op] / results[n][op]:.2f}x" for n in ours]
        lines.append(f"| {op} | " + " | ".join(row + ratios) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--upload-mb", type=int, default=1024, help="0 skips the memory check")
    args = parser.parse_args(argv)
    aio = None
    with tempfile.TemporaryDirectory(prefix="bench-contents-") as tmp_name:
        tmp = Path(tmp_name)
        if os.environ.get("ST_AUTH"):
            env = {k: os.environ[k] for k in ("ST_AUTH", "ST_USER", "ST_KEY")}
        else:
            aio, env = start_s2aio(tmp)
        try:
            deploy_storlets(env)
            print("setting up and timing (interleaved rounds) ...", flush=True)
            results = asyncio.run(interleaved(make_managers(env, tmp), args.repeat))
            print("\nmedians (lower is better)\n" + report(results))
            if args.upload_mb:
                print(f"\nuploading {args.upload_mb} MiB in 1 MiB chunks through jupyter server ...",
                      flush=True)
                mem = upload_memory(env, args.upload_mb, tmp)
                print(f"upload: {mem['size_mb']} MiB in {mem['seconds']:.1f} s "
                      f"({mem['size_mb'] / mem['seconds']:.1f} MiB/s); server RSS "
                      f"{mem['rss_before_mb']:.0f} MB -> peak {mem['rss_peak_mb']:.0f} MB "
                      f"(growth {mem['rss_growth_mb']:.1f} MB; target < 100 MB)")
                if mem["rss_growth_mb"] >= 100:
                    return 1
        finally:
            if aio is not None:
                aio.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
