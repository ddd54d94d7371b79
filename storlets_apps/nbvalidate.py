"""Notebook validation storlet: the official nbformat schemas, next to the data.

Input: one notebook. Parameters (query string or ``X-Storlet-Parameter-N``):

- ``mode=report`` (default): the output is a JSON report
  ``{valid, nbformat, nbformat_minor, schema, error_count, errors: [{path, message}],
  truncated, warnings}``; metadata as below, ``Content-Type: application/json``.
- ``mode=stamp`` (PUT, GET or COPY): the output bytes are the input bytes,
  unchanged, and the metadata says the verdict. Swift returns/stores them as
  ``X-Object-Meta-Nb-Valid: yes|no|unknown`` (``unknown`` only when the size or
  time budget stopped the check), ``...-Nb-Error-Count`` (the report's
  ``error_count``, ``+`` appended when ``truncated``), ``...-Nb-Nbformat``
  (e.g. ``4.5``), ``...-Nb-Schema`` (schema file used) and, for an invalid
  notebook, ``...-Nb-First-Error``. ``_nbcommon`` defines these keys and
  ``_nbcommon.parse_stamp`` reads them back as the typed verdict
  (``valid: true|false|null``, ``error_count: int``). Never changes or loses
  the data, even for input that is not a notebook at all.
- ``format=json`` (default) or ``format=html`` (report mode): the report as
  JSON or as a small HTML page (:func:`render_html`); error documents stay JSON.
- ``max_errors`` (default 50): errors listed in a report.
- ``max_bytes`` (default and ceiling 64 MiB) and ``max_seconds`` (default and ceiling
  30): the budgets. A larger input gets a ``too_large`` result (report) or
  ``Nb-Valid: unknown`` (stamp) without being read past the budget.

The verdict equals ``nbformat.validate`` on a copy of the notebook (see
``_nbschema``). Input that cannot be checked (truncated JSON, bytes that are
not UTF-8, JSON that is not a notebook, an unknown nbformat version) gives a
JSON error document ``{"error", "detail"}`` in report mode, and in both modes
``Nb-Valid: no`` plus ``Nb-Error``/``Nb-Error-Detail`` metadata.
"""

try:
    import _nbcommon
    import _nbschema
except ImportError:  # imported from the repository (local harness, tests)
    from storlets_apps import _nbcommon, _nbschema

# _nbschema.py declares the schemas and fastjsonschema.zip it needs itself.
STORLET_DEPENDENCIES = {
    "_nbcommon.py": "repo:_nbcommon.py",
    "_nbschema.py": "repo:_nbschema.py",
}

MODES = ("report", "stamp")
FORMATS = ("json", "html")
# Report keys shown as facts on the HTML page, in this order (server-side
# reports and error documents have a subset).
HTML_FACTS = ("nbformat", "nbformat_minor", "schema", "error_count", "truncated",
              "error", "detail")
HTML_STYLE = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
              "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}"
              "td{font-family:monospace;white-space:pre-wrap}")
# Problems that mean "not checked" rather than "checked and invalid".
UNCHECKED = ("too_large", "time_budget_exceeded", "bad_parameter", "dependency_missing",
             "internal_error", "out_of_memory")


def verdict_metadata(report):
    """Metadata keys for a report (Swift prefixes them with X-Object-Meta-)."""
    return _nbcommon.stamp_metadata(report)


def complete_stamp(md, input_md):
    """A COPY keeps the source's metadata, so a key of an older verdict that this
    one does not set is overwritten (emptied); keys the input lacks are not
    added (they would cost SBus bytes in every listing)."""
    md = dict(md)
    present = {key.lower() for key in input_md}
    for key in _nbcommon.STAMP_KEYS:
        if key not in md and key.lower() in present:
            md[key] = "storlet" if key == _nbcommon.VALIDATED_BY else ""
    return md


def problem_metadata(problem, stamp=False):
    md = _nbcommon.error_metadata(problem.code, problem.detail)
    if stamp:  # the bytes are the input's: keep its content type
        del md["Content-Type"]
    md[_nbcommon.VALID] = _nbcommon.VALID_WORDS[None if problem.code in UNCHECKED else False]
    return md


def validate_bytes(data, max_errors, budget):
    """The report for notebook bytes; raises NotebookProblem for unreadable input."""
    nb = _nbcommon.parse_notebook(data)
    budget.check()
    return _nbschema.check(nb, max_errors=max_errors, budget=budget)


