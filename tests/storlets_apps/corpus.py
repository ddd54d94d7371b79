"""The test corpus: ``.ipynb`` files from the sdists of nbformat, nbconvert, nbdime.

Fetched at test time with ``pip download`` (the installed versions) into a
cache dir reused across runs (``$SWIFT_NOTEBOOKS_CORPUS`` or
``~/.cache/swift-notebooks/corpus``), never committed. Also generates invalid
variants and random edits of the notebooks.
"""
from __future__ import annotations

import copy
import importlib.metadata
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Callable

PACKAGES = ("nbformat", "nbconvert", "nbdime")
FILES = Path(__file__).resolve().parent.parent / "files" / "notebooks"


class CorpusError(RuntimeError):
    """The corpus could not be fetched; the message says why."""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "swift-notebooks" / "corpus"
    return Path(os.environ.get("SWIFT_NOTEBOOKS_CORPUS", default))


def _sdist(package: str, version: str, cache: Path) -> Path:
    for found in cache.glob(f"{package}-{version}.tar.gz"):
        return found
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", package,
               "--disable-pip-version-check", "-q", "-d", tmp, f"{package}=={version}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        got = list(Path(tmp).glob(f"{package}-{version}.tar.gz"))
        if proc.returncode or not got:
            raise CorpusError(f"pip download {package}=={version} failed: {proc.stderr[-800:]}")
        target = cache / got[0].name
        shutil.move(str(got[0]), target)
        return target


def _extract(sdist: Path, cache: Path) -> Path:
    dest = cache / sdist.name[: -len(".tar.gz")]
    marker = dest / ".complete"
    if marker.exists():
        return dest
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".ipynb"):
                tar.extract(member, dest, filter="data")
    marker.touch()
    return dest


def fetch() -> list[Path]:
    """Paths of every corpus notebook (sdists first, then tests/files/notebooks)."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for package in PACKAGES:
        version = importlib.metadata.version(package)
        paths.extend(sorted(_extract(_sdist(package, version, cache), cache).rglob("*.ipynb")))
    if len(paths) < 100:
        raise CorpusError(f"only {len(paths)} notebooks found in the sdists under {cache}")
    return paths + sorted(FILES.glob("*.ipynb"))


def reads_v4(data: bytes) -> Any:
    """A v4 notebook as nbformat's JSON reader holds it in memory (no id repair),
    or None for other versions or unreadable data."""
    from nbformat import from_dict
    from nbformat.v4.rwbase import rejoin_lines, strip_transient

    try:
        raw = json.loads(data)
        if raw.get("nbformat") != 4 or not isinstance(raw.get("cells"), list):
            return None
        return strip_transient(rejoin_lines(from_dict(raw)))
    except Exception:
        return None


# --- invalid variants ---------------------------------------------------------------

def _first_cell(nb: dict) -> dict | None:
    cells = nb.get("cells")
    return cells[0] if isinstance(cells, list) and cells and isinstance(cells[0], dict) else None


def _mutations() -> list[tuple[str, Callable[[dict], None]]]:
    def drop_metadata(nb): nb.pop("metadata", None)
    def drop_cells(nb): nb.pop("cells", None); nb.pop("worksheets", None)
    def minor_string(nb): nb["nbformat_minor"] = str(nb.get("nbformat_minor", 0))
    def extra_key(nb): nb["surprise"] = 1
    def kernelspec_list(nb): nb.setdefault("metadata", {})["kernelspec"] = [1]
    def cell_source_int(nb):
        c = _first_cell(nb)
        if c is not None:
            c["source"] = 42
    def cell_type_bogus(nb):
        c = _first_cell(nb)
        if c is not None:
            c["cell_type"] = "bogus"
    def drop_cell_id(nb):
        c = _first_cell(nb)
        if c is not None:
            c.pop("id", None)
    def duplicate_ids(nb):
        cells = nb.get("cells") or []
        for c in cells:
            if isinstance(c, dict):
                c["id"] = "same"
    def bad_output(nb):
        for c in nb.get("cells") or []:
            if isinstance(c, dict) and c.get("cell_type") == "code":
                c.setdefault("outputs", []).append({"output_type": "nope"})
                return
        nb["cells"] = [{"cell_type": "code", "metadata": {}, "source": "", "outputs": [],
                        "execution_count": "x"}]
    def future_minor(nb):
        if nb.get("nbformat") == 4:
            nb["nbformat_minor"] = 9
            nb["future_field"] = True
    def cells_object(nb): nb["cells"] = {"a": 1}
    return [(f.__name__, f) for f in (
        drop_metadata, drop_cells, minor_string, extra_key, kernelspec_list, cell_source_int,
        cell_type_bogus, drop_cell_id, duplicate_ids, bad_output, future_minor, cells_object)]


def variants(nb: dict) -> list[tuple[str, dict]]:
    """(name, mutated deep copy) for each mutation; many are invalid, some valid."""
    out = []
    for name, mutate in _mutations():
        copy_ = copy.deepcopy(nb)
        mutate(copy_)
        out.append((name, copy_))
    return out


# --- random edits (for diffs) ----------------------------------------------------------

def _new_cell(rng: random.Random, minor: int) -> dict:
    kind = rng.choice(["code", "markdown", "raw"])
    cell: dict = {"cell_type": kind, "metadata": {}, "source": f"# new {rng.random()}\nx = 1\n"}
    if kind == "code":
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]
        cell["execution_count"] = rng.randint(1, 99)
    if minor >= 5:
        cell["id"] = f"new-{rng.getrandbits(48):x}"
    return cell


def _modify(cell: dict, rng: random.Random) -> None:
    choice = rng.randrange(4)
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(src)
    if choice == 0:
        lines = src.splitlines(True) or [""]
        lines.insert(rng.randrange(len(lines) + 1), f"edited {rng.random()}\n")
        cell["source"] = "".join(lines)
    elif choice == 1:
        cell["source"] = src.replace("a", "A") + "\n# tail"
    elif choice == 2:
        cell.setdefault("metadata", {})["tags"] = ["changed", str(rng.random())]
    elif cell.get("cell_type") == "code":
        outputs = cell.setdefault("outputs", [])
        if outputs and rng.random() < 0.5:
            outputs.pop(rng.randrange(len(outputs)))
        outputs.append({"output_type": "execute_result", "execution_count": 3,
                        "metadata": {}, "data": {"text/plain": f"{rng.random()}\nmore"}})
    else:
        cell["source"] = ""


def random_edit(nb: dict, rng: random.Random, edits: int = 4) -> dict:
    """A deep copy with inserted, deleted, moved and modified cells, new metadata."""
    out = copy.deepcopy(nb)
    cells = out["cells"]
    minor = out.get("nbformat_minor", 0)
    for _ in range(edits):
        action = rng.randrange(5)
        if action == 0 or not cells:
            cells.insert(rng.randrange(len(cells) + 1), _new_cell(rng, minor))
        elif action == 1:
            cells.pop(rng.randrange(len(cells)))
        elif action == 2:
            cell = cells.pop(rng.randrange(len(cells)))
            cells.insert(rng.randrange(len(cells) + 1), cell)
        elif action == 3:
            _modify(cells[rng.randrange(len(cells))], rng)
        else:
            out.setdefault("metadata", {})[f"edited_{rng.randrange(3)}"] = rng.random()
    return out
