"""swiftcontents: Jupyter's contents API on OpenStack Swift, with notebook storlets.

Enable with ``c.ServerApp.contents_manager_class = "swiftcontents.SwiftContentsManager"``.
The server extension (enabled on install through ``jupyter_server_config.d``)
adds ``/api/swiftcontents/{listing,diff,validate}/<path>``, the pages' stylesheet
``/swiftcontents/static/pages.css``, and answers nbdime's diff API for checkpoint
bases (``nbdime_api``) when nbdime is installed.
"""
from __future__ import annotations

import logging
from typing import Any

from .checkpoints import SwiftCheckpoints
from .errors import SwiftContentsError
from .manager import SwiftContentsManager

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["SwiftContentsManager", "SwiftCheckpoints", "SwiftContentsError"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "swiftcontents"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from . import nbdime_api
    from .handlers import guard_json_bodies, handlers

    guard_json_bodies()
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", handlers(base))
    serverapp.log.info("swiftcontents extension loaded (/api/swiftcontents/...)")
    if nbdime_api.install():  # whichever of the two extensions loads first
        serverapp.log.info("swiftcontents: nbdime's diff API answers checkpoint bases "
                           "on Swift (the nbdiff storlet)")
