"""The project's JupyterLab extension in a real browser: the storlets' work, visible.

Selectors are issue 12's DOM contract (``/work/shared`` contract, "Extension"):
the "Swift notebooks" panel, the status bar's validity item and its
notification, the checkpoint picker; nbdime's diff view by nbdime's own classes
(``jp-Notebook-diff``, ``jp-Diff-added``, ``jp-Diff-deleted``, from its
labextension's stylesheet). What the UI shows is checked against the REST API,
and the diff's origin against the diff API's answer the page received.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import nbformat
import pytest

from tests.browser import ui
from tests.browser.notebooks import PYTHON3, notebook, text

pytestmark = pytest.mark.integration

PANEL_TAB = '.jp-SideBar [data-id="swift-notebooks-panel"]'
PANEL = "#swift-notebooks-panel"
TABLE = f"{PANEL} table.jp-SwiftNotebooks-table"
ROW = f"{TABLE} tr.jp-SwiftNotebooks-row"
STATUS = ".jp-SwiftNotebooks-status"
TOAST = ".jp-toastContainer .Toastify__toast"
DIFF_API = "/nbdime/api/diff"
NBDIME_BUTTON = '[data-command="nbdime:diff-checkpoint"]'
PICKER_BUTTON = '[data-command="swift-notebooks:diff-checkpoint"]'
PICKER = ".jp-SwiftNotebooks-checkpointPicker"


def invalid_notebook() -> bytes:
    """Parses, but breaks the v4 schema: a code cell without outputs and execution_count."""
    return json.dumps({"cells": [{"cell_type": "code", "id": "c1", "metadata": {},
                                  "source": "print('no outputs field')"}],
                       "metadata": PYTHON3, "nbformat": 4, "nbformat_minor": 5}).encode()


def first_error(lab, path: str) -> str:
    """The validation storlet's first error for ``path`` (the REST report)."""
    report = lab.rest.json("GET", f"/api/swiftcontents/validate/{path}")
    assert report["valid"] is False and report["errors"], report
    return report["errors"][0]["message"]


def open_panel(page) -> None:
    """Open the panel from its tab in the left bar, wide enough to show every column."""
    page.locator(PANEL_TAB).click()
    page.locator(TABLE).wait_for()
    ui.widen_left_area(page, 560)


def column(page, name: str) -> list[str]:
    """The panel's cells of column ``name``, in row order."""
    return page.locator(f'{ROW} td[data-column="{name}"]').all_inner_texts()


def is_diff_request(response) -> bool:
    """nbdime's diff API call (its URL carries a cache-busting query)."""
    return urlsplit(response.url).path.endswith(DIFF_API) and response.request.method == "POST"


def test_panel_lists_notebooks_with_validity_from_the_storlet(page, lab, workdir, conn,
                                                              screenshot):
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    lab.rest.put_notebook(f"{workdir}/alpha.ipynb", notebook(md("# Alpha"), code("a = 1")))
    lab.rest.put_notebook(f"{workdir}/beta.ipynb",
                          notebook(md("# Beta"), code("b = 1"), code("b += 1"), code("b")))
    conn.put_object(lab.container, f"{workdir}/broken.ipynb", invalid_notebook())
    lab.rest.json("PUT", f"/api/contents/{workdir}/notes.txt",
                  {"type": "file", "format": "text", "content": "not a notebook"})
    error = first_error(lab, f"{workdir}/broken.ipynb")

    ui.open_lab(page, lab.url, workdir)
    open_panel(page)
    page.locator(f'{ROW}[data-path="{workdir}/broken.ipynb"]').wait_for()
    origin = page.locator(f"{PANEL} .jp-SwiftNotebooks-computedBy")
    assert origin.get_attribute("data-computed-by") == "storlet"
    assert "computed by the storlet" in origin.inner_text()
    rows = page.locator(ROW)
    paths = [rows.nth(i).get_attribute("data-path") for i in range(rows.count())]
    assert sorted(paths) == [f"{workdir}/{n}" for n in ("alpha.ipynb", "beta.ipynb",
                                                        "broken.ipynb")]

    def badge(name: str):
        return page.locator(f'{ROW}[data-path="{workdir}/{name}"] .jp-SwiftNotebooks-badge')

    assert badge("alpha.ipynb").get_attribute("data-valid") == "true"
    assert badge("beta.ipynb").get_attribute("data-valid") == "true"
    assert badge("broken.ipynb").get_attribute("data-valid") == "false"
    assert error in (badge("broken.ipynb").get_attribute("title") or "")
    alpha = page.locator(f'{ROW}[data-path="{workdir}/alpha.ipynb"]')
    assert alpha.locator('td[data-column="title"]').inner_text().strip() == "Alpha"

    header = page.locator(f'{TABLE} th[data-column="cells"]')
    header.click()
    first = header.get_attribute("aria-sort")
    assert first in ("ascending", "descending")
    by_cells = ["broken.ipynb", "alpha.ipynb", "beta.ipynb"]  # 1, 2 and 4 cells
    want = by_cells if first == "ascending" else by_cells[::-1]
    assert [p.rsplit("/", 1)[-1] for p in page.locator(ROW).evaluate_all(
        "rows => rows.map(r => r.dataset.path)")] == want
    header.click()
    assert header.get_attribute("aria-sort") == ({"ascending": "descending",
                                                  "descending": "ascending"}[first])
    assert [p.rsplit("/", 1)[-1] for p in page.locator(ROW).evaluate_all(
        "rows => rows.map(r => r.dataset.path)")] == want[::-1]
    screenshot("panel")

    alpha.click()
    page.locator(ui.CURRENT_TAB, has_text="alpha.ipynb").wait_for()
    page.locator(f"{ui.MAIN_NOTEBOOK} .jp-RenderedMarkdown", has_text="Alpha").wait_for()
    page.locator(f"{ui.MAIN_NOTEBOOK} .jp-Cell", has_text="a = 1").wait_for()
    page.locator(f'{STATUS}[data-valid="true"]').wait_for()  # saved through the API: stamped
    screenshot("opened")


