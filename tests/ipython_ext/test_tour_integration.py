"""examples/storlets_tour.ipynb, executed end to end on a real kernel against s2aio."""
from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO, shown_user

from .conftest import AUTH_VARS

pytestmark = pytest.mark.integration

TOUR = REPO / "examples" / "storlets_tour.ipynb"
CELL_TIMEOUT_S = 60


def outputs_text(cell) -> str:
    """Everything a cell showed: streams, text and HTML reprs."""
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        data = out.get("data", {})
        parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(parts)


def cell_showing(nb, source_part: str):
    return next(c for c in nb.cells if c.cell_type == "code" and source_part in c.source)


@pytest.fixture(scope="module")
def executed(s2aio, deployed, tmp_path_factory):
    """The tour, run by nbclient on the python3 kernel; fails on any cell error."""
    nb = nbformat.read(TOUR, as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    env.update(s2aio.env("test"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    workdir = tmp_path_factory.mktemp("tour")
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    client.execute(env=env)  # raises CellExecutionError on the first failing cell
    yield nb
    conn = s2aio.connection("test")
    try:
        for obj in conn.get_container("tour", full_listing=True)[1]:
            conn.delete_object("tour", obj["name"])
        conn.delete_container("tour")
    finally:
        conn.close()


def test_tour_runs_and_shows_each_step(executed, s2aio):
    nb = executed
    assert f"as {shown_user(s2aio)}" in outputs_text(cell_showing(nb, "%storlet_auth"))
    assert "Upload storlets succeeded /storlet/upper.py" in outputs_text(
        cell_showing(nb, "%%storletapp upper.UpperStorlet\n"))
    assert "HELLO FROM INSIDE SWIFT\\n!" in outputs_text(cell_showing(nb, "-o shouted"))
    assert "WRITTEN LOCALLY" in outputs_text(cell_showing(nb, "%get --storlet identity.py"))
    assert "HELLO FROM INSIDE SWIFT" in outputs_text(cell_showing(nb, "%get --storlet identity.py"))
    assert "HELLO FROM INSIDE SWIFT\\n?" in outputs_text(cell_showing(nb, "local_result.content"))
    assert "upper.UpperStorlet" in outputs_text(cell_showing(nb, "%storlets"))
    assert "upper: 1 input(s)" in outputs_text(cell_showing(nb, "--log -o logged"))
    assert "upper: 1 input(s)" in outputs_text(cell_showing(nb, "%storlet_log upper.py"))


def test_tour_renders_listing_diff_and_validation(executed):
    nb = executed
    listing = outputs_text(cell_showing(nb, "nblisting.py"))
    assert "(listing)" in listing and "<table>" in listing
    assert "analysis.ipynb" in listing and "notes.ipynb" in listing
    diff = outputs_text(cell_showing(nb, "-o diff\n"))
    assert "(diff)" in diff and "<th>before</th><th>after</th>" in diff
    assert "x * 10" in diff
    assert "<iframe srcdoc=" in outputs_text(cell_showing(nb, "format=html"))
    assert "(validation)" in outputs_text(cell_showing(nb, "nbvalidate.py"))


def test_tour_errors_are_one_line(executed):
    errors = [out for cell in executed.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.output_type == "error"]
    assert len(errors) == 2  # the two cells tagged raises-exception, nothing else
    bad_path, missing = errors
    assert bad_path.traceback == [
        "UsageError: --input must look like path:/<container>/<object>, got '/tour/hello.txt'"]
    assert len(missing.traceback) == 1 and "404" in missing.traceback[0]
    assert "transaction tx" in missing.traceback[0] and "AUTH_tk" not in missing.traceback[0]
