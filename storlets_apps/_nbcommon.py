"""Shared helpers for the notebook storlets (uploaded as a dependency).

Never deployed as a storlet itself (its name starts with ``_``): the deploy
command uploads it beside every storlet that lists it in its
``STORLET_DEPENDENCIES`` as ``"_nbcommon.py": "repo:_nbcommon.py"``.

Standard library only. It holds what every notebook storlet does the same way:
budgets (``max_bytes``, ``max_seconds``), reading an input under the size
budget, parsing a notebook with clear errors, and the guarded ``__call__``
skeleton that turns any user-level problem into a JSON error document plus
``Nb-Error`` metadata instead of raising (the engine would answer a bare 503),
draining what a storlet did not read of its inputs (:func:`close_inputs`),
:func:`html_text`, the one escaping step of every HTML rendering, and the
validation stamp's vocabulary (:func:`stamp_metadata`, :func:`parse_stamp`).

Client code (swiftcontents, ipython_ext) imports it as ``storlets_apps._nbcommon``
for the stamp vocabulary, so the storlets and their readers cannot drift apart.
"""

import html
import json
import os
import sys
import time

# The operator's ceilings (edit them here before deploying): a caller may
# lower a budget with a parameter, never raise it. The engine enforces its own
# hard limits underneath (the sandbox's memory rlimit, storlet_timeout, which
# kills the task); max_seconds stays below s2aio's storlet_timeout (40 s) so
# a slow call ends with this clear error rather than the engine's.
CEILING_MAX_BYTES = 64 << 20        # 64 MiB per input
CEILING_MAX_SECONDS = 30.0
READ_CHUNK = 1 << 20
# Draining the unread rest of an input may go this long past the time budget, so
# that a call that ran out of time still frees the engine's writer; max_seconds'
# ceiling plus this stays below the engine's storlet_timeout (40 s in s2aio).
DRAIN_GRACE_SECONDS = 5.0
# The engine reads the metadata JSON with one 4096-byte read: stay well below.
MAX_DETAIL_CHARS = 300
JSON_TYPE = "application/json; charset=utf-8"

# --- The metadata vocabulary --------------------------------------------------
# Keys of storlet output metadata; Swift stores and returns each one as
# ``X-Object-Meta-<key>`` (any case). Every writer and reader uses these names.
META_PREFIX = "X-Object-Meta-"
ERROR = "Nb-Error"                  # a problem's code (error documents and stamps)
ERROR_DETAIL = "Nb-Error-Detail"
VALID = "Nb-Valid"                  # yes | no | unknown (not checked: budget, bug)
ERROR_COUNT = "Nb-Error-Count"      # "2", or "50+" when the list was truncated
NBFORMAT = "Nb-Nbformat"            # "4.5"
SCHEMA = "Nb-Schema"                # the schema file used
FIRST_ERROR = "Nb-First-Error"      # "path: message", at most 200 characters
VALIDATED_BY = "Nb-Validated-By"    # absent (the storlet in Swift) or "server"
# Every key a stamp may carry, so a new stamp can blank an older one's keys.
STAMP_KEYS = (VALID, ERROR_COUNT, NBFORMAT, SCHEMA, FIRST_ERROR, ERROR, ERROR_DETAIL,
              VALIDATED_BY)
VALID_WORDS = {True: "yes", False: "no", None: "unknown"}
TRUNCATED_MARK = "+"
COMPUTED_BY = ("storlet", "server")  # which path computed an answer or a stamp


class NotebookProblem(Exception):
    """A user-level problem with an input or a parameter.

    Raised inside a storlet and caught by :func:`run_guarded`, which turns it
    into an error document; it never leaves the storlet.
    """

    def __init__(self, code, detail):
        super().__init__("%s: %s" % (code, detail))
        self.code = code
        self.detail = detail


class Budget(object):
    """Size and time budget of one invocation."""

    def __init__(self, max_bytes=CEILING_MAX_BYTES, max_seconds=CEILING_MAX_SECONDS):
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.deadline = time.monotonic() + max_seconds

    @classmethod
    def from_params(cls, params):
        return cls(
            int_param(params, "max_bytes", CEILING_MAX_BYTES, 1, CEILING_MAX_BYTES),
            float_param(params, "max_seconds", CEILING_MAX_SECONDS, 0.001, CEILING_MAX_SECONDS),
        )

    def check(self):
        """Raise a ``time_budget_exceeded`` problem once the deadline passed."""
        if time.monotonic() > self.deadline:
            raise NotebookProblem(
                "time_budget_exceeded",
                "the work took more than max_seconds=%g; send a smaller notebook "
                "(the operator's ceiling is %g s)" % (self.max_seconds, CEILING_MAX_SECONDS),
            )


