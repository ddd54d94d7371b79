"""Calls to the notebook storlets, with in-process fallbacks.

Every answer says which path ran: ``computed_by`` is ``"storlet"`` or
``"server"`` (plus ``fallback_reason`` when a storlet was wanted but the engine
failed or storlets are off). An engine outage is never a 500: the server
computes the same answer with nbformat / nbdime.

Blocking code (run in the manager's thread pool); Swift I/O goes through
``store.Store``.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import nbformat

from swiftproto import listing_calls, run_headers
from swiftproto.batching import STAMPED_METADATA_BYTES

from . import pages
from .errors import SwiftContentsError
from .store import Store

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

VALIDATE = "nbvalidate.py"
LISTING = "nblisting.py"
DIFF = "nbdiff.py"
LISTING_BATCH = 100  # notebooks per nblisting call
RETRY_AFTER = 60.0  # seconds before 'auto' tries an engine that just failed
META = "x-object-meta-"
DIFF_TYPES = {"nbdime": "application/json", "text": "text/plain", "html": "text/html"}


def stamp_metadata(validation_error: dict[str, Any]) -> dict[str, str]:
    """The validation stamp computed in this process (same keys as nbvalidate's)."""
    error = validation_error.get("ValidationError")
    md = {"X-Object-Meta-Nb-Valid": "no" if error else "yes",
          "X-Object-Meta-Nb-Validated-By": "server"}
    if error is not None:
        first = " ".join(str(getattr(error, "message", error)).split())[:200]
        md["X-Object-Meta-Nb-First-Error"] = first.encode("ascii", "replace").decode()
    return md


def validation_report(data: bytes) -> dict[str, Any]:
    """nbformat's verdict on notebook bytes, as a JSON-able report."""
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=nbformat.NO_CONVERT)
    except Exception as exc:  # unreadable input is a result, not a crash
        return {"valid": False, "error": "unreadable", "detail": str(exc)[:500], "errors": []}
    errors = [{"path": "/".join(str(p) for p in e.absolute_path), "message": e.message}
              for e in nbformat.validator.iter_validate(nb)][:50]
    return {"valid": not errors, "nbformat": nb.get("nbformat"),
            "nbformat_minor": nb.get("nbformat_minor"), "error_count": len(errors),
            "errors": errors}


def summarize(name: str, data: bytes) -> dict[str, Any]:
    """One notebook's listing row computed in this process, by the listing
    storlet's own code (so both paths give the same answer)."""
    from storlets_apps.nblisting import summary_entry

    row = summary_entry(name, data)
    if "error" in row:  # the server path reports every unreadable input alike
        row.update(error="unreadable", detail=f"{row['error']}: {row['detail']}"[:200])
    return row


def local_diff(base: bytes, current: bytes, fmt: str) -> tuple[str, Any]:
    """(content type, body) of nbdime's diff from ``base`` to ``current``."""
    import nbdime  # imported lazily: only the fallback needs it
    from nbdime.prettyprint import PrettyPrintConfig, pretty_print_diff

    a = nbformat.reads(base.decode("utf-8"), as_version=4)
    b = nbformat.reads(current.decode("utf-8"), as_version=4)
    diff = nbdime.diff_notebooks(a, b)
    if fmt == "nbdime":
        return "application/json", diff
    import io
    out = io.StringIO()
    pretty_print_diff(a, diff, "nb", PrettyPrintConfig(out=out, use_color=False))
    text = out.getvalue()
    if fmt == "text":
        return "text/plain", text
    return "text/html", pages.text_page("diff", text)


class NotebookStorlets:
    """Runs the storlets when ``mode`` allows it; falls back in-process otherwise."""

    def __init__(self, mode: str = "auto", log: logging.Logger | None = None) -> None:
        self.mode = mode
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
        with self._lock:
            self._down_until = time.monotonic() + RETRY_AFTER
        self.log.warning("Storlet %s failed (%s); computing in the server instead", what, exc.message)
        return f"storlet {what} failed: {exc.message}"

    # -- save with a validation stamp ----------------------------------------------
    def save_notebook(self, store: Store, path: str, data: bytes,
                      validation_error: dict[str, Any]) -> dict[str, Any]:
        """PUT a notebook, stamped by nbvalidate (mode=stamp) or by this process."""
        ctype = "application/x-ipynb+json"
        use, reason = self.wanted()
        if use:
            try:
                headers = store.write(path, data, ctype, run_headers(VALIDATE, {"mode": "stamp"}))
                return {"computed_by": "storlet", "response": headers}
            except SwiftContentsError as exc:  # the plain PUT below re-raises real errors
                reason = self._failed(VALIDATE, exc)
        stamp = stamp_metadata(validation_error)
        headers = store.write(path, data, ctype, stamp)
        return {"computed_by": "server", "fallback_reason": reason, "response": headers,
                "stamp": {k.lower()[len(META):]: v for k, v in stamp.items()}}

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
        _, data = store.read(path)
        report = validation_report(data)
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
        rows = [summarize(n.rpartition("/")[2], store.read(n)[1]) for n in names]
        return {"notebooks": rows, "computed_by": "server", "fallback_reason": reason}

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
                if headers.get(META + "nb-error"):  # a COPY may leave it empty
                    raise SwiftContentsError(502, f"nbdiff error {headers[META + 'nb-error']}")
                ctype = headers.get("content-type", "application/json")
                ctype = ctype.split(";")[0].strip().lower()
                if ctype != DIFF_TYPES[fmt]:  # never serve, e.g., an error document as a page
                    raise SwiftContentsError(502, f"nbdiff answered {ctype}, not {DIFF_TYPES[fmt]}")
                payload: Any = json.loads(body) if fmt == "nbdime" else body.decode("utf-8")
                return {"content_type": ctype, "body": payload, "computed_by": "storlet"}
            except SwiftContentsError as exc:
                reason = self._failed(DIFF, exc)
            except ValueError as exc:
                reason = f"storlet {DIFF} gave no JSON: {exc}"
        _, current = store.read(path)
        _, base = store.read_aux(checkpoint_name)
        ctype, payload = local_diff(base, current, fmt)
        return {"content_type": ctype, "body": payload, "computed_by": "server",
                "fallback_reason": reason}
