"""The HTML pages of the REST endpoints (``?format=html``) and their policy.

Every notebook-derived string (object names, titles, kernels, sources, error
messages) is attacker-controlled and goes through :func:`escape`. The tables
themselves are the storlets' own renderers, so a page is the same whichever
path (storlet or server) computed it.
"""
from __future__ import annotations

import html
from typing import Any

# Added after Jupyter's own policy on generated pages (APIHandler already sends
# default-src 'none'; where both name a directive, Jupyter's comes first and
# wins): inline <style> only, no scripts at all (sandbox), no base or form targets.
PAGE_CSP = "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; sandbox"


def escape(value: Any) -> str:
    """Any value as HTML text or a quoted attribute value (quotes escaped too)."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def with_note(page: str, result: dict[str, Any]) -> str:
    """A storlet's page with a line saying which path computed it (and why)."""
    reason = result.get("fallback_reason")
    note = f"<p>computed by {escape(result['computed_by'])}" + (
        f" ({escape(reason)})" if reason else "") + "</p>"
    return page.replace("<body>", "<body>" + note, 1)


def listing_page(result: dict[str, Any]) -> str:
    """The listing storlet's own HTML table for a listing result."""
    from storlets_apps.nblisting import render_html

    page = with_note(render_html(result["notebooks"]), result)
    if result.get("next"):  # (a link would need the page's own URL: the marker is shown)
        page = page.replace("</body>", f"<p>more: marker={escape(result['next'])}</p></body>", 1)
    return page


def validation_page(report: dict[str, Any]) -> str:
    """The validation storlet's own HTML page for a report (or error document)."""
    from storlets_apps.nbvalidate import render_html

    return with_note(render_html(report), report)
