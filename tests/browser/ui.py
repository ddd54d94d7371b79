"""What a person does in JupyterLab 4, as Playwright steps (selectors of JupyterLab 4.6).

Small functions over a Playwright ``Page``; each waits for the UI to show the
result of its action instead of sleeping.
"""
from __future__ import annotations

import re
from urllib.parse import quote

TIMEOUT_MS = 60_000  # one UI step on the shared 2-core machine, with margin
MAIN_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
KERNEL_IDLE = re.compile(r"\| Idle$")
CURRENT_TAB = "#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current"


def log_in(page, url: str, token: str) -> None:
    """JupyterLab's login form, as a user pastes the token (no token in a URL)."""
    page.goto(f"{url}/login")
    page.fill("#password_input", token)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r".*/(lab|tree)(\?.*)?$"), timeout=TIMEOUT_MS)


def open_lab(page, url: str, path: str = "") -> None:
    """JupyterLab with a fresh workspace, the file browser in ``path``; wait until ready."""
    where = f"/tree/{quote(path)}" if path else ""
    page.goto(f"{url}/lab{where}?reset")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=TIMEOUT_MS)
    page.wait_for_selector(".jp-DirListing-content", state="visible")
    if path:
        crumbs = page.locator(".jp-FileBrowser .jp-BreadCrumbs")
        crumbs.get_by_text(path.rstrip("/").rsplit("/", 1)[-1], exact=True).wait_for()


def dir_item(page, name: str):
    """The file browser's row of ``name`` in the current directory."""
    return page.locator(
        f'li.jp-DirListing-item:has(.jp-DirListing-itemText > span:text-is("{name}"))')


def refresh_file_browser(page) -> None:
    page.locator('.jp-FileBrowser-toolbar [data-command="filebrowser:refresh"]').click()


def open_in_file_browser(page, name: str) -> None:
    """Double-click a notebook in the file browser; wait for its panel."""
    dir_item(page, name).dblclick()
    page.wait_for_selector(MAIN_NOTEBOOK)
    page.locator(CURRENT_TAB, has_text=name).wait_for()


def wait_kernel_idle(page) -> None:
    """The status bar says the notebook's kernel is idle (started and connected).

    The toolbar's execution indicator says "idle" before any kernel exists, and a
    cell run then is dropped: the status bar's text is the one to wait for.
    """
    page.locator("#jp-main-statusbar").get_by_text(KERNEL_IDLE).wait_for()


def replace_cell_source(page, index: int, text: str) -> None:
    """Put ``text`` in the code or markdown cell ``index`` of the open notebook."""
    cell = page.locator(f"{MAIN_NOTEBOOK} .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    page.wait_for_selector(f"{MAIN_NOTEBOOK} .jp-Notebook.jp-mod-editMode")
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)  # typing Enter would add auto-indent


def run_cell(page, index: int) -> None:
    """Shift+Enter in cell ``index`` (the kernel runs it; JupyterLab selects the next)."""
    cell = page.locator(f"{MAIN_NOTEBOOK} .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


SAVE_ATTEMPT_MS = 10_000


def save(page) -> None:
    """Ctrl+S, then wait until the tab is no longer marked dirty.

    A kernel that connects while the save is in flight writes its ``language_info``
    into the notebook right after it, which marks the tab dirty again (seen under
    load): then save once more, as a user would, within the same overall timeout."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.keyboard.press("Escape")
    for _ in range(TIMEOUT_MS // SAVE_ATTEMPT_MS - 1):
        page.keyboard.press("Control+s")
        try:
            page.wait_for_selector(f"{CURRENT_TAB}:not(.jp-mod-dirty)", timeout=SAVE_ATTEMPT_MS)
            return
        except PlaywrightTimeout:
            continue
    page.keyboard.press("Control+s")
    page.wait_for_selector(f"{CURRENT_TAB}:not(.jp-mod-dirty)", timeout=SAVE_ATTEMPT_MS)


def rename_in_file_browser(page, old: str, new: str) -> None:
    """Right-click > Rename, type the new name, Enter; wait for the renamed row."""
    dir_item(page, old).click(button="right")
    page.locator('.lm-Menu [data-command="filebrowser:rename"]').click()
    editor = page.locator("input.jp-DirListing-editor")
    editor.fill(new)
    editor.press("Enter")
    dir_item(page, new).wait_for()


def modified_cells(page) -> list[tuple[str, str, str]]:
    """(name, shown text, title) of the Modified column of every row in the file browser."""
    rows = page.locator("li.jp-DirListing-item")
    out = []
    for i in range(rows.count()):
        row = rows.nth(i)
        modified = row.locator(".jp-DirListing-itemModified")
        out.append((row.locator(".jp-DirListing-itemText").inner_text(),
                    modified.inner_text(), modified.get_attribute("title") or ""))
    return out


def widen_left_area(page, by_px: int) -> None:
    """Drag the handle between the left side panel and the main area, as a user
    does to see every column of a wide panel."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)").first
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + by_px, y, steps=5)
    page.mouse.up()


def wait_until(condition, timeout_s: float = TIMEOUT_MS / 1000, every_s: float = 0.5) -> None:
    """Poll ``condition()`` (a server-side fact the page cannot show) until true."""
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s:.0f} s: {condition}")
        time.sleep(every_s)
