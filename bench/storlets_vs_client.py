"""Notebook storlets vs doing the same work in the client, side by side in one run.

Starts its own s2aio in a temp dir, deploys ``storlets_apps`` (warmed), and on
generated notebooks of 100 KB to 5 MB (code cells with PNG outputs) measures:

- validation: ``nbvalidate.py`` report vs download + ``nbformat.validate``;
- diff: ``nbdiff.py`` (checkpoint as extra resource) vs download both +
  ``nbdime.diff_notebooks``;
- listing of 200 notebooks: ``nblisting.py`` in batches vs download all + parse;
- each storlet's cost vs the identity storlet on the same object;
- peak RSS of the sandbox process running one validation (VmHWM of the
  daemon's per-invocation child, polled from /proc), vs 4x input + 50 MB.

Prints medians (ms), ratios and bytes that reached the client.
Usage: ``python bench/storlets_vs_client.py [--repeat 5] [--listing 200]``.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_s2aio, interleaved, median_ms, timed  # noqa: E402
from swiftproto import listing_calls, run_headers  # noqa: E402

SIZES = {"100KB": 100_000, "1MB": 1_000_000, "5MB": 5_000_000}


def make_notebook(size: int, seed: int) -> dict:
    """A valid nbformat 4.5 notebook of about ``size`` bytes, half of it PNG outputs."""
    rng = random.Random(seed)
    cells, total, i = [], 0, 0
    while total < size:
        png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + rng.randbytes(12_000)).decode()
        source = "\n".join(f"value_{i}_{k} = compute({k}, {rng.random():.6f})"
                           for k in range(40))
        cells.append({"id": f"md-{i}", "cell_type": "markdown", "metadata": {},
                      "source": f"## Step {i}\nSome explanation {rng.random()}."})
        cells.append({"id": f"code-{i}", "cell_type": "code", "metadata": {},
                      "execution_count": i + 1, "source": source, "outputs": [
                          {"output_type": "stream", "name": "stdout", "text": f"{i}\n" * 20},
                          {"output_type": "display_data", "metadata": {},
                           "data": {"image/png": png, "text/plain": "<Figure>"}}]})
        total += len(png) + len(source) + 400
        i += 1
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}}}


def edit(nb: dict, seed: int) -> dict:
    rng = random.Random(seed)
    out = json.loads(json.dumps(nb))
    cells = out["cells"]
    for _ in range(max(2, len(cells) // 10)):
        cell = cells[rng.randrange(len(cells))]
        cell["source"] += f"\n# edited {rng.random()}"
    cells.insert(rng.randrange(len(cells)), cells.pop(rng.randrange(len(cells))))
    del cells[rng.randrange(len(cells))]
    return out


def median_of(fn: Callable[[], object], repeat: int) -> float:
    return median_ms([timed(fn) for _ in range(repeat)])


class PeakRss:
    """Polls VmHWM of processes below this s2aio's sandboxes while a call runs."""

    def __init__(self, data_dir: Path) -> None:
        self.roots = set()
        for pid_file in data_dir.rglob("sandbox-*.pid"):
            text = pid_file.read_text().split()
            if text:
                self.roots.add(int(text[0]))
        self.peak_kb = 0
        self._stop = threading.Event()

    def _children(self) -> dict[int, int]:
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        return parents

    def _below_roots(self) -> list[int]:
        parents, found = self._children(), []
        for pid in parents:
            p, depth = pid, 0
            while p in parents and depth < 12:
                if parents[p] in self.roots:
                    found.append(pid)
                    break
                p, depth = parents[p], depth + 1
        return found

    def _poll(self) -> None:
        daemons = set(self._below_roots())  # before the call: factory and daemons
        while not self._stop.is_set():
            for pid in set(self._below_roots()) - daemons:  # the invocation's fork
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                except OSError:
                    pass
            time.sleep(0.0005)

    def measure(self, fn: Callable[[], object]) -> float:
        """Peak RSS in MB of any new sandbox process during ``fn()``."""
        thread = threading.Thread(target=self._poll, daemon=True)
        thread.start()
        time.sleep(0.05)
        fn()
        self._stop.set()
        thread.join()
        return self.peak_kb / 1024


def client_listing_entry(data: bytes) -> dict:
    import nbformat
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    return {"cells": len(nb.cells), "kernel": nb.metadata.get("kernelspec", {}).get("name"),
            "outputs": sum(len(c.get("outputs", [])) for c in nb.cells),
            "valid": nbformat.validator.isvalid(nb)}