def test_status_bar_validity_follows_the_notebook(page, lab, workdir, conn, screenshot):
    path = f"{workdir}/broken.ipynb"
    conn.put_object(lab.container, path, invalid_notebook())
    error = first_error(lab, path)

    ui.open_lab(page, lab.url, workdir)
    ui.dir_item(page, "broken.ipynb").dblclick()
    toast = page.locator(TOAST, has_text="is not a valid notebook")
    toast.wait_for()
    assert error in toast.inner_text()
    page.wait_for_selector(ui.MAIN_NOTEBOOK)
    status = page.locator(f'{STATUS}[data-valid="false"]')
    status.wait_for()
    assert status.inner_text().strip() == "Invalid"
    assert error in (status.get_attribute("title") or "")
    screenshot("invalid")

    # JupyterLab's model has outputs for every code cell: a save stores a valid notebook
    ui.replace_cell_source(page, 0, "print('fixed in the browser')")
    ui.save(page)
    valid = page.locator(f'{STATUS}[data-valid="true"]')
    valid.wait_for()
    assert valid.inner_text().strip() == "Valid"
    assert lab.rest.contents(path)["swift_validation"]["valid"] is True
    toast.wait_for(state="detached")  # gone (it closes itself within 10 s): a clear picture
    screenshot("valid")


def diff_view_shows(page, added: str, removed: str) -> None:
    """nbdime's diff view (the visible one) renders the added and the removed cell."""
    view = page.locator(".jp-Notebook-diff:visible")
    view.locator(".jp-Cell-diff.jp-Diff-added", has_text=added).wait_for()
    view.locator(".jp-Cell-diff.jp-Diff-deleted", has_text=removed).wait_for()


def assert_from_storlet(answer: dict, base_cells: list[str]) -> None:
    """The diff API's answer: the storlet's, from that base, one cell removed and one added."""
    assert answer.get("computed_by") == "storlet", {k: answer.get(k) for k in (
        "computed_by", "fallback_reason")}
    assert [text(c["source"]) for c in answer["base"]["cells"]] == base_cells
    cells = [e for e in answer["diff"] if e.get("key") == "cells"]
    assert cells, answer["diff"]
    assert {e["op"] for e in cells[0]["diff"]} >= {"addrange", "removerange"}, cells


def storlet_diff_shown(page, response, base: str, kept: list[str]) -> None:
    """The diff API asked for ``base`` and answered from the storlet; the view shows
    the added and the removed cell."""
    assert response.status == 200, response.text()[:500]
    assert response.request.post_data_json == {"base": base}
    assert_from_storlet(response.json(), [*kept, "removed_cell = 'old'"])
    diff_view_shows(page, "Added section, new text", "removed_cell = 'old'")


def test_checkpoint_diff_renders_from_the_storlet(page, lab, workdir, screenshot):
    path = f"{workdir}/history.ipynb"
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    kept = ["# History", "keep = 1"]
    same = [md(kept[0]), code(kept[1])]  # the same cells (ids too) in both versions
    before = notebook(*same, code("removed_cell = 'old'"))
    after = notebook(*same, md("## Added section, new text"))
    lab.rest.put_notebook(path, before)  # the first save makes the first checkpoint
    lab.rest.put_notebook(path, after)  # saved without a checkpoint (as autosave does)
    oldest = [c["id"] for c in lab.rest.checkpoints(path)]
    assert len(oldest) == 1

    ui.open_lab(page, lab.url, workdir)
    ui.open_in_file_browser(page, "history.ipynb")
    # nbdime's own button: the newest checkpoint against the saved file
    with page.expect_response(is_diff_request) as nbdime_diff:
        page.locator(f"{ui.MAIN_NOTEBOOK} {NBDIME_BUTTON}").click()
    storlet_diff_shown(page, nbdime_diff.value, f"checkpoint:{path}", kept)
    screenshot("nbdime")

    # the picker: the checkpoints newest first, the newest preselected; pick the oldest
    newest = lab.rest.create_checkpoint(path)["id"]
    page.locator(ui.CURRENT_TAB.replace(".lm-mod-current", ""), has_text="history.ipynb").click()
    page.locator(f"{ui.MAIN_NOTEBOOK} {PICKER_BUTTON}").click()
    select = page.locator(f"{PICKER} select")
    select.wait_for()
    assert select.locator("option").evaluate_all("os => os.map(o => o.value)") == \
        [newest, *oldest]
    assert select.input_value() == newest
    select.select_option(oldest[0])
    screenshot("picker")
    with page.expect_response(is_diff_request) as picked_diff:
        page.locator(".jp-Dialog button.jp-mod-accept").click()
    storlet_diff_shown(page, picked_diff.value, f"checkpoint@{oldest[0]}:{path}", kept)
    screenshot("picked")
