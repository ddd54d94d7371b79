"""Calls to the notebook storlets, with in-process fallbacks.

Every answer says which path ran: ``computed_by`` is ``"storlet"`` or
``"server"`` (plus ``fallback_reason`` when a storlet was wanted but the engine
failed or storlets are off). Only an engine fault (a 5xx, a timeout, no
connection) rests the engine; a storlet's answer about its input (422, 413) is
the caller's answer and nobody else's. An engine outage is never a 500: the server runs
the storlets' own code in-process through the engine-faithful harness
(``swiftproto.harness``), so its answer equals the storlet's field for field
(nbdime is not needed, whatever the format).

Blocking code (run in the manager's thread pool); Swift I/O goes through
``store.Store``.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from storlets_apps import _nbcommon
from storlets_apps.nbdiff import DiffStorlet
from storlets_apps.nblisting import ListingStorlet
from storlets_apps.nbvalidate import ValidateStorlet
from swiftproto import listing_calls, run_headers
from swiftproto.batching import STAMPED_METADATA_BYTES
from swiftproto.harness import HarnessError, LocalResult, run_storlet

from .errors import SwiftContentsError
from .store import Store

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

VALIDATE = "nbvalidate.py"
LISTING = "nblisting.py"
DIFF = "nbdiff.py"
LISTING_BATCH = 100  # notebooks per nblisting call
# The fallbacks hold at most this much of one object (the storlets' own ceiling).
FALLBACK_MAX_BYTES = _nbcommon.CEILING_MAX_BYTES
RETRY_AFTER = 60.0  # seconds before 'auto' tries an engine that just failed
# A storlet's answer about its input, not about the engine: 422 (it failed or ran
# past its budget on this input), 413 (too large, or over quota).
USER_LEVEL = frozenset({413, 422})
# Swift's answer about its storage (507 Insufficient Storage): no engine fault either;
# the fallback's plain PUT would get it too.
STORAGE_LEVEL = frozenset({507})
META = "x-object-meta-"
DIFF_TYPES = {"nbdime": "application/json", "text": "text/plain", "html": "text/html"}


def run_local(storlet: type, data: bytes, params: dict[str, str],
              extra: list[bytes] | None = None) -> LocalResult:
    """A storlet's own code run in this process, as the engine would run it."""
    try:
        return run_storlet(storlet, data, params=params, extra=[(e, {}) for e in extra or ()])
    except HarnessError as exc:  # a bug in a storlet: the engine would answer 503 too
        raise SwiftContentsError(500, f"in-process {storlet.__name__} failed: {exc}") from exc


def local_stamp(data: bytes) -> dict[str, str]:
    """nbvalidate's stamp (mode=stamp) computed here, as ``X-Object-Meta-*`` headers."""
    md = run_local(ValidateStorlet, data, {"mode": "stamp"}).metadata
    md[_nbcommon.VALIDATED_BY] = "server"
    return {_nbcommon.META_PREFIX + key: value for key, value in md.items()}


def validation_report(data: bytes) -> dict[str, Any]:
    """nbvalidate's report (or error document) computed here."""
    return json.loads(run_local(ValidateStorlet, data, {"mode": "report"}).body)


def summarize(name: str, data: bytes) -> dict[str, Any]:
    """nblisting's row for one notebook computed here."""
    doc = json.loads(run_local(ListingStorlet, data, {"names": json.dumps([name])}).body)
    if isinstance(doc, list):
        return doc[0]
    # the whole call failed (an error document): the row says why, as for one input
    return {"name": name, "bytes": len(data), "error": doc["error"], "detail": doc["detail"]}


def diff_error(metadata: dict[str, str]) -> SwiftContentsError | None:
    """The user-level problem nbdiff reported in its metadata (keys with or without
    ``X-Object-Meta-``, any case), if any: the same on both paths, never retried."""
    meta = {k.lower().removeprefix(META): v for k, v in metadata.items()}
    code = meta.get(_nbcommon.ERROR.lower())
    if not code:  # a COPY may leave it empty
        return None
    return SwiftContentsError(
        422, f"cannot diff: {code}: {meta.get(_nbcommon.ERROR_DETAIL.lower(), '')}")


