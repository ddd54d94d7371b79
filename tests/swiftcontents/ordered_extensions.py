"""Test-only jupyter server extension: loads nbdime's and swiftcontents' extensions in
the order ``SWIFTCONTENTS_TEST_EXTENSION_ORDER`` names (jupyter_server itself always
loads extensions sorted by name: nbdime, then swiftcontents), and an authorizer that
denies the ``contents`` resource to requests carrying ``X-Test-Deny-Contents``."""
from __future__ import annotations

import importlib
import os
from typing import Any

from jupyter_server.auth.authorizer import Authorizer

ORDER_VARIABLE = "SWIFTCONTENTS_TEST_EXTENSION_ORDER"
DENY_HEADER = "X-Test-Deny-Contents"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    order = os.environ[ORDER_VARIABLE].split(",")
    for name in order:
        importlib.import_module(name)._load_jupyter_server_extension(serverapp)
    serverapp.log.info("test extensions loaded in this order: %s", ", ".join(order))


class HeaderAuthorizer(Authorizer):
    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "contents" and handler.request.headers.get(DENY_HEADER))
