"""The one error type of the IPython extension.

::

    UsageError (IPython)
     └── StorletMagicError   user mistakes, Swift errors, storlet error documents

It subclasses IPython's ``UsageError`` so that callers (and old notebooks)
catching ``UsageError`` keep working, and it renders as a single line: no
traceback, never a token (messages are redacted before they get here).
"""
from __future__ import annotations

from IPython.core.error import UsageError


class StorletMagicError(UsageError):
    """A storlet magic could not do what it was asked; the message says why.

    ``status`` and ``transaction_id`` are set for Swift errors.
    """

    def __init__(self, message: str, *, status: int | None = None,
                 transaction_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.transaction_id = transaction_id

    def _render_traceback_(self) -> list[str]:
        # IPython only short-cuts ``UsageError`` itself (``etype is UsageError``);
        # this hook keeps subclasses to one line in terminals and kernels alike.
        return [f"UsageError: {self}"]
