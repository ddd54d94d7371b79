"""What every part of the project shares about Swift and the storlets engine.

Errors::

    SwiftProtoError
     └── UnsafeNameError (also a ValueError): a storlet, dependency or scope
         name that could reach a host path
"""
from __future__ import annotations

from .errors import SwiftProtoError, UnsafeNameError
from .names import MAX_NAME_BYTES, check_engine_name
from .redact import redact

__all__ = ["MAX_NAME_BYTES", "SwiftProtoError", "UnsafeNameError", "check_engine_name",
           "redact"]
