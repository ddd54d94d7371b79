"""nbformat schema validation with the official schemas (uploaded as a dependency).

Never deployed as a storlet (leading ``_``). Needs, beside it,
``nbformat-schemas.json`` and ``fastjsonschema.zip``; see its own literal
``STORLET_DEPENDENCIES``; a storlet that lists ``"_nbschema.py":
"repo:_nbschema.py"`` gets them too (storlets-deploy follows ``repo:`` modules'
declarations).

``nbformat-schemas.json`` is derived at deploy time by nbformat itself
(``derived:nbformat-schemas``, see ``deploy.dependencies``): for every version
nbformat knows, the schema its ``get_validator`` compiles, and for v4
notebooks "from the future" (a minor past nbformat's latest) the schema as
nbformat adjusts it (``additionalProperties`` relaxed, unknown cell and output
types allowed). Nothing of nbformat is re-created here, so the verdict follows
``nbformat.validate`` exactly (nbformat's default validator is fastjsonschema
too), for whichever nbformat storlets-deploy ran with:

- the version is ``nbformat``/``nbformat_minor`` (defaults 1/0); a known
  version uses its own schema, 4.N past the latest the adjusted one; any other
  version has no schema (an ``unknown_version`` problem);
- for 4.5+, missing and duplicate cell ids are repaired before validation, as
  nbformat does (reported as warnings, not errors).

fastjsonschema stops at the first error, so for an invalid notebook each cell
and the notebook without its cells are validated separately to report up to
``max_errors`` errors. Compiled validators are cached at module level and, inside
the engine, compiled at import: the storlet daemon imports the module once and
forks one process per invocation, so every invocation inherits them.
"""

import json
import os
import sys
import uuid

try:
    import _nbcommon
    _build_dependency = None
except ImportError:  # imported from the repository (local harness, tests, fallbacks)
    from storlets_apps import _nbcommon
    # Outside the engine a dependency missing beside this module is built by
    # storlets-deploy's own code: the bytes it would upload.
    from deploy.dependencies import build_dependency as _build_dependency

from_here = os.path.dirname(os.path.abspath(__file__))

SCHEMAS_FILE = "nbformat-schemas.json"
FUTURE_V4 = "4.future"  # the bundle's key for 4.N past nbformat's latest minor

# What this module needs beside it, read from the AST by storlets-deploy (a
# storlet listing "_nbschema.py" as a repo: dependency gets these too).
STORLET_DEPENDENCIES = {
    "_nbcommon.py": "repo:_nbcommon.py",
    "fastjsonschema.zip": "package:fastjsonschema",
    "nbformat-schemas.json": "derived:nbformat-schemas",
}

DEFAULT_MAX_ERRORS = 50

_validators = {}
_bundle = {}  # the parsed nbformat-schemas.json, loaded once (read-only)


def _fastjsonschema():
    """fastjsonschema from the uploaded zip if present, else as installed."""
    zip_path = _nbcommon.dependency_path("fastjsonschema.zip", from_here)
    if zip_path and zip_path not in sys.path:
        sys.path.insert(0, zip_path)
    try:
        import fastjsonschema
    except ImportError:
        raise _nbcommon.NotebookProblem(
            "dependency_missing",
            "fastjsonschema.zip was not found beside the storlet; redeploy with storlets-deploy")
    return fastjsonschema


def _schemas():
    """``nbformat-schemas.json``: {nbformat, latest_v4_minor, schemas: {"4.5": {name, schema}}}."""
    if not _bundle:
        _bundle.update(json.loads(_bundle_bytes().decode("utf-8")))
    return _bundle


def _bundle_bytes():
    path = _nbcommon.dependency_path(SCHEMAS_FILE, from_here)
    if path:
        with open(path, "rb") as f:
            return f.read()
    if _build_dependency is not None:
        try:
            return _build_dependency(
                SCHEMAS_FILE, STORLET_DEPENDENCIES[SCHEMAS_FILE], from_here).data
        except Exception as exc:  # a DeployError: nbformat is not installed here
            raise _nbcommon.NotebookProblem("dependency_missing", str(exc))
    raise _nbcommon.NotebookProblem(
        "dependency_missing",
        "%s was not found beside the storlet; redeploy with storlets-deploy" % SCHEMAS_FILE)


def _schema_key(major, minor):
    """The bundle's key for a version, or an ``unknown_version`` problem."""
    bundle = _schemas()
    key = "%s.%s" % (major, minor)
    if key in bundle["schemas"] and key != FUTURE_V4:
        return key
    if major == 4 and minor > bundle["latest_v4_minor"]:
        return FUTURE_V4
    known = sorted(k for k in bundle["schemas"] if k != FUTURE_V4)
    raise _nbcommon.NotebookProblem(
        "unknown_version",
        "no schema for nbformat %s.%s; known versions are %s (4.%d+ is checked with "
        "the latest schema, as nbformat does)"
        % (major, minor, ", ".join(known), bundle["latest_v4_minor"] + 1))


