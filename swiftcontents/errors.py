"""The one error type of swiftcontents.

Exception tree::

    SwiftContentsError            base; ``status`` is the HTTP status to answer with
     +-- raised by paths.py        bad user paths (400)
     +-- raised by store.py        Swift failures translated once (404/409/503/...)

The manager and handlers turn it into ``tornado.web.HTTPError`` in one place
(``manager.swift_errors``), like jupyter_server's ``perm_to_403``.
"""
from __future__ import annotations


class SwiftContentsError(Exception):
    """A contents operation failed; ``status`` says which HTTP status fits."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
