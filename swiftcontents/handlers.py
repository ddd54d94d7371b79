"""REST endpoints of the swiftcontents server extension.

- ``GET /api/swiftcontents/listing/<dir>[?limit=N&marker=M&format=html]``: notebook
  summaries, a page of ``limit`` at a time (``next`` in the answer: the marker of
  the next page, null on the last)
- ``GET /api/swiftcontents/diff/<path>?checkpoint=<id>&format=nbdime|text|html``
- ``GET /api/swiftcontents/validate/<path>[?format=html]``: nbformat validation report
- ``GET /swiftcontents/static/pages.css``: the pages' stylesheet (public, as Jupyter's
  own ``/static/`` files: it holds nothing of anyone's, and a page under its
  ``sandbox`` policy has an opaque origin, so the browser sends no cookie with it)

HTML pages take ``?theme=light|dark`` (default: the browser's preference).

Authenticated and authorized like the contents API (resource ``contents``). Their
work runs on the manager's own small pool (``heavy_pool_size``): contents calls
never wait behind them.
Each answer says which path computed it (``computed_by``: storlet or server;
for text/HTML bodies the ``X-Swiftcontents-Computed-By`` header). HTML pages
escape every notebook-derived string (``pages``) and carry a policy that
allows this server's stylesheets and nothing else (no inline style, no scripts).
"""
from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, FileFindHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from . import pages
from .errors import SwiftContentsError
from .manager import SwiftContentsManager

AUTH_RESOURCE = "contents"
TEXT_TYPES = {"text": "text/plain", "html": "text/html"}
PATH = r"(?P<path>(?:/.*)?)"


class SwiftContentsHandler(APIHandler):
    """HTTP only: query arguments in, the manager's public answers out."""

    auth_resource = AUTH_RESOURCE

    @property
    def cm(self) -> SwiftContentsManager:
        cm = self.contents_manager
        if not isinstance(cm, SwiftContentsManager):
            raise web.HTTPError(400, "This endpoint needs ServerApp.contents_manager_class="
                                     "swiftcontents.SwiftContentsManager")
        return cm

    def wants_html(self) -> bool:
        return self.get_query_argument("format", "json") == "html"

    def page_style(self) -> pages.PageStyle:
        try:
            return pages.page_style(self.base_url, self.get_query_argument("theme", ""))
        except SwiftContentsError as exc:
            raise web.HTTPError(exc.status, exc.message) from None

    def finish_json(self, payload: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload, default=str))

    def finish_text(self, ctype: str, body: str, computed_by: str) -> None:
        self.update_api_activity()
        self.set_header("Content-Type", f"{ctype}; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        if ctype == "text/html":
            self.set_header("Content-Security-Policy",
                            f"{self.content_security_policy}; {pages.PAGE_CSP}")
        self.set_header("X-Swiftcontents-Computed-By", computed_by)
        # APIHandler.finish would force application/json on a text/HTML body.
        super(APIHandler, self).finish(body)


class ListingHandler(SwiftContentsHandler):
    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        result = await self.cm.notebook_listing(path, self.get_query_argument("limit", None),
                                                self.get_query_argument("marker", ""))
        if self.wants_html():
            self.finish_text("text/html", pages.listing_page(result, self.page_style()),
                             result["computed_by"])
        else:
            self.finish_json(result)


class DiffHandler(SwiftContentsHandler):
    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        fmt = self.get_query_argument("format", "nbdime")
        style = self.page_style() if fmt == "html" else None
        result = await self.cm.checkpoint_diff(
            path, self.get_query_argument("checkpoint", ""), fmt)
        if fmt == "nbdime":
            self.finish_json({"path": result["path"], "checkpoint": result["checkpoint"],
                              "diff": result["body"], "computed_by": result["computed_by"],
                              "fallback_reason": result.get("fallback_reason")})
        elif style is not None:
            self.finish_text("text/html", pages.diff_page(result, style), result["computed_by"])
        else:
            self.finish_text(TEXT_TYPES[fmt], result["body"], result["computed_by"])


class ValidateHandler(SwiftContentsHandler):
    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        report = await self.cm.validation_report(path)
        if self.wants_html():
            self.finish_text("text/html", pages.validation_page(report, self.page_style()),
                             report["computed_by"])
        else:
            self.finish_json(report)


class StylesheetHandler(FileFindHandler):
    """The one file under ``static/``, served like Jupyter's own static files
    (unauthenticated: see the module's docstring)."""

    # FileFindHandler caches found files by name on the class: a cache of our own, so
    # another handler's "pages.css" is never served here (nor ours there).
    _static_paths: dict[str, str] = {}


def handlers(base_url: str) -> list[tuple[str, type] | tuple[str, type, dict[str, Any]]]:
    stylesheet = url_path_join(base_url, pages.STYLESHEET_ROUTE)
    return [
        (url_path_join(base_url, "api/swiftcontents/listing") + PATH, ListingHandler),
        (url_path_join(base_url, "api/swiftcontents/diff") + PATH, DiffHandler),
        (url_path_join(base_url, "api/swiftcontents/validate") + PATH, ValidateHandler),
        (stylesheet + r"(pages\.css)", StylesheetHandler, {"path": pages.STATIC_DIR}),
    ]


def guard_json_bodies() -> None:
    """Answer a request body that is not UTF-8 with a 400, on every API endpoint.

    jupyter_server's ``JupyterHandler.get_json_body`` decodes the body outside the
    ``try`` that turns bad JSON into "400 Invalid JSON", so a save whose bytes are not
    UTF-8 got a 500 ("Unhandled error") from the contents API. The body cannot be
    checked before that handler runs (its route comes first), hence this wrapper,
    installed once when the extension loads.
    """
    original = JupyterHandler.get_json_body
    if getattr(original, "_swiftcontents_guard", False):
        return

    def get_json_body(self: JupyterHandler) -> Any:
        try:
            return original(self)
        except UnicodeDecodeError as exc:
            raise web.HTTPError(400, f"Invalid JSON in body of request: not UTF-8 "
                                     f"(byte {exc.object[exc.start]:#04x} at offset {exc.start})"
                                ) from None

    get_json_body._swiftcontents_guard = True  # type: ignore[attr-defined]
    JupyterHandler.get_json_body = get_json_body  # type: ignore[method-assign]
