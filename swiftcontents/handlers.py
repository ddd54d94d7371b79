"""REST endpoints of the swiftcontents server extension.

- ``GET /api/swiftcontents/listing/<dir>[?format=html]``: notebook summaries
- ``GET /api/swiftcontents/diff/<path>?checkpoint=<id>&format=nbdime|text|html``
- ``GET /api/swiftcontents/validate/<path>[?format=html]``: nbformat validation report

Authenticated and authorized like the contents API (resource ``contents``).
Each answer says which path computed it (``computed_by``: storlet or server;
for text/HTML bodies the ``X-Swiftcontents-Computed-By`` header). HTML pages
escape every notebook-derived string (``pages``) and carry a policy that
allows inline styles and nothing else (no scripts, no loads).
"""
from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from . import pages, paths
from .manager import SwiftContentsManager

AUTH_RESOURCE = "contents"
FORMATS = ("nbdime", "text", "html")
TEXT_TYPES = {"text": "text/plain", "html": "text/html"}
PATH = r"(?P<path>(?:/.*)?)"


class SwiftContentsHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def cm(self) -> SwiftContentsManager:
        cm = self.contents_manager
        if not isinstance(cm, SwiftContentsManager):
            raise web.HTTPError(400, "This endpoint needs ServerApp.contents_manager_class="
                                     "swiftcontents.SwiftContentsManager")
        return cm

    def visible_path(self, path: str) -> str:
        path = self.cm.api_path(path)
        if not self.cm.allow_hidden and paths.is_hidden(path):
            raise web.HTTPError(404, f"No such file or directory: {path}")
        return path

    async def existing_file(self, path: str) -> str:
        """The visible API path of an existing file, else 404."""
        path = self.visible_path(path)
        if not await self.cm.file_exists(path):
            raise web.HTTPError(404, f"No such file: {path}")
        return path

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
        path = self.visible_path(path)
        cm = self.cm
        if not await cm.dir_exists(path):
            raise web.HTTPError(404, f"No such directory: {path}")
        entries = await cm.run(cm.store.list_dir, path)
        names = sorted(e.name for e in entries
                       if not e.is_dir and e.name.endswith(".ipynb") and cm._listable(e))
        result = await cm.run(cm.nb_storlets.listing, cm.store, names)
        result["path"] = path
        if self.get_query_argument("format", "json") == "html":
            self.finish_text("text/html", pages.listing_page(result), result["computed_by"])
        else:
            self.finish_json(result)


class DiffHandler(SwiftContentsHandler):
    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        path = self.visible_path(path)
        fmt = self.get_query_argument("format", "nbdime")
        if fmt not in FORMATS:
            raise web.HTTPError(400, f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        path = await self.existing_file(path)
        cm = self.cm
        checkpoint = self.get_query_argument("checkpoint", "")
        ids = [c["id"] for c in await cm.list_checkpoints(path)]
        if not checkpoint:
            if not ids:
                raise web.HTTPError(404, f"{path} has no checkpoint to compare with")
            checkpoint = ids[-1]
        elif checkpoint not in ids:
            raise web.HTTPError(404, f"No checkpoint {checkpoint!r} for {path}")
        name = cm.store.ckpt_prefix(path) + checkpoint
        result = await cm.run(cm.nb_storlets.diff, cm.store, path, name, fmt)
        if fmt == "nbdime":
            self.finish_json({"path": path, "checkpoint": checkpoint, "diff": result["body"],
                              "computed_by": result["computed_by"],
                              "fallback_reason": result.get("fallback_reason")})
        else:
            self.finish_text(TEXT_TYPES[fmt], result["body"], result["computed_by"])


class ValidateHandler(SwiftContentsHandler):
    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        path = await self.existing_file(path)
        cm = self.cm
        report = await cm.run(cm.nb_storlets.validate, cm.store, path)
        report["path"] = path
        if self.get_query_argument("format", "json") == "html":
            self.finish_text("text/html", pages.validation_page(report), report["computed_by"])
        else:
            self.finish_json(report)


def handlers(base_url: str) -> list[tuple[str, type]]:
    return [
        (url_path_join(base_url, "api/swiftcontents/listing") + PATH, ListingHandler),
        (url_path_join(base_url, "api/swiftcontents/diff") + PATH, DiffHandler),
        (url_path_join(base_url, "api/swiftcontents/validate") + PATH, ValidateHandler),
    ]
