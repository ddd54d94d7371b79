"""The README's magics examples, run as written, in order, in a real IPython shell
against the session's s2aio.

The cells are read from the README text itself, so the test fails when the text
drifts from what works.
"""
from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from ipython_ext import StorletResult
from tests.conftest import REPO, env_name, shown_user

pytestmark = pytest.mark.integration

README = REPO / "README.md"
EXAMPLES = README
SECTION = "## IPython: `%load_ext ipython_ext`"
CONTAINERS = ("data", "nb")  # what the examples write into
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


class Block(NamedTuple):
    lang: str
    code: str


def section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same level."""
    start = text.index(heading + "\n")  # ValueError: the section was renamed
    level = heading.split(" ", 1)[0]
    rest = text[start + len(heading) + 1:]
    end = re.search(rf"^{level} ", rest, re.MULTILINE)
    return rest[:end.start()] if end else rest


def code_blocks(text: str) -> list[Block]:
    return [Block(m.group(1), m.group(2)) for m in _FENCE.finditer(text)]


def test_code_blocks_are_found_in_order():
    text = f"# T\n{SECTION}\nx\n```python\na\n```\n```sh\nb\nc\n```\n## Next\n```python\nz\n```\n"
    assert code_blocks(section(text, SECTION)) == [Block("python", "a\n"),
                                                   Block("sh", "b\nc\n")]


class Ran(NamedTuple):
    block: Block
    out: str
    result: object


@pytest.fixture
def ran(ip, auth, deployed, s2aio, conn, tmp_path, monkeypatch, capsys) -> list[Ran]:
    """Every code block of the section, run in order: python blocks as cells of one
    IPython shell, sh blocks with bash where a README reader has the venv's commands.

    The reader's home and working dir are temporary; ``%storlet_auth --ask``
    gets the key the user would type.
    """
    blocks = code_blocks(section(EXAMPLES.read_text(encoding="utf-8"), SECTION))
    assert [b.lang for b in blocks if b.lang not in ("python", "sh")] == []
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent),
                                                os.environ.get("PATH", "")]))
    monkeypatch.chdir(work)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="", stream=None:
                        auth[env_name(s2aio, "key")])
    ip.run_line_magic("unload_ext", "ipython_ext")  # the README loads it
    done = []
    try:
        for block in blocks:
            if block.lang == "sh":
                proc = subprocess.run(["bash", "-ec", block.code], capture_output=True,
                                      text=True, timeout=120)
                assert proc.returncode == 0, f"{block.code}\n{proc.stderr}"
                done.append(Ran(block, proc.stdout, None))
                continue
            result = ip.run_cell(block.code, store_history=False)
            captured = capsys.readouterr()
            assert result.success, (f"README cell failed:\n{block.code}\n"
                                    f"{captured.out}{captured.err}")
            done.append(Ran(block, captured.out + captured.err, result.result))
        yield done
    finally:
        if "StorletMagics" not in ip.magics_manager.registry:
            ip.run_line_magic("load_ext", "ipython_ext")
        for container in CONTAINERS:
            try:
                for obj in conn.get_container(container, full_listing=True)[1]:
                    conn.delete_object(container, obj["name"])
                conn.delete_container(container)
            except Exception:  # a failed example may not have made it
                pass


def cell(ran: list[Ran], part: str) -> Ran:
    return next(r for r in ran if part in r.block.code)


def test_readme_examples_run_as_written(ran, conn, s2aio):
    who = f"as {shown_user(s2aio)}"
    assert len([r for r in ran if r.block.lang == "python"]) >= 10
    assert who in cell(ran, "%load_ext").out
    assert "Result Content:\nHELLO WORLD" in cell(ran, "%%storletapp upper.Upper").out
    assert cell(ran, "-o res\nres.content").result == b"HELLO WORLD\n"
    assert conn.get_object("data", "up.txt")[1] == b"A LOCAL FILE\n"
    assert conn.get_object("data", "b c.txt")[1] == b"HELLO WORLD\n"
    spaced = cell(ran, "--param 'suffix=x y'").result
    assert isinstance(spaced, StorletResult) and spaced.content == b"HELLO WORLD\nx y"
    listing = cell(ran, "--storlet nblisting.py").result
    rows = json.loads(listing.content)
    assert [(r["name"], r["valid"]) for r in rows] == [("a.ipynb", True), ("b.ipynb", False)]
    assert "upper.Upper" in cell(ran, "%storlets").out
    assert "upper-casing" in cell(ran, "%storlet_log upper.py").out
    home = Path(os.environ["HOME"])
    assert (home / "s2aio.env").stat().st_mode & 0o077 == 0
    assert who in cell(ran, "--env-file").out
    assert who in cell(ran, "--ask").out
