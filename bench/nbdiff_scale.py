"""The checkpoint diff on big notebooks with every cell changed and reordered.

Target (issue 3): 2,000 cells in under 2 s, still a correct patch. Runs the
nbdiff storlet in-process through the engine-faithful harness, and nbdime's
own ``diff_notebooks`` on the same notebooks side by side.
"""
from __future__ import annotations

import argparse
import json
import random
import time

from _common import REPO  # noqa: F401  (puts the repository on sys.path)


def notebook(n: int) -> dict:
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": i, "id": f"c{i}",
              "source": f"x{i} = {i}\nprint(x{i})\n",
              "outputs": [{"output_type": "stream", "name": "stdout", "text": f"{i}\n"}]}
             for i in range(n)]
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def changed_and_reordered(base: dict) -> dict:
    nb = json.loads(json.dumps(base))
    for cell in nb["cells"]:
        cell["source"] += "# changed\n"
        cell["outputs"][0]["text"] = "changed\n"
    random.Random(7).shuffle(nb["cells"])
    return nb


def time_storlet(n: int) -> tuple[float, bool]:
    import nbdime
    import nbformat

    from swiftproto.harness import run_storlet
    from storlets_apps.nbdiff import DiffStorlet

    base = notebook(n)
    current = changed_and_reordered(base)
    began = time.perf_counter()
    result = run_storlet(DiffStorlet, json.dumps(current).encode(), params={"format": "nbdime"},
                         extra=[(json.dumps(base).encode(), {})])
    elapsed = time.perf_counter() - began
    patched = nbdime.patch(nbformat.from_dict(base), _entries(json.loads(result.body)))
    return elapsed, patched == nbformat.from_dict(current)


def _entries(diff: list[dict]):
    from nbdime.diff_format import DiffEntry

    return [DiffEntry(**{**e, "diff": _entries(e["diff"])} if "diff" in e else e) for e in diff]


def time_nbdime(n: int) -> float:
    import nbdime
    import nbformat

    base = nbformat.from_dict(notebook(n))
    current = nbformat.from_dict(changed_and_reordered(notebook(n)))
    began = time.perf_counter()
    nbdime.diff_notebooks(base, current)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="200,2000", help="cells per notebook")
    args = parser.parse_args()
    print("nbdiff_scale: every cell changed and reordered")
    for n in (int(x) for x in args.sizes.split(",") if x):
        elapsed, ok = time_storlet(n)
        theirs = time_nbdime(n)
        target = "  (target < 2 s)" if n == 2000 else ""
        print(f"  {n:5} cells: nbdiff storlet {elapsed:6.2f} s (patch correct: {ok}), "
              f"nbdime.diff_notebooks {theirs:6.2f} s, ratio {theirs / elapsed:5.1f}x{target}")


if __name__ == "__main__":
    main()
