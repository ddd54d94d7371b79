"""The reliability campaign: load, faults, hostile input, collaboration, path tricks.

``python bench/reliability.py [--quick] [--only SECTION]`` starts an s2aio (three
replicas where this s2aio supports them), deploys and warms the storlets in account
``test``, runs each section, prints every figure and then a summary table. Exit
status 1 if any target is missed (or a section could not run), 2 on usage errors.

Each section is a module ``bench/reliability_<section>.py`` exposing
``run(aio, *, quick=False) -> {"section", "lines", "ok", "failures"}`` and runs
standalone too (``python -m bench.reliability_load``). Sections that disturb the
cluster (faults) run last.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # ``python bench/reliability.py`` puts bench/ first, not REPO
    sys.path.insert(0, str(REPO))

from bench._jupyter import free_port  # noqa: E402

SECTIONS = ("load", "hostile", "paths", "collab", "faults")
REPLICAS = 3
Result = dict[str, Any]


def start_aio(replicas: int = REPLICAS, gateway: Any = None, prefix: str = "s2aio-r"):
    """A started s2aio with ``replicas`` replicas in a fresh temp dir; (aio, note)."""
    from s2aio import S2AIO

    data_dir = tempfile.mkdtemp(prefix=prefix)  # short: SBus socket paths are limited
    kwargs: dict[str, Any] = {"gateway": gateway} if gateway is not None else {}
    aio = S2AIO(data_dir, free_port(), replicas=replicas, **kwargs)
    try:
        aio.start()
    except BaseException:
        aio.reset()
        raise
    return aio, ""


def prepare(aio) -> None:
    """Deploy and warm the storlets in account test."""
    from deploy.api import deploy

    conn = aio.connection("test")
    try:
        deploy(conn, warm=True)
    finally:
        conn.close()


def load_section(name: str) -> Callable[..., Result] | None:
    try:
        module = importlib.import_module(f"bench.reliability_{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.reliability_{name}":
            return None
        raise
    return module.run


def run_section(name: str, aio, quick: bool) -> Result:
    """One section's result; a section that is missing or crashes is a missed target."""
    began = time.monotonic()
    try:
        run = load_section(name)
        if run is None:
            result = {"section": name, "lines": [f"{name}: not on this branch"], "ok": False,
                      "failures": [f"bench/reliability_{name}.py is missing"]}
        else:
            result = run(aio, quick=quick)
    except Exception as exc:
        result = {"section": name, "lines": [f"{name}: crashed"], "ok": False,
                  "failures": [f"{type(exc).__name__}: {exc}",
                               *traceback.format_exc().splitlines()[-6:]]}
    result["seconds"] = time.monotonic() - began
    return result


def print_result(result: Result) -> None:
    print(f"\n== {result['section']} ({result['seconds']:.0f} s)")
    for line in result["lines"]:
        print(line)
    for failure in result["failures"]:
        print(f"  MISSED: {failure}")
    sys.stdout.flush()


def summary(results: list[Result], note: str) -> list[str]:
    lines = ["", "== summary", f"  {'section':<10} {'result':<8} {'missed':>6}"]
    for r in results:
        lines.append(f"  {r['section']:<10} {'ok' if r['ok'] else 'MISSED':<8} "
                     f"{len(r['failures']):>6}")
    if note:
        lines.append(f"  note: {note}")
    return lines


def campaign(sections: list[str], quick: bool) -> int:
    aio, note = start_aio()
    try:
        print(f"s2aio on port {aio.ports.proxy} ({aio.data_dir})"
              + (f"; {note}" if note else ""), flush=True)
        prepare(aio)
        results = []
        for name in sections:
            results.append(run_section(name, aio, quick))
            print_result(results[-1])
        print("\n".join(summary(results, note)))
        return 0 if all(r["ok"] for r in results) and not note else 1
    finally:
        aio.reset()


def standalone(run: Callable[..., Result], argv: list[str] | None = None, *,
               description: str | None = None, replicas: int = REPLICAS) -> int:
    """``python -m bench.reliability_<section> [--quick] [--replicas N]``: one section on
    its own s2aio (``replicas``: the section's default), storlets deployed and warmed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    parser.add_argument("--replicas", type=int, default=replicas,
                        help=f"s2aio replicas (default {replicas})")
    args = parser.parse_args(argv)
    aio, note = start_aio(args.replicas)
    try:
        prepare(aio)
        began = time.monotonic()
        result = run(aio, quick=args.quick)
        result.setdefault("seconds", time.monotonic() - began)
        print_result(result)
        if note:
            print(f"  note: {note}")
        return 0 if result["ok"] else 1
    finally:
        aio.reset()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run only this section (repeatable)")
    args = parser.parse_args(argv)
    sections = [s for s in SECTIONS if not args.only or s in args.only]
    return campaign(sections, args.quick)


if __name__ == "__main__":
    raise SystemExit(main())
