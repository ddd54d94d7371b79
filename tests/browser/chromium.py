"""Debian's chromium, driven by Playwright for Python (no ``playwright install``).

Playwright already passes ``--no-sandbox``, ``--headless``, no background
networking, no component updates, no sync. A ``--disable-features`` of our own
would replace Playwright's list, so there is none. The resolver rule keeps every
lookup on this machine: without it Chromium asks DNS for Google's hosts.
"""
from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("SWIFTNB_CHROMIUM", "/usr/lib/chromium/chromium"))
EXTRA_ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
)
VIEWPORT = {"width": 1600, "height": 900}
TIMEZONE = "UTC"  # JupyterLab's relative times are compared with the machine's clock
LOCALE = "en-US"
LAUNCH_TIMEOUT_MS = 120_000


class ChromiumError(RuntimeError):
    """Chromium is missing or did not start: the browser tests fail with this reason."""


def launch(playwright):
    """A headless chromium; ChromiumError says why it cannot start."""
    if not os.access(CHROMIUM, os.X_OK):
        raise ChromiumError(f"{CHROMIUM} is missing: `make install` installs Debian's chromium "
                            "(apt-get install chromium)")
    try:
        return playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(EXTRA_ARGS),
                                          timeout=LAUNCH_TIMEOUT_MS)
    except Exception as exc:  # noqa: BLE001 - any launch failure is the reason to report
        raise ChromiumError(f"chromium ({CHROMIUM}) did not start: {exc}") from exc