def _html_error_rows(errors):
    esc = _nbcommon.html_text
    rows = []
    for error in errors:
        path, message = (error.get("path"), error.get("message")) if isinstance(
            error, dict) else ("", error)
        rows.append("<tr><td>%s</td><td>%s</td></tr>" % (esc(path or "notebook"), esc(message)))
    return "".join(rows)


def render_html(report):
    """A report (or error document) as a page; every value goes through html_text.

    Paths and messages quote the notebook (keys, values), so nothing is trusted.
    Also used by swiftcontents for its ``?format=html`` endpoint.
    """
    esc = _nbcommon.html_text
    facts = "".join("<li>%s: %s</li>" % (esc(key), esc(report[key]))
                    for key in HTML_FACTS if key in report)
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>"
             "<title>Notebook validation</title><style>%s</style></head><body>" % HTML_STYLE,
             "<h1>%s</h1><ul>%s</ul>" % ("valid" if report.get("valid") is True else "invalid",
                                         facts)]
    errors = report.get("errors")
    if isinstance(errors, list) and errors:
        parts.append("<table><tr><th>path</th><th>message</th></tr>%s</table>"
                     % _html_error_rows(errors))
    warnings = report.get("warnings")
    if isinstance(warnings, list) and warnings:
        parts.append("<p>Warnings:</p><ul>%s</ul>"
                     % "".join("<li>%s</li>" % esc(w) for w in warnings))
    parts.append("</body></html>\n")
    return "".join(parts)


class ValidateStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        if params.get("mode") == "stamp":
            self._stamp(in_files, out_files, params)
        else:
            _nbcommon.run_guarded(
                self.logger, in_files, out_files, lambda: self._report(in_files[0], params),
                params)

    def _report(self, in_file, params):
        _nbcommon.choice_param(params, "mode", MODES, "report")
        fmt = _nbcommon.choice_param(params, "format", FORMATS, "json")
        budget = _nbcommon.Budget.from_params(params)
        max_errors = _nbcommon.int_param(
            params, "max_errors", _nbschema.DEFAULT_MAX_ERRORS, 1, 10000)
        try:
            report = validate_bytes(_nbcommon.read_input(in_file, budget), max_errors, budget)
        except _nbcommon.NotebookProblem as problem:
            md = problem_metadata(problem)
            return md, _nbcommon.error_document(problem.code, problem.detail)
        md = verdict_metadata(report)
        if fmt == "html":
            md["Content-Type"] = "text/html; charset=utf-8"
            return md, render_html(report).encode("utf-8")
        md["Content-Type"] = _nbcommon.JSON_TYPE
        return md, _nbcommon.json_body(report)

    def _stamp(self, in_files, out_files, params):
        """Pass the bytes through unchanged whatever happens; verdict in metadata."""
        in_file, out = in_files[0], out_files[0]
        try:  # outside the guarded block: the drain below needs a budget
            budget, param_problem = _nbcommon.Budget.from_params(params), None
        except _nbcommon.NotebookProblem as problem:
            budget, param_problem = _nbcommon.Budget(), problem
        try:
            chunks, complete = _nbcommon.read_upto(in_file, budget.max_bytes)
            try:
                if param_problem is not None:
                    raise param_problem
                if not complete:
                    raise _nbcommon.NotebookProblem(
                        "too_large", "larger than max_bytes=%d: not checked" % budget.max_bytes)
                # The report's own max_errors: the stamp's count equals /validate's.
                md = verdict_metadata(validate_bytes(
                    b"".join(chunks), _nbschema.DEFAULT_MAX_ERRORS, budget))
            except _nbcommon.NotebookProblem as problem:
                md = problem_metadata(problem, stamp=True)
            except Exception as exc:  # never lose the data over a bug here
                self.logger.error("stamp failed: %s" % _nbcommon.header_safe(exc))
                md = problem_metadata(
                    _nbcommon.NotebookProblem("internal_error", str(exc)), stamp=True)
            out.set_metadata(complete_stamp(md, in_file.get_metadata()))
            for chunk in chunks:
                out.write(chunk)
            if not complete:
                self._copy_rest(in_file, out)
        finally:
            try:
                _nbcommon.close_inputs(in_files, budget)  # e.g. after a failed write
            finally:
                out.close()

    @staticmethod
    def _copy_rest(in_file, out):
        while True:
            chunk = in_file.read(_nbcommon.READ_CHUNK)
            if not chunk:
                return
            out.write(chunk)