def int_param(params, name, default, low, high):
    return _number_param(params, name, default, low, high, int)


def float_param(params, name, default, low, high):
    return _number_param(params, name, default, low, high, float)


def _number_param(params, name, default, low, high, kind):
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise NotebookProblem("bad_parameter", "%s must be a number, got %r" % (name, raw))
    if value != value or not low <= value <= high:  # value != value: NaN
        raise NotebookProblem(
            "bad_parameter", "%s must be between %s and %s (the operator's ceiling), got %s"
            % (name, low, high, raw))
    return value


def choice_param(params, name, choices, default):
    value = params.get(name) or default
    if value not in choices:
        raise NotebookProblem(
            "bad_parameter",
            "%s must be one of %s, got %r" % (name, ", ".join(choices), value))
    return value


def read_upto(in_file, limit, budget=None):
    """Read at most ``limit + 1`` bytes: (chunks, complete).

    ``complete`` is False when the input is longer than ``limit``; the caller
    may then stream the rest (stamp mode) or refuse it.
    """
    chunks = []
    total = 0
    while total <= limit:
        chunk = in_file.read(min(READ_CHUNK, limit + 1 - total))
        if not chunk:
            return chunks, True
        total += len(chunk)
        chunks.append(chunk)
        if budget is not None:
            budget.check()
    return chunks, False


def read_input(in_file, budget):
    """All bytes of one input, or a ``too_large`` problem past ``max_bytes``.

    Stops reading as soon as the budget is exceeded, so a 200 MB object costs
    at most ``max_bytes`` of memory.
    """
    chunks, complete = read_upto(in_file, budget.max_bytes, budget)
    if not complete:
        raise NotebookProblem(
            "too_large",
            "input is larger than max_bytes=%d (the operator's ceiling is %d); "
            "send a smaller notebook" % (budget.max_bytes, CEILING_MAX_BYTES))
    return b"".join(chunks)


def drain(in_file, budget, limit=CEILING_MAX_BYTES):
    """Read and drop what is left of ``in_file``: at most ``limit`` more bytes (the
    operator's ceiling), and not past the time budget plus ``DRAIN_GRACE_SECONDS``.
    True if it reached the end.

    The engine feeds each input from a writer in the proxy or object server
    (storlets' ``_write_input_data``, under eventlet). When a storlet returns with
    input unread and its end of the pipe closes, that writer's next write fails
    with EPIPE, which eventlet's green ``os.write`` retries forever: one thread
    spinning in the server for good. Reading to the end first lets it finish. The
    bound is the ceiling, not the caller's ``max_bytes``: a caller who lowers it
    (``max_bytes=1`` on a large object) must not be able to leave a spinning
    thread. An endless (or larger) input is not read past the bound: a storlet
    never hangs on its input. Never raises: it runs on error paths.
    """
    if in_file.closed:
        return False
    deadline = budget.deadline + DRAIN_GRACE_SECONDS
    left = limit
    try:
        while left > 0:
            chunk = in_file.read(min(READ_CHUNK, left))
            if not chunk:
                return True
            left -= len(chunk)
            if time.monotonic() > deadline:
                return False
        return not in_file.read(1)
    except Exception:  # a broken input cannot be drained; closing it is all that is left
        return False


def close_inputs(in_files, budget):
    """Drain (:func:`drain`) and close every input not closed yet, on every path."""
    for in_file in in_files:
        if not in_file.closed:
            drain(in_file, budget)
            in_file.close()


def call_budget(params):
    """The budget of the call's parameters, else the operator's ceilings (for draining
    when the parameters themselves are the problem)."""
    try:
        return Budget.from_params(params)
    except NotebookProblem:
        return Budget()


def parse_notebook(data):
    """Decode and parse notebook bytes; a clear problem for each bad input."""
    if not data:
        raise NotebookProblem("empty", "the input is empty, not a notebook")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookProblem(
            "not_utf8", "input is not UTF-8 text (bad byte at offset %d)" % exc.start)
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        nb = json.loads(text)
    except RecursionError:
        raise NotebookProblem("invalid_json", "JSON nested too deeply")
    except json.JSONDecodeError as exc:
        where = "line %d column %d" % (exc.lineno, exc.colno)
        if exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip()):
            raise NotebookProblem(
                "truncated_json",
                "JSON ends early (%s, %s): the notebook is truncated" % (exc.msg, where))
        raise NotebookProblem("invalid_json", "not valid JSON: %s (%s)" % (exc.msg, where))
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise NotebookProblem("invalid_json", "JSON this reader refuses: %s" % exc)
    check_unicode(text, nb)
    if not isinstance(nb, dict) or "nbformat" not in nb:
        raise NotebookProblem(
            "not_a_notebook",
            "JSON is a %s without an 'nbformat' key, not a notebook" % type(nb).__name__)
    return nb


