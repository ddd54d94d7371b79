from __future__ import annotations


class S2AIOError(Exception):
    """A problem starting, stopping or using s2aio; the message says what to do."""
