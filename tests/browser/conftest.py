"""Fixtures of the browser tests: one JupyterLab on s2aio and one chromium for them all.

Both live for this package's tests only (``scope="package"``): the rest of the
suite does not carry an idle browser (~500 MB) and lab along.

Each test gets a fresh browser context (logged in, UTC, en-US), a directory of
its own in the lab's container, and a ``screenshot`` function that saves PNGs
into the artifacts dir (``$SWIFTNB_ARTIFACTS``, else ``tests/browser/artifacts/``),
which the run prints at its end. A failed test also leaves ``<test>-FAILED.png``.
If chromium or JupyterLab cannot start, the tests fail with the reason.
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.browser import chromium, ui
from tests.browser.lab import Lab, LabError, start_lab, stop_lab
from tests.conftest import REPO, free_port

ARTIFACTS_ENV = "SWIFTNB_ARTIFACTS"
DEFAULT_ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
_SAVED: list[Path] = []


def artifacts_dir() -> Path:
    return Path(os.environ.get(ARTIFACTS_ENV) or DEFAULT_ARTIFACTS)


def artifact_name(nodeid: str, label: str) -> str:
    """``test_x[param]`` + label -> a safe file name (``test_x-param-label.png``)."""
    test = nodeid.rsplit("::", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.]+", "-", f"{test}-{label}").strip("-") + ".png"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def pytest_terminal_summary(terminalreporter) -> None:
    if _SAVED:
        terminalreporter.write_line(
            f"browser tests: {len(_SAVED)} screenshots in {artifacts_dir()}")


def _lab(s2aio, tmp_path_factory, collaborative: bool) -> Iterator[Lab]:
    """JupyterLab on SwiftContentsManager, in a container of its own; after the
    session, its log must not hold the token."""
    home = tmp_path_factory.mktemp("jupyter-browser")  # scanned for secrets at session end
    container = f"lab-{uuid.uuid4().hex[:8]}"
    lab, why = None, ""
    try:
        lab = start_lab(home, free_port(), container, s2aio.env("test"), REPO, collaborative)
    except LabError as exc:
        why = str(exc)
    if lab is None:
        pytest.fail(why, pytrace=False)
    yield lab
    stop_lab(lab)
    leaked = [str(p) for p in [lab.log, *artifacts_dir().glob("*.png")]
              if p.exists() and lab.token.encode() in p.read_bytes()]
    if leaked:
        pytest.fail(f"the lab's token is in {', '.join(leaked)}", pytrace=False)


@pytest.fixture(scope="package")
def lab(s2aio, deployed, tmp_path_factory) -> Iterator[Lab]:
    """The single-user JupyterLab (no collaboration)."""
    yield from _lab(s2aio, tmp_path_factory, collaborative=False)


@pytest.fixture(scope="package")
def collab_lab(s2aio, deployed, tmp_path_factory) -> Iterator[Lab]:
    """A JupyterLab with jupyter-collaboration on: started only by the tests that ask."""
    yield from _lab(s2aio, tmp_path_factory, collaborative=True)


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    for old in artifacts_dir().glob("test_*.png"):  # a run's artifacts are its own
        old.unlink()
    pw = sync_playwright().start()
    try:
        browser, why = None, ""
        try:
            browser = chromium.launch(pw)
        except chromium.ChromiumError as exc:
            why = str(exc)
        if browser is None:
            pytest.fail(why, pytrace=False)
        yield browser
        browser.close()
    finally:
        pw.stop()


def _login_state(browser, lab: Lab) -> dict:
    """The lab's auth cookies, from its login form (no token in any URL)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        ui.log_in(page, lab.url, lab.token)
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture(scope="package")
def login_state(browser, lab) -> dict:
    return _login_state(browser, lab)


def _page(browser, state: dict, lab: Lab, request) -> Iterator[object]:
    context = browser.new_context(storage_state=state, viewport=chromium.VIEWPORT,
                                  timezone_id=chromium.TIMEZONE, locale=chromium.LOCALE)
    context.set_default_timeout(ui.TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            _save(page, artifact_name(request.node.nodeid, "FAILED"))
        context.close()
        lab.rest.shutdown_kernels()


@pytest.fixture
def page(browser, login_state, lab, request) -> Iterator[object]:
    yield from _page(browser, login_state, lab, request)


@pytest.fixture
def collab_page(browser, collab_lab, request) -> Iterator[object]:
    """A page logged in to ``collab_lab``."""
    yield from _page(browser, _login_state(browser, collab_lab), collab_lab, request)


def _save(page, name: str) -> Path:
    target = artifacts_dir()
    target.mkdir(parents=True, exist_ok=True)
    path = target / name
    page.screenshot(path=str(path))
    _SAVED.append(path)
    return path


@pytest.fixture
def screenshot(request) -> Callable[[str], Path]:
    """``screenshot(label)``: the test's page (``page`` or ``collab_page``) as
    ``<test>-<label>.png`` in the artifacts dir."""
    name = "collab_page" if "collab_page" in request.fixturenames else "page"
    shot = request.getfixturevalue(name)
    return lambda label: _save(shot, artifact_name(request.node.nodeid, label))


@pytest.fixture
def workdir(lab) -> str:
    """A new directory of the lab for this test alone."""
    name = f"b-{uuid.uuid4().hex[:8]}"
    lab.rest.mkdir(name)
    return name

