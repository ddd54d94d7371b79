"""The HTML pages of the REST endpoints (``?format=html``) and their policy.

Every notebook-derived string (object names, titles, kernels, sources, error
messages) is attacker-controlled and goes through :func:`escape`. The tables
themselves are the storlets' own renderers, so a page is the same whichever
path (storlet or server) computed it; here their inline ``<style>`` gives way to
the extension's stylesheet (``static/pages.css``), since the policy allows styles
from this server only, and no inline style, no script.
"""
from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path
from typing import Any

from jupyter_server.utils import url_path_join

from .errors import SwiftContentsError

# Added after Jupyter's own policy on generated pages (APIHandler already sends
# default-src 'none'; where both name a directive, Jupyter's comes first and
# wins): stylesheets from this server only (no inline style), no scripts at all
# (sandbox), no base or form targets.
PAGE_CSP = "style-src 'self'; base-uri 'none'; form-action 'none'; sandbox"
STATIC_DIR = str(Path(__file__).resolve().parent / "static")
STYLESHEET = "pages.css"
STYLESHEET_ROUTE = "swiftcontents/static/"  # under base_url: not an /api/ route
THEMES = ("light", "dark")
# The storlets' own inline style, in the head they write: dropped (the policy would
# block it and log a violation).
_INLINE_STYLE = re.compile(r"<style>.*?</style>", re.S)


@dataclasses.dataclass(frozen=True)
class PageStyle:
    """Where a page finds its stylesheet, and the theme asked for ('' = the browser's)."""

    href: str = "/" + STYLESHEET_ROUTE + STYLESHEET
    theme: str = ""


def page_style(base_url: str, theme: str | None) -> PageStyle:
    """The style of a page served under ``base_url``; ``theme`` from ``?theme=``."""
    theme = theme or ""
    if theme not in ("",) + THEMES:
        raise SwiftContentsError(400, f"theme must be one of {', '.join(THEMES)} (or absent, "
                                      f"for the browser's preference), not {theme[:40]!r}")
    return PageStyle(url_path_join(base_url, STYLESHEET_ROUTE, STYLESHEET), theme)


def escape(value: Any) -> str:
    """Any value as HTML text or a quoted attribute value (quotes escaped too)."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def styled(page: str, style: PageStyle, kind: str) -> str:
    """A storlet's page with the stylesheet linked in place of its inline style, the
    theme on ``<html>`` and the page's kind(s) as classes of ``<body>``."""
    head_end = page.find("</head>")
    if head_end < 0:
        raise ValueError("not a storlet page: no </head>")
    head = _INLINE_STYLE.sub("", page[:head_end], count=1)
    link = f'<link rel="stylesheet" href="{escape(style.href)}">'
    page = head + link + page[head_end:]
    if style.theme:
        page = page.replace("<html>", f'<html data-theme="{escape(style.theme)}">', 1)
    return page.replace("<body>", f'<body class="{escape(kind)}">', 1)


def with_note(page: str, result: dict[str, Any]) -> str:
    """A storlet's page with a line saying which path computed it (and why)."""
    reason = result.get("fallback_reason")
    note = f"<p class=\"computed-by\">computed by {escape(result['computed_by'])}" + (
        f" ({escape(reason)})" if reason else "") + "</p>"
    return page.replace("<body>", "<body>" + note, 1)


def listing_page(result: dict[str, Any], style: PageStyle = PageStyle()) -> str:
    """The listing storlet's own HTML table for a listing result."""
    from storlets_apps.nblisting import render_html

    page = with_note(render_html(result["notebooks"]), result)
    if result.get("next"):  # (a link would need the page's own URL: the marker is shown)
        page = page.replace("</body>", f"<p>more: marker={escape(result['next'])}</p></body>", 1)
    return styled(page, style, "listing")


def validation_page(report: dict[str, Any], style: PageStyle = PageStyle()) -> str:
    """The validation storlet's own HTML page for a report (or error document)."""
    from storlets_apps.nbvalidate import render_html

    verdict = "valid" if report.get("valid") is True else "invalid"
    return styled(with_note(render_html(report), report), style, f"validation {verdict}")


def diff_page(result: dict[str, Any], style: PageStyle = PageStyle()) -> str:
    """The diff storlet's own side-by-side page (``format=html``), from either path."""
    return styled(with_note(result["body"], result), style, "diff")