def bench_size(conn, container: str, label: str, size: int, repeat: int,
               data_dir: Path) -> list[str]:
    import nbformat
    import nbdime

    nb = make_notebook(size, seed=size)
    data = json.dumps(nb, indent=1).encode()
    checkpoint = json.dumps(edit(nb, seed=1), indent=1).encode()
    conn.put_object(container, f"{label}.ipynb", data)
    conn.put_object(container, f"{label}.ckpt", checkpoint)
    name, got = f"{label}.ipynb", {}

    def storlet(storlet_name, params=None, extra=(), key=None):
        headers = run_headers(storlet_name, params, extra=extra, on_proxy=bool(extra))

        def call():
            _, body = conn.get_object(container, name, headers=headers)
            got[key or storlet_name] = len(body)
        return call

    def client_validate():
        _, body = conn.get_object(container, name)
        got["client-validate"] = len(body)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.reads(body.decode(), as_version=4))

    def client_diff():
        _, a = conn.get_object(container, f"{label}.ckpt")
        _, b = conn.get_object(container, name)
        got["client-diff"] = len(a) + len(b)
        nbdime.diff_notebooks(nbformat.reads(a.decode(), as_version=4),
                              nbformat.reads(b.decode(), as_version=4))

    extra = [(container, f"{label}.ckpt")]
    # The diff's baseline is identity on the proxy over the same two inputs.
    t = interleaved({
        "identity": storlet("identity.py"),
        "identity-proxy": storlet("identity.py", extra=extra, key="idp"),
        "validate": storlet("nbvalidate.py", {"mode": "report"}),
        "client-validate": client_validate,
        "diff": storlet("nbdiff.py", extra=extra),
        "client-diff": client_diff,
    }, repeat)
    peak = PeakRss(data_dir).measure(storlet("nbvalidate.py", {"mode": "report"}))
    bound = 4 * len(data) / 1e6 + 50
    return [
        f"{label:>6} ({len(data) / 1e6:.2f} MB)",
        f"  validate: storlet {t['validate']:7.1f} ms vs client {t['client-validate']:7.1f} ms"
        f" (client/storlet {t['client-validate'] / t['validate']:.2f}x); bytes to client "
        f"{got['nbvalidate.py']} vs {got['client-validate']}"
        f" ({got['client-validate'] / got['nbvalidate.py']:.0f}x fewer)",
        f"  diff:     storlet {t['diff']:7.1f} ms vs client {t['client-diff']:7.1f} ms"
        f" (client/storlet {t['client-diff'] / t['diff']:.2f}x); bytes to client "
        f"{got['nbdiff.py']} vs {got['client-diff']}"
        f" ({got['client-diff'] / got['nbdiff.py']:.0f}x fewer)",
        f"  engine:   identity {t['identity']:.1f} ms (object) / {t['identity-proxy']:.1f} ms "
        f"(proxy, both inputs); validate/identity {t['validate'] / t['identity']:.2f}x, "
        f"diff/identity(proxy, both inputs) {t['diff'] / t['identity-proxy']:.2f}x",
        f"  memory:   sandbox peak RSS during one validation {peak:.1f} MB "
        f"(bound 4x input + 50 MB = {bound:.1f} MB) {'OK' if 0 < peak < bound else 'CHECK'}",
    ]


def bench_listing(conn, container: str, count: int, repeat: int) -> list[str]:
    names = []
    for i in range(count):
        names.append(f"many/nb-{i:04d}.ipynb")
        conn.put_object(container, names[-1], json.dumps(make_notebook(100_000, i)).encode())
    got = {}
    calls = listing_calls(container, names, names, metadata_bytes=0)

    def storlet_listing():
        total, entries = 0, 0
        for call in calls:
            _, body = conn.get_object(container, call.obj, headers=call.headers)
            total += len(body)
            entries += len(json.loads(body))
        assert entries == count
        got["storlet"] = total

    def client_listing():
        total = 0
        for name in names:
            _, body = conn.get_object(container, name)
            total += len(body)
            client_listing_entry(body)
        got["client"] = total

    sizes = "/".join(str(len(call.indexes)) for call in calls[:2])
    s = median_of(storlet_listing, repeat)
    c = median_of(client_listing, repeat)
    return [f"listing of {count} notebooks (~100 KB each, batches of {sizes}):",
            f"  storlet {s:8.1f} ms vs client {c:8.1f} ms (client/storlet {c / s:.2f}x); bytes to client "
            f"{got['storlet']} vs {got['client']} ({got['client'] / got['storlet']:.0f}x fewer)"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs per median")
    parser.add_argument("--listing", type=int, default=200, help="notebooks to list")
    args = parser.parse_args(argv)
    from deploy.api import deploy

    with fresh_s2aio() as aio:
        conn = aio.connection("test")
        deploy(conn, warm=True)
        container = "bench"
        conn.put_container(container)
        print(f"s2aio at {aio.proxy_url}; medians of {args.repeat} runs")
        for label, size in SIZES.items():
            print("\n".join(bench_size(conn, container, label, size, args.repeat,
                                       Path(aio.data_dir))), flush=True)
        print("\n".join(bench_listing(conn, container, args.listing, max(1, args.repeat // 2))))
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
