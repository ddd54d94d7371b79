"""Listing batches: how many notebooks one ``nblisting.py`` call may read.

Two limits, whichever is lower:

1. Swift refuses any header line over 8192 bytes, and the extra resources are
   ONE header (``/container/object`` each, URL-quoted, comma-separated), and so
   is the ``names`` parameter (a JSON list, quoted by ``quote_parameter``).
2. The storlets engine (18.0) passes the request to the sandbox as ONE SBus
   message of at most 4096 bytes: a description of every input with its user
   metadata as JSON, plus the parameters (the ``names`` list again, unquoted).
   Past it the storlet daemon dies and Swift answers 503. An input costs about
   65 bytes, plus its metadata, plus its name: about 40 inputs with short names
   and no metadata, about 20 with ~100 bytes of metadata each.

The first input of a call is the object of the request, the others go to
``X-Storlet-Extra-Resources``; the call runs on the proxy, which gathers them.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Sequence
from urllib.parse import quote

from .protocol import MAX_HEADER_BYTES, SBUS_MESSAGE_BYTES, resource_path, run_headers

LISTING_STORLET = "nblisting.py"
DEFAULT_BATCH = 20  # inputs per call when nothing is known about their metadata
SBUS_RESERVED_BYTES = 700  # the output, metadata and logger fds, command, other params
SBUS_BYTES_PER_INPUT = 65  # {"storlets": {"type": "SBUS_FD_INPUT_OBJECT"}, "storage": {}}
DEFAULT_INPUT_METADATA_BYTES = 100
# JSON size of a saved notebook's user metadata: the validation stamp (~110
# bytes) plus, for an invalid notebook, its first error (<= 200 bytes).
STAMPED_METADATA_BYTES = 330
_NAMES_HEADER_OVERHEAD = 20  # "names:" and the list's brackets, quoted


def names_parameter(names: Sequence[str]) -> str:
    """The ``names`` parameter: a compact JSON list (ASCII, ``\\u`` escapes)."""
    return json.dumps(list(names), separators=(",", ":"))


def _name_header_cost(name: str) -> int:
    # its JSON string, quoted, then a quoted ',' (%2C)
    return len(quote(json.dumps(name), safe=":")) + 3


def _sbus_cost(name: str | None, metadata_bytes: int) -> int:
    # the name appears JSON-encoded inside the JSON-encoded parameters
    name_cost = len(json.dumps(json.dumps(name))) if name is not None else 0
    return SBUS_BYTES_PER_INPUT + max(0, metadata_bytes) + name_cost


def max_inputs(metadata_bytes: int = DEFAULT_INPUT_METADATA_BYTES, name_bytes: int = 0) -> int:
    """How many inputs fit in one SBus message (user metadata and name sizes per input)."""
    per_input = (SBUS_BYTES_PER_INPUT + max(0, metadata_bytes)
                 + (name_bytes + 6 if name_bytes else 0))
    return max(1, (SBUS_MESSAGE_BYTES - SBUS_RESERVED_BYTES) // per_input)


def batches(paths: Sequence[str], names: Sequence[str] | None = None,
            metadata_bytes: int = DEFAULT_INPUT_METADATA_BYTES,
            max_header_bytes: int = MAX_HEADER_BYTES,
            max_count: int | None = None) -> list[list[str]]:
    """Split URL-quoted ``/container/object`` paths into batches within both limits.

    ``names``: the display names sent as the ``names`` parameter (same order),
    or None. ``metadata_bytes``: the JSON size of the largest user metadata
    among the objects.
    """
    budget = SBUS_MESSAGE_BYTES - SBUS_RESERVED_BYTES
    out: list[list[str]] = []
    current: list[str] = []
    header = names_header = sbus = 0
    for k, path in enumerate(paths):
        name = names[k] if names is not None else None
        cost = len(path) + 1
        name_cost = _name_header_cost(name) if name is not None else 0
        sbus_cost = _sbus_cost(name, metadata_bytes)
        if current and (header + cost > max_header_bytes
                        or names_header + name_cost > max_header_bytes - _NAMES_HEADER_OVERHEAD
                        or sbus + sbus_cost > budget
                        or (max_count and len(current) >= max_count)):
            out.append(current)
            current, header, names_header, sbus = [], 0, 0, 0
        current.append(path)
        header, names_header, sbus = header + cost, names_header + name_cost, sbus + sbus_cost
    if current:
        out.append(current)
    return out


@dataclasses.dataclass(frozen=True)
class ListingCall:
    """One ``nblisting.py`` request: GET ``obj`` with ``headers``; its rows are
    those of the objects at ``indexes`` (in the order given)."""

    obj: str
    headers: dict[str, str]
    indexes: list[int]


def listing_calls(container: str, objects: Sequence[str], names: Sequence[str], *,
                  metadata_bytes: int = DEFAULT_INPUT_METADATA_BYTES,
                  max_count: int | None = None, fmt: str = "json",
                  storlet: str = LISTING_STORLET) -> list[ListingCall]:
    """The listing requests for ``objects`` of ``container``, shown as ``names``."""
    paths = [resource_path(container, obj) for obj in objects]
    calls: list[ListingCall] = []
    start = 0
    for group in batches(paths, names, metadata_bytes=metadata_bytes, max_count=max_count):
        indexes = list(range(start, start + len(group)))
        start += len(group)
        params = {"format": fmt, "names": names_parameter([names[i] for i in indexes])}
        headers = run_headers(storlet, params, on_proxy=True,
                              extra=[(container, objects[i]) for i in indexes[1:]])
        calls.append(ListingCall(objects[indexes[0]], headers, indexes))
    return calls
