"""nbformat schema validation with the official schemas (uploaded as a dependency).

Never deployed as a storlet (leading ``_``). Needs, beside it, the schema files
of the installed nbformat (``nbformat.v3.schema.json``, ``nbformat.v4.N.schema.json``
for N in 0..5, ``nbformat.v4.schema.json``) and ``fastjsonschema.zip``; see
its own literal ``STORLET_DEPENDENCIES``; a storlet that lists
``"_nbschema.py": "repo:_nbschema.py"`` gets them too (storlets-deploy follows
``repo:`` modules' declarations).

The verdict follows ``nbformat.validate`` exactly (nbformat's default
validator is fastjsonschema too):

- the version is ``nbformat``/``nbformat_minor`` (defaults 1/0); nbformat 3.0
  and 4.0-4.5 use their own schema, 4.6+ ("from the future") the latest schema
  with ``additionalProperties`` relaxed and unknown cell/output types allowed;
  any other version has no schema (an ``unknown_version`` problem);
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
except ImportError:  # imported from the repository (local harness, tests)
    from storlets_apps import _nbcommon

from_here = os.path.dirname(os.path.abspath(__file__))

SCHEMA_FILES = {
    (3, 0): "nbformat.v3.schema.json",
    (4, 0): "nbformat.v4.0.schema.json",
    (4, 1): "nbformat.v4.1.schema.json",
    (4, 2): "nbformat.v4.2.schema.json",
    (4, 3): "nbformat.v4.3.schema.json",
    (4, 4): "nbformat.v4.4.schema.json",
    (4, 5): "nbformat.v4.5.schema.json",
}
LATEST_V4_FILE = "nbformat.v4.schema.json"
LATEST_V4_MINOR = 5

# What this module needs beside it, read from the AST by storlets-deploy (a
# storlet listing "_nbschema.py" as a repo: dependency gets these too).
STORLET_DEPENDENCIES = {
    "_nbcommon.py": "repo:_nbcommon.py",
    "fastjsonschema.zip": "package:fastjsonschema",
    "nbformat.v3.schema.json": "file:nbformat/v3/nbformat.v3.schema.json",
    "nbformat.v4.0.schema.json": "file:nbformat/v4/nbformat.v4.0.schema.json",
    "nbformat.v4.1.schema.json": "file:nbformat/v4/nbformat.v4.1.schema.json",
    "nbformat.v4.2.schema.json": "file:nbformat/v4/nbformat.v4.2.schema.json",
    "nbformat.v4.3.schema.json": "file:nbformat/v4/nbformat.v4.3.schema.json",
    "nbformat.v4.4.schema.json": "file:nbformat/v4/nbformat.v4.4.schema.json",
    "nbformat.v4.5.schema.json": "file:nbformat/v4/nbformat.v4.5.schema.json",
    "nbformat.v4.schema.json": "file:nbformat/v4/nbformat.v4.schema.json",
}

DEFAULT_MAX_ERRORS = 50

_validators = {}


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


def _schema_file(major, minor):
    """(file name, relaxed) for a version, or an ``unknown_version`` problem."""
    if (major, minor) in SCHEMA_FILES:
        return SCHEMA_FILES[(major, minor)], False
    if major == 4 and minor > LATEST_V4_MINOR:
        return LATEST_V4_FILE, True
    raise _nbcommon.NotebookProblem(
        "unknown_version",
        "no schema for nbformat %s.%s; known versions are 3.0 and 4.0-4.%d (4.6+ is "
        "checked with the latest schema)" % (major, minor, LATEST_V4_MINOR))


def _load_schema(name):
    path = _nbcommon.dependency_path(name, from_here) or _installed_schema(name)
    if not path:
        raise _nbcommon.NotebookProblem(
            "dependency_missing",
            "schema %s was not found beside the storlet; redeploy with storlets-deploy" % name)
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def _installed_schema(name):
    """The schema inside an installed nbformat (local runs), without importing it."""
    import importlib.util
    spec = importlib.util.find_spec("nbformat")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for sub in ("v3", "v4"):
            path = os.path.join(root, sub, name)
            if os.path.exists(path):
                return path
    return None


def _relax(schema):
    """What nbformat does for notebooks from the future (4.6+)."""
    if isinstance(schema, dict):
        return {k: True if k == "additionalProperties" else _relax(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_relax(v) for v in schema]
    return schema


def _allow_undefined(schema):
    defs = schema["definitions"]
    defs["cell"]["oneOf"].append({"$ref": "#/definitions/unrecognized_cell"})
    defs["output"]["oneOf"].append({"$ref": "#/definitions/unrecognized_output"})
    return schema


def _schema(major, minor):
    name, relaxed = _schema_file(major, minor)
    schema = _load_schema(name)
    if relaxed:
        schema = _allow_undefined(_relax(schema))
    return name, schema


def validator(major, minor, ref=None):
    """(schema name, compiled validator) for a version and optional definition."""
    key = (major, minor, ref)
    if key not in _validators:
        name, schema = _schema(major, minor)
        if ref is not None:
            schema = {"definitions": schema["definitions"], "$ref": "#/definitions/" + ref}
        _validators[key] = (name, _fastjsonschema().compile(schema))
    return _validators[key]


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
    if isinstance(cells, list):
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
    for major, minor in SCHEMA_FILES:
        try:
            validator(major, minor)
        except Exception:  # reported at call time with the reason
            return


# Inside the engine (imported as the top-level module ``_nbschema``) the daemon
# imports once and forks per request: compile now so no request pays for it.
# Imported as ``storlets_apps._nbschema`` (a Jupyter server computing batches,
# tests) validators are compiled on first use instead.
if __name__ == "_nbschema":
    _precompile()