def check_unicode(text, nb):
    """A ``not_utf8`` problem for a lone UTF-16 surrogate escape (``"\\ud800"``): valid
    JSON, but not Unicode text, so no answer quoting it could be encoded. Only a text
    holding such an escape is re-encoded: one substring search for the usual notebook."""
    if "\\ud" not in text and "\\uD" not in text:
        return
    try:
        json.dumps(nb, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotebookProblem(
            "not_utf8", "the JSON holds a lone UTF-16 surrogate escape (%s), which is not "
            "Unicode text" % ascii(exc.object[exc.start:exc.end]))


def notebook_version(nb):
    """(major, minor) as nbformat reads them; a problem if they are not integers."""
    major = nb.get("nbformat", 1)
    minor = nb.get("nbformat_minor", 0)
    if not (_is_int(major) and _is_int(minor)):
        raise NotebookProblem(
            "unknown_version",
            "nbformat/nbformat_minor must be integers, got %r/%r" % (major, minor))
    return major, minor


def require_v4(nb):
    """The version of a notebook this code can summarise/diff (nbformat 4.x)."""
    major, minor = notebook_version(nb)
    if major != 4:
        raise NotebookProblem(
            "unknown_version",
            "nbformat %s.%s is not supported here; only nbformat 4 notebooks are "
            "(upgrade it with 'jupyter nbconvert --to notebook')" % (major, minor))
    if not isinstance(nb.get("cells"), list):
        raise NotebookProblem("not_a_notebook", "'cells' is missing or not a list")
    return major, minor


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_json_mime(mime):
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json"))


def _is_lines(value):
    """A list of strings: the multi-line form nbformat joins (any other list stays as is)."""
    return isinstance(value, list) and all(isinstance(line, str) for line in value)


def _join_bundle(bundle):
    if not isinstance(bundle, dict):
        return
    for key, value in list(bundle.items()):
        if not _is_json_mime(key) and _is_lines(value):
            bundle[key] = "".join(value)


def in_memory_form(nb):
    """The notebook as ``nbformat.reads(..., as_version=4)`` holds it (in place).

    Multi-line fields joined into strings and transient keys dropped, so that
    diffs computed here apply to what nbformat/nbdime read.
    """
    meta = nb.get("metadata")
    if isinstance(meta, dict):
        for key in ("orig_nbformat", "orig_nbformat_minor", "signature"):
            meta.pop(key, None)
    for cell in nb.get("cells") or ():
        if not isinstance(cell, dict):
            continue
        if _is_lines(cell.get("source")):
            cell["source"] = "".join(cell["source"])
        if isinstance(cell.get("metadata"), dict):
            cell["metadata"].pop("trusted", None)
        attachments = cell.get("attachments")
        if isinstance(attachments, dict):
            for bundle in attachments.values():
                _join_bundle(bundle)
        if cell.get("cell_type") == "code" and isinstance(cell.get("outputs"), list):
            for output in cell["outputs"]:
                if not isinstance(output, dict):
                    continue
                kind = output.get("output_type", "")
                if kind in ("execute_result", "display_data"):
                    _join_bundle(output.get("data"))
                elif kind and _is_lines(output.get("text")):
                    output["text"] = "".join(output["text"])
    return nb


def source_text(cell):
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def dependency_path(name, here):
    """Where an uploaded dependency is: beside the storlet, else on sys.path.

    The engine copies dependencies next to the storlet module; the local
    harness puts its ``dependencies_dir`` on ``sys.path``.
    """
    candidates = [here] + [p for p in sys.path if p and os.path.isdir(p)]
    for folder in candidates:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def header_safe(text, limit=MAX_DETAIL_CHARS):
    """One printable ASCII line: metadata becomes HTTP headers."""
    text = str(text).encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(ch if " " <= ch <= "~" else " " for ch in text)
    return text[:limit]


def error_document(code, detail, **extra):
    doc = {"error": code, "detail": detail}
    doc.update(extra)
    return json.dumps(doc, sort_keys=True).encode("utf-8")


def error_metadata(code, detail):
    return {
        ERROR: header_safe(code, 64),
        ERROR_DETAIL: header_safe(detail),
        "Content-Type": JSON_TYPE,
    }


def run_guarded(logger, in_files, out_files, compute, params=None):
    """The ``__call__`` skeleton shared by the notebook storlets.

    ``compute()`` returns ``(metadata, body_bytes)``. A :class:`NotebookProblem`
    becomes an error document; any other exception too (logged), because a
    raising storlet only gives the client a bare 503. Metadata is set once,
    before the single write; what ``compute`` did not read of the inputs is
    drained within the budget of ``params``, and every file is closed.
    """
    out = out_files[0]
    budget = call_budget(params or {})
    try:
        try:
            metadata, body = compute()
        except NotebookProblem as problem:
            metadata = error_metadata(problem.code, problem.detail)
            body = error_document(problem.code, problem.detail)
        except MemoryError:
            detail = "out of memory; send a smaller notebook or lower max_bytes"
            metadata = error_metadata("out_of_memory", detail)
            body = error_document("out_of_memory", detail)
        except Exception as exc:  # a bug here must still not crash the request
            logger.error("internal error: %s: %s" % (type(exc).__name__, header_safe(exc)))
            detail = "%s: %s" % (type(exc).__name__, header_safe(exc))
            metadata = error_metadata("internal_error", detail)
            body = error_document("internal_error", detail)
        out.set_metadata(metadata)
        out.write(body)
    finally:
        try:
            close_inputs(in_files, budget)
        finally:
            out.close()


def json_body(doc):
    return json.dumps(doc, sort_keys=False, ensure_ascii=False).encode("utf-8")


def html_text(value):
    """Any value as HTML text or a double/single-quoted attribute value.

    Everything a notebook holds (names, cell types, sources, outputs,
    metadata) is attacker-controlled; escaping ``& < > " '`` keeps it from
    opening a tag, ending an attribute or closing a ``<textarea>``/``<style>``.
    """
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


# --- The validation stamp: one typed verdict ------------------------------------

def stamp_metadata(report):
    """Stamp metadata for a validation report (``valid``, ``error_count``, ...)."""
    md = {
        VALID: VALID_WORDS[report["valid"]],
        ERROR_COUNT: "%d%s" % (report["error_count"],
                               TRUNCATED_MARK if report["truncated"] else ""),
        NBFORMAT: "%s.%s" % (report["nbformat"], report["nbformat_minor"]),
        SCHEMA: report["schema"],
    }
    if report["errors"]:
        first = report["errors"][0]
        md[FIRST_ERROR] = header_safe(
            "%s: %s" % (first["path"] or "notebook", first["message"]), 200)
    return md


def _meta_key(key):
    """``nb-valid``, ``Nb-Valid`` or ``X-Object-Meta-Nb-Valid`` -> ``nb-valid``."""
    key = key.lower()
    prefix = META_PREFIX.lower()
    return key[len(prefix):] if key.startswith(prefix) else key


def _parse_count(raw):
    """(error_count, truncated) from ``"2"`` or ``"50+"``; (None, False) if unreadable."""
    raw = raw.strip()
    truncated = raw.endswith(TRUNCATED_MARK)
    digits = raw[:-1] if truncated else raw
    return (int(digits), truncated) if digits.isdigit() else (None, False)


def parse_stamp(headers):
    """The typed verdict in object metadata or response headers, or None if unstamped.

    ``{valid: True|False|None, error_count: int|None, truncated: bool,
    validated_by: "storlet"|"server"}`` (``valid`` None: not checked;
    ``error_count`` None: no count, e.g. not a notebook) plus, when stamped,
    ``nbformat``, ``schema``, ``first_error``, ``error``, ``error_detail``. Keys may
    carry ``X-Object-Meta-`` or not, in any case. Empty values are keys an
    older stamp left and a newer one blanked: absent.
    """
    meta = {_meta_key(k): v for k, v in headers.items() if v != ""}
    if VALID.lower() not in meta:
        return None
    words = {word: value for value, word in VALID_WORDS.items()}
    count, truncated = _parse_count(meta.get(ERROR_COUNT.lower(), ""))
    stamp = {"valid": words.get(meta[VALID.lower()].strip().lower()),
             "error_count": count, "truncated": truncated,
             "validated_by": "server" if meta.get(VALIDATED_BY.lower()) == "server"
             else "storlet"}
    for key in (NBFORMAT, SCHEMA, FIRST_ERROR, ERROR, ERROR_DETAIL):
        if key.lower() in meta:
            stamp[key.lower()[len("nb-"):].replace("-", "_")] = meta[key.lower()]
    return stamp
