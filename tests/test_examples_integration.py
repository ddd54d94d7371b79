"""The example notebooks `make run` seeds carry real outputs: a real kernel
gives the same ones again, and their PNG images decode."""
from __future__ import annotations

import base64
import struct
import zlib

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

pytestmark = pytest.mark.integration

REPORT = REPO / "examples" / "notebooks" / "report.ipynb"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines of an 8-bit non-interlaced PNG; every chunk's
    CRC and the image data's length are checked."""
    assert data.startswith(PNG_SIGNATURE)
    pos, chunks = len(PNG_SIGNATURE), []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and interlace == 0 and colour in CHANNELS
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (1 + width * CHANNELS[colour])
    return width, height, raw


def images(nb) -> list[bytes]:
    return [base64.b64decode(out["data"]["image/png"])
            for cell in nb.cells if cell.cell_type == "code"
            for out in cell.outputs if "image/png" in out.get("data", {})]


def comparable(nb) -> list[list[dict]]:
    """Each code cell's outputs without what changes run to run (none here)."""
    return [[{k: v for k, v in out.items() if k != "metadata"} for out in cell.outputs]
            for cell in nb.cells if cell.cell_type == "code"]


def test_every_example_was_executed():
    """Each code cell ran, in order, in the kernel the notebook names (report.ipynb is
    run again below; r-analysis.ipynb was run once with IRkernel, which `make test`
    does not install)."""
    for path in sorted((REPO / "examples" / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), path.name
        assert any(c.outputs for c in code), path.name


def test_report_png_is_a_real_image():
    nb = nbformat.read(REPORT, as_version=4)
    (png,) = images(nb)
    width, height, raw = png_pixels(png)
    assert (width, height) == (240, 120)
    assert len(set(raw)) > 2  # not a blank canvas: bars and background


def test_report_outputs_are_what_a_kernel_gives(tmp_path):
    stored = nbformat.read(REPORT, as_version=4)
    shows = [c for c in stored.cells if c.cell_type == "code" and "def " not in c.source]
    assert shows and all(cell.outputs for cell in shows)  # executed, outputs kept
    fresh = nbformat.read(REPORT, as_version=4)
    NotebookClient(fresh, timeout=60, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert comparable(fresh) == comparable(stored)
