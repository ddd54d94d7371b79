"""The package's one error tree."""
from __future__ import annotations


class SwiftProtoError(Exception):
    """Base of every error this package raises."""


class UnsafeNameError(SwiftProtoError, ValueError):
    """A name the storlets engine would join into a host path."""


class SettingsError(SwiftProtoError, ValueError):
    """Auth settings are missing or inconsistent; the message says which."""


class ParameterError(SwiftProtoError, ValueError):
    """A storlet parameter the engine could not pass on intact."""
