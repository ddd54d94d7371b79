"""The storlets request protocol: headers, the one quoting rule, upload headers, limits.

Invoking a storlet (storlets 18.0 middleware)::

    X-Run-Storlet: nblisting.py
    X-Storlet-Parameter-1: names:%5B%22a%2541.ipynb%22%5D    (quote_parameter)
    X-Storlet-Extra-Resources: /c/b%20c.ipynb,/c/d.ipynb      (resource_path)
    X-Storlet-Run-On-Proxy:                                    (run there, gather extras)
    X-Storlet-Range: bytes=0-99                                (the storlet sees these bytes)
    X-Storlet-Generate-Log: True                               (keep the storlet's log)

Parameters always travel as headers, never in the query string: the middleware
parses a query string as Latin-1, so a non-ASCII value would reach the storlet
garbled, while for each ``X-Storlet-Parameter-N`` header it does
``key, value = urllib.parse.unquote(header).split(":", 1)`` (UTF-8).
``quote_parameter`` is the exact inverse of that line.
"""
from __future__ import annotations

from typing import Iterable, Mapping
from urllib.parse import quote, unquote

from .errors import ParameterError

RUN = "X-Run-Storlet"
PARAMETER = "X-Storlet-Parameter-"
EXTRA_RESOURCES = "X-Storlet-Extra-Resources"
RUN_ON_PROXY = "X-Storlet-Run-On-Proxy"
RANGE = "X-Storlet-Range"
GENERATE_LOG = "X-Storlet-Generate-Log"
STORLET_META = "X-Object-Meta-Storlet-"
DEPENDENCY = STORLET_META + "Dependency"
ACCOUNT_ENABLED = "X-Account-Meta-Storlet-Enabled"  # set by a reseller admin

# Engine limits.
MAX_HEADER_LINE = 8192  # Swift's MAX_HEADER_SIZE: it refuses a longer header line
MAX_HEADER_BYTES = 8000  # what we put in one header value: a margin for its name
SBUS_MESSAGE_BYTES = 4096  # libsbus MAX_MSG_LENGTH: the whole request to the sandbox

# Everything but RFC 3986's unreserved characters and the separator is
# percent-encoded: '%' itself, spaces (HTTP strips them at a value's ends),
# ',' and non-ASCII (header values are Latin-1 on the wire) included.
_PARAMETER_SAFE = ":"


def quote_parameter(key: str, value: str) -> str:
    """The ``X-Storlet-Parameter-N`` value that the middleware turns back into
    exactly ``key`` and ``value``."""
    if not key or ":" in key:
        raise ParameterError(f"storlet parameter name {key!r} must be non-empty, without ':'")
    quoted = quote(f"{key}:{value}", safe=_PARAMETER_SAFE)
    if len(quoted) > MAX_HEADER_BYTES:  # Swift would answer "400 Header Line Too Long"
        raise ParameterError(f"storlet parameter {key!r} is {len(quoted)} bytes once quoted; "
                             f"at most {MAX_HEADER_BYTES} fit in one header")
    return quoted


def unquote_parameter(header_value: str) -> tuple[str, str]:
    """What the middleware reads from one parameter header (its own two steps)."""
    key, value = unquote(header_value).split(":", 1)
    return key, value


def parameter_headers(params: Mapping[str, object]) -> dict[str, str]:
    """``X-Storlet-Parameter-N`` headers, numbered from 1 in ``params``' order."""
    return {f"{PARAMETER}{i}": quote_parameter(key, str(value))
            for i, (key, value) in enumerate(params.items(), start=1)}


def resource_path(container: str, obj: str) -> str:
    """One extra resource, URL-quoted as the proxy's subrequest expects
    (',' quoted too: the header is a comma-separated list)."""
    return f"/{quote(container, safe='')}/{quote(obj, safe='/')}"


def run_headers(storlet: str, params: Mapping[str, object] | None = None, *,
                extra: Iterable[tuple[str, str]] = (), on_proxy: bool = False,
                byte_range: str | None = None, generate_log: bool = False) -> dict[str, str]:
    """The headers that run ``storlet`` on a GET, PUT or COPY.

    ``extra``: (container, object) pairs read as further inputs (on the proxy).
    """
    headers = {RUN: storlet, **parameter_headers(params or {})}
    resources = [resource_path(c, o) for c, o in extra]
    if resources:
        headers[EXTRA_RESOURCES] = ",".join(resources)
    if on_proxy:
        headers[RUN_ON_PROXY] = ""
    if byte_range:
        headers[RANGE] = byte_range
    if generate_log:
        headers[GENERATE_LOG] = "True"
    return headers


def storlet_object_headers(main_class: str, dependencies: Iterable[str] = ()) -> dict[str, str]:
    """The metadata the engine requires on a Python storlet object."""
    headers = {
        STORLET_META + "Language": "python",
        STORLET_META + "Language-Version": "3",
        STORLET_META + "Interface-Version": "1.0",
        STORLET_META + "Object-Metadata": "no",
        STORLET_META + "Main": main_class,
    }
    names = sorted(dependencies)
    if names:
        headers[DEPENDENCY] = ",".join(names)
    return headers


def dependency_object_headers(version: str = "1",
                              permissions: str | None = None) -> dict[str, str]:
    """The metadata the engine requires on a dependency object (``permissions``
    like ``0755`` for an executable)."""
    headers = {DEPENDENCY + "-Version": version}
    if permissions:
        headers[DEPENDENCY + "-Permissions"] = permissions
    return headers
