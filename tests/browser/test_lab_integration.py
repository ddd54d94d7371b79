"""JupyterLab on Swift in a real browser: edit, run and save; rename a folder; file times.

Each test works in a directory of its own, checks what the UI did through the
REST API and in Swift itself, and saves screenshots as artifacts.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import nbformat
import pytest

from tests.browser import ui
from tests.browser.notebooks import notebook, stream_text, text

pytestmark = pytest.mark.integration

# JupyterLab's Modified column (Intl.RelativeTimeFormat, narrow, en-US) for
# something changed during the test; its title is the date (en-US, short).
RECENT = re.compile(r"^(now|\d+s ago|\d+m ago)$")
TITLE_FORMAT = "%m/%d/%y, %I:%M %p"
CLOCK_SLACK = dt.timedelta(minutes=2)  # the title has minutes; the clocks are this machine's


def stored_notebook(conn, container: str, path: str) -> dict:
    """The notebook as Swift holds it (past the Jupyter server)."""
    _, body = conn.get_object(container, path)
    return json.loads(body)


def test_open_edit_run_and_save_a_notebook(page, lab, workdir, conn, screenshot):
    path = f"{workdir}/analysis.ipynb"
    lab.rest.put_notebook(path, notebook(nbformat.v4.new_code_cell("1 + 1"),
                                         nbformat.v4.new_markdown_cell("# Notes")))
    marker = uuid.uuid4().hex
    code = f"print(6 * 7)\nmarker = {marker!r}"

    ui.open_lab(page, lab.url, workdir)
    ui.open_in_file_browser(page, "analysis.ipynb")
    ui.wait_kernel_idle(page)
    ui.replace_cell_source(page, 0, code)
    ui.run_cell(page, 0)
    page.locator(f"{ui.MAIN_NOTEBOOK} .jp-OutputArea-output", has_text="42").wait_for()
    ui.save(page)
    screenshot("saved")

    model = lab.rest.contents(path)
    cells = model["content"]["cells"]
    assert cells[0]["source"] == code and stream_text(cells[0]) == "42\n"
    assert cells[1]["source"] == "# Notes"
    assert model["swift_validation"]["valid"] is True
    stored = stored_notebook(conn, lab.container, path)
    assert text(stored["cells"][0]["source"]) == code and stream_text(stored["cells"][0]) == "42\n"
    assert lab.rest.checkpoints(path), "JupyterLab's save made no checkpoint"


def test_rename_a_folder_moves_its_notebooks_and_checkpoints(page, lab, workdir, conn,
                                                             screenshot):
    old, new = f"{workdir}/project", f"{workdir}/renamed é"
    names = ("one.ipynb", "nested/two.ipynb")
    lab.rest.mkdir(old)
    lab.rest.mkdir(f"{old}/nested")
    before = {}
    for name in names:
        lab.rest.put_notebook(f"{old}/{name}",
                              notebook(nbformat.v4.new_markdown_cell(f"# {name}")))
        lab.rest.create_checkpoint(f"{old}/{name}")
        before[name] = [c["id"] for c in lab.rest.checkpoints(f"{old}/{name}")]

    ui.open_lab(page, lab.url, workdir)
    ui.rename_in_file_browser(page, "project", "renamed é")
    assert ui.dir_item(page, "project").count() == 0
    ui.dir_item(page, "renamed é").dblclick()
    ui.dir_item(page, "one.ipynb").wait_for()
    ui.dir_item(page, "nested").wait_for()
    screenshot("renamed")

    assert lab.rest.request("GET", f"/api/contents/{old}").status_code == 404
    _, left = conn.get_container(lab.container, prefix=f"{old}/")
    assert left == [], f"objects left under the old name: {[o['name'] for o in left]}"
    for name in names:
        moved = lab.rest.contents(f"{new}/{name}")
        assert moved["content"]["cells"][0]["source"] == f"# {name}"
        assert [c["id"] for c in lab.rest.checkpoints(f"{new}/{name}")] == before[name]
        gone = lab.rest.request("GET", f"/api/contents/{old}/{name}/checkpoints")
        assert gone.status_code == 404 or gone.json() == []


def shown_time(title: str) -> dt.datetime:
    """The Modified column's title (en-US short date and time, UTC) as a datetime."""
    text = title.replace("\u202f", " ").replace("\u00a0", " ")
    return dt.datetime.strptime(text, TITLE_FORMAT).replace(tzinfo=dt.timezone.utc)


def assert_recent(rows, start: dt.datetime, end: dt.datetime) -> None:
    """Every row says it changed a moment ago, and its date lies within the test."""
    for name, text, title in rows:
        assert RECENT.match(text), f"{name!r} shows Modified {text!r} ({title})"
        when = shown_time(title)
        assert start - CLOCK_SLACK <= when <= end + CLOCK_SLACK, (name, title, start, end)


def test_modified_column_shows_sensible_times(page, lab, workdir, conn, screenshot):
    start = dt.datetime.now(dt.timezone.utc)
    lab.rest.mkdir(f"{workdir}/folder")
    lab.rest.json("PUT", f"/api/contents/{workdir}/notes.txt",
                  {"type": "file", "format": "text", "content": "hello"})
    lab.rest.put_notebook(f"{workdir}/saved.ipynb",
                          notebook(nbformat.v4.new_code_cell("x = 1")))
    # written by another Swift client: no directory marker, no model from the manager
    conn.put_object(lab.container, f"{workdir}/outside/made.ipynb",
                    json.dumps(notebook()).encode(), content_type="application/x-ipynb+json")

    ui.open_lab(page, lab.url, workdir)
    ui.open_in_file_browser(page, "saved.ipynb")
    ui.replace_cell_source(page, 0, "x = 2  # saved in the browser")
    ui.save(page)
    ui.refresh_file_browser(page)
    ui.dir_item(page, "outside").wait_for()
    rows = ui.modified_cells(page)
    screenshot("modified")
    end = dt.datetime.now(dt.timezone.utc)

    assert {r[0] for r in rows} == {"folder", "notes.txt", "saved.ipynb", "outside"}
    assert_recent(rows, start, end)
    saved = next(r for r in rows if r[0] == "saved.ipynb")
    server_time = dt.datetime.fromisoformat(
        lab.rest.contents(f"{workdir}/saved.ipynb", content=False)["last_modified"]
        .replace("Z", "+00:00"))
    # The browser shows the time of the save it listed; a later autosave (the
    # collaboration extension saves on its own) may have moved the server's on since.
    shown = shown_time(saved[2])
    assert start.replace(second=0, microsecond=0) <= shown <= server_time, (shown, server_time)
    assert server_time <= dt.datetime.now(dt.timezone.utc) + CLOCK_SLACK

    ui.open_lab(page, lab.url)  # the root: every folder in it was made by this session
    ui.dir_item(page, workdir).wait_for()
    root = ui.modified_cells(page)
    screenshot("root")
    assert workdir in {r[0] for r in root}
    assert_recent(root, lab.started, dt.datetime.now(dt.timezone.utc))