def _schema(major, minor):
    """(schema name, schema) for a version."""
    entry = _schemas()["schemas"][_schema_key(major, minor)]
    return entry["name"], entry["schema"]


def validator(major, minor, ref=None):
    """(schema name, compiled validator) for a version and optional definition."""
    return _compiled(_schema_key(major, minor), ref)


def _compiled(key, ref=None):
    if (key, ref) not in _validators:
        entry = _schemas()["schemas"][key]
        schema = entry["schema"]
        if ref is not None:
            schema = {"definitions": schema["definitions"], "$ref": "#/definitions/" + ref}
        _validators[(key, ref)] = (entry["name"], _fastjsonschema().compile(schema))
    return _validators[(key, ref)]


def _repair_cell_ids(nb):
    """Fill missing and duplicate cell ids in place as nbformat does; warnings."""
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return []
    warnings = []
    seen = set()
    for index, cell in enumerate(cells):
        if isinstance(cell, dict) and "id" not in cell:
            cell["id"] = uuid.uuid4().hex[:12]
            warnings.append("cells[%d] has no id (nbformat 4.5+ fills one in)" % index)
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        cell_id = cell["id"]
        if isinstance(cell_id, (str, int, float, bool)) and cell_id in seen:
            cell["id"] = uuid.uuid4().hex[:12]
            warnings.append("cells[%d] repeats id %r (nbformat renames it)" % (index, cell_id))
        if isinstance(cell_id, (str, int, float, bool)):
            seen.add(cell_id)
    return warnings


def _error(exc, prefix):
    """{path, message} from a fastjsonschema error; paths like ``cells[2].source``."""
    name = getattr(exc, "name", "data") or "data"
    path = prefix + name[len("data"):] if name.startswith("data") else prefix + name
    path = path.lstrip(".")
    message = str(getattr(exc, "message", exc))
    if name in message:
        message = message.replace(name, path or "notebook", 1)
    return {"path": path, "message": message}


def _cell_ref(cell, definitions):
    kind = cell.get("cell_type") if isinstance(cell, dict) else None
    if isinstance(kind, str) and (kind + "_cell") in definitions and kind != "unrecognized":
        return kind + "_cell"
    return "cell"


def _detailed_errors(nb, major, minor, first, max_errors, budget):
    """Errors per cell, then for the notebook without cells; (errors, truncated)."""
    exceptions = _fastjsonschema().JsonSchemaException
    _, schema = _schema(major, minor)
    errors = []
    cells = nb.get("cells")
    # Per-cell detail needs the schema's generic "cell" definition: nbformat 4 has it;
    # nbformat 3 keeps cells in worksheets and has none (a top-level "cells" there is
    # just an additional property), so its verdict is fastjsonschema's first error.
    if isinstance(cells, list) and "cell" in schema["definitions"]:
        for index, cell in enumerate(cells):
            _, check = validator(major, minor, _cell_ref(cell, schema["definitions"]))
            try:
                check(cell)
            except exceptions as exc:
                errors.append(_error(exc, "cells[%d]" % index))
                if len(errors) > max_errors:
                    return errors[:max_errors], True
            if budget is not None and index % 64 == 0:
                budget.check()
        shell = dict(nb)
        shell["cells"] = []
        try:
            validator(major, minor)[1](shell)
        except exceptions as exc:
            errors.insert(0, _error(exc, ""))
    if not errors:
        errors.append(first)
    return errors[:max_errors], len(errors) > max_errors


def check(nb, max_errors=DEFAULT_MAX_ERRORS, budget=None):
    """Validate a parsed notebook (mutates it: ids repaired as nbformat does).

    Returns ``{valid, nbformat, nbformat_minor, schema, error_count, errors,
    truncated, warnings}``; raises a problem for an unknown version.
    """
    major, minor = _nbcommon.notebook_version(nb)
    name, check_all = validator(major, minor)
    warnings = _repair_cell_ids(nb) if major == 4 and minor >= 5 else []
    report = {
        "valid": True, "nbformat": major, "nbformat_minor": minor, "schema": name,
        "error_count": 0, "errors": [], "truncated": False, "warnings": warnings[:max_errors],
    }
    try:
        check_all(nb)
    except _fastjsonschema().JsonSchemaException as exc:
        errors, truncated = _detailed_errors(
            nb, major, minor, _error(exc, ""), max_errors, budget)
        report.update(valid=False, errors=errors, error_count=len(errors), truncated=truncated)
    return report


def is_valid(nb):
    """The bare verdict (mutates ``nb`` like :func:`check`); unknown versions are invalid."""
    try:
        return check(nb, max_errors=1)["valid"]
    except _nbcommon.NotebookProblem:
        return False


def _precompile():
    try:
        for key in _schemas()["schemas"]:
            _compiled(key)
    except Exception:  # reported at call time with the reason
        return


# Inside the engine (imported as the top-level module ``_nbschema``) the daemon
# imports once and forks per request: compile now so no request pays for it.
# Imported as ``storlets_apps._nbschema`` (a Jupyter server computing batches,
# tests) validators are compiled on first use instead.
if __name__ == "_nbschema":
    _precompile()