def content_type(value: str) -> str:
    return value.split(";")[0].strip().lower()


def diff_body(ctype: str, body: bytes, fmt: str) -> Any:
    if ctype != DIFF_TYPES[fmt]:  # never serve, e.g., an error document as a page
        raise SwiftContentsError(502, f"nbdiff answered {ctype}, not {DIFF_TYPES[fmt]}")
    return json.loads(body) if fmt == "nbdime" else body.decode("utf-8")


def local_diff(base: bytes, current: bytes, fmt: str) -> tuple[str, Any]:
    """(content type, body) of nbdiff's diff from ``base`` to ``current``, computed here."""
    result = run_local(DiffStorlet, current, {"format": fmt}, extra=[base])
    error = diff_error(result.metadata)
    if error is not None:
        raise error
    ctype = content_type(result.metadata["Content-Type"])
    return ctype, diff_body(ctype, result.body, fmt)


class NotebookStorlets:
    """Runs the storlets when ``mode`` allows it; falls back in-process otherwise."""

    def __init__(self, mode: str = "auto", log: logging.Logger | None = None,
                 max_bytes: int = FALLBACK_MAX_BYTES) -> None:
        self.mode = mode
        self.max_bytes = max_bytes  # per object read by a fallback (413 past it)
        self.log = log or logging.getLogger(__name__)
        self._down_until = 0.0
        self._lock = threading.Lock()

    def wanted(self) -> tuple[bool, str | None]:
        """(try the storlet?, reason if not)."""
        if self.mode == "off":
            return False, "storlets are off (SwiftContentsManager.storlets='off')"
        if self.mode == "auto" and time.monotonic() < self._down_until:
            return False, "the storlet engine failed recently; retrying it later"
        return True, None

    def _failed(self, what: str, exc: SwiftContentsError) -> str:
        """Sort a failed storlet call; the reason to fall back in-process, or raise.

        - an engine fault (503: a 5xx, a timeout, no connection): fall back, and
          'auto' leaves the engine alone for ``RETRY_AFTER`` seconds;
        - a user-level answer about this input (422: the storlet failed or ran past
          its budget on it; 413: too large or over quota): raised as such, the engine
          stays in use for every other call;
        - Swift out of space (507): raised as such, the engine stays in use;
        - any other 4xx (storlets not enabled for the account, a name the engine
          refuses, the object gone): this call falls back, nobody else is affected.
        """
        if exc.status in USER_LEVEL:
            raise SwiftContentsError(exc.status, f"storlet {what}: {exc.message}") from None
        if exc.status in STORAGE_LEVEL:
            raise exc
        if exc.status >= 500:
            with self._lock:
                self._down_until = time.monotonic() + RETRY_AFTER
            self.log.warning("Storlet %s failed (%s); computing in the server instead",
                             what, exc.message)
        else:
            self.log.info("Storlet %s refused this call (%s); computing it in the server",
                          what, exc.message)
        return f"storlet {what} failed: {exc.message}"

    # -- save with a validation stamp ----------------------------------------------
    def save_notebook(self, store: Store, path: str, data: bytes) -> dict[str, Any]:
        """PUT a notebook, stamped by nbvalidate (mode=stamp) in Swift or in this process."""
        ctype = "application/x-ipynb+json"
        use, reason = self.wanted()
        if use:
            try:
                headers = store.write(path, data, ctype, run_headers(VALIDATE, {"mode": "stamp"}))
                return {"computed_by": "storlet", "response": headers}
            except SwiftContentsError as exc:  # the plain PUT below re-raises real errors
                reason = self._failed(VALIDATE, exc)
        stamp = local_stamp(data)
        headers = store.write(path, data, ctype, stamp)
        return {"computed_by": "server", "fallback_reason": reason, "response": headers,
                "stamp": stamp}

    # -- validation report ---------------------------------------------------------
    def validate(self, store: Store, path: str) -> dict[str, Any]:
        use, reason = self.wanted()
        if use:
            try:
                headers, body = store.read(path, headers=run_headers(VALIDATE, {"mode": "report"}))
                report = json.loads(body)
                report["computed_by"] = "storlet"
                return report
            except SwiftContentsError as exc:
                reason = self._failed(VALIDATE, exc)
            except ValueError as exc:
                reason = f"storlet {VALIDATE} gave no JSON: {exc}"
        report = validation_report(store.read_capped(path, self.max_bytes))
        report.update(computed_by="server", fallback_reason=reason)
        return report

    # -- directory listing -----------------------------------------------------------
    def listing(self, store: Store, names: list[str]) -> dict[str, Any]:
        """Summaries of the notebooks ``names`` (API paths), in batches of at most 100:
        one storlet call per batch on the proxy, never one request per notebook."""
        use, reason = self.wanted()
        if not names:
            return {"notebooks": [], "computed_by": "server",
                    "fallback_reason": "no notebooks here: nothing to compute"}
        if use:
            try:
                return {"notebooks": self._storlet_listing(store, names), "computed_by": "storlet"}
            except SwiftContentsError as exc:
                reason = self._failed(LISTING, exc)
            except ValueError as exc:
                reason = f"storlet {LISTING} gave no JSON: {exc}"
        rows = [self._local_row(store, n) for n in names]  # one notebook in memory at a time
        return {"notebooks": rows, "computed_by": "server", "fallback_reason": reason}

    def _local_row(self, store: Store, path: str) -> dict[str, Any]:
        name = path.rpartition("/")[2]
        try:
            data = store.read_capped(path, self.max_bytes)
        except SwiftContentsError as exc:
            if exc.status != 413:
                raise
            return {"name": name, "bytes": None, "error": "too_large", "detail": exc.message}
        return summarize(name, data)

    def _storlet_listing(self, store: Store, names: list[str]) -> list[dict[str, Any]]:
        calls = listing_calls(store.container, [store.key(n) for n in names],
                              [n.rpartition("/")[2] for n in names],
                              metadata_bytes=STAMPED_METADATA_BYTES, max_count=LISTING_BATCH,
                              storlet=LISTING)
        rows: list[dict[str, Any]] = []
        for call in calls:
            _, body = store.read(names[call.indexes[0]], headers=call.headers)
            result = json.loads(body)
            if not isinstance(result, list):
                raise ValueError(f"unexpected listing document: {str(result)[:200]}")
            rows.extend(result)
        return rows

    # -- checkpoint diff -----------------------------------------------------------
    def diff(self, store: Store, path: str, checkpoint_name: str, fmt: str) -> dict[str, Any]:
        """Diff from the checkpoint object (aux container) to the notebook."""
        use, reason = self.wanted()
        if use:
            try:
                headers, body = store.read(path, headers=run_headers(
                    DIFF, {"format": fmt}, extra=[(store.aux_container, checkpoint_name)]))
                problem = diff_error(headers)
                if problem is None:
                    ctype = content_type(headers.get("content-type", "application/json"))
                    return {"content_type": ctype, "body": diff_body(ctype, body, fmt),
                            "computed_by": "storlet"}
            except SwiftContentsError as exc:
                reason = self._failed(DIFF, exc)
            except ValueError as exc:
                reason = f"storlet {DIFF} gave no JSON: {exc}"
            else:  # the notebook's problem, not the engine's: the server would say the same
                raise problem
        current = store.read_capped(path, self.max_bytes)
        base = store.read_capped(checkpoint_name, self.max_bytes, aux=True)
        ctype, payload = local_diff(base, current, fmt)
        return {"content_type": ctype, "body": payload, "computed_by": "server",
                "fallback_reason": reason}
