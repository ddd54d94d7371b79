"""The deploy package's one error type.

::

    DeployError            anything the deploy command cannot do; the message
                           is one line that says what went wrong and what to do

Auth settings problems come from ``swiftproto.SettingsError`` (shared by
every part of the project); the CLI reports both the same way.
"""
from __future__ import annotations

__all__ = ["DeployError"]


class DeployError(Exception):
    """A deploy step failed; ``str(exc)`` is a clear, secret-free message."""
