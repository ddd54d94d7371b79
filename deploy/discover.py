"""Find storlets in a source directory by reading their AST (never importing).

A storlet is a top-level ``*.py`` file whose name does not start with ``_`` and
that defines a class with ``__call__(self, in_files, out_files, params)``. Its
main class is ``module.Class`` (the form the storlets engine validates). A
module may declare its dependencies as a module-level literal::

    STORLET_DEPENDENCIES = {"fastjsonschema.zip": "package:fastjsonschema",
                            "_nbcommon.py": "repo:_nbcommon.py"}

Everything here is pure: it reads files and returns values.
"""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path, PurePosixPath

from swiftproto import UnsafeNameError, check_engine_name

from .errors import DeployError

__all__ = ["StorletSpec", "DEPENDENCY_KINDS", "find_storlets", "parse_storlet",
           "parse_dependency_spec", "storlet_classes"]

DEPENDENCIES_NAME = "STORLET_DEPENDENCIES"
DEPENDENCY_KINDS = ("package", "file", "repo", "derived")
CALL_ARGS = ("self", "in_files", "out_files", "params")


@dataclasses.dataclass(frozen=True)
class StorletSpec:
    """One storlet found in the source directory."""

    name: str          # object name in the storlet container, e.g. "identity.py"
    path: Path
    main_class: str    # "identity.IdentityStorlet"
    dependencies: dict[str, str] = dataclasses.field(default_factory=dict)  # object name -> spec


def _is_storlet_call(node: ast.AST) -> bool:
    if not (isinstance(node, ast.FunctionDef) and node.name == "__call__"):
        return False
    args = node.args
    names = tuple(a.arg for a in args.posonlyargs + args.args)
    return names == CALL_ARGS


def _storlet_classes(tree: ast.Module) -> list[str]:
    return [node.name for node in tree.body
            if isinstance(node, ast.ClassDef) and any(_is_storlet_call(n) for n in node.body)]


def _parse(source: bytes, label: str) -> ast.Module:
    try:
        return ast.parse(source, filename=label)
    except SyntaxError as exc:
        raise DeployError(f"{label}: syntax error at line {exc.lineno}: {exc.msg}") from None


def storlet_classes(source: bytes, label: str = "<storlet>") -> list[str]:
    """Names of the top-level classes in ``source`` that look like storlets."""
    return _storlet_classes(_parse(source, label))


def _dependencies_literal(tree: ast.Module, path: Path) -> dict[str, str]:
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not any(isinstance(t, ast.Name) and t.id == DEPENDENCIES_NAME for t in targets):
            continue
        try:
            deps = ast.literal_eval(value)
        except ValueError:
            raise DeployError(f"{path.name}: {DEPENDENCIES_NAME} must be a literal dict "
                              "of str to str (it is read without importing the module)") from None
        if not (isinstance(deps, dict) and all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in deps.items())):
            raise DeployError(f"{path.name}: {DEPENDENCIES_NAME} must be a dict of str to str")
        return deps
    return {}


def parse_dependency_spec(spec: str) -> tuple[str, str]:
    """Split ``kind:target`` and check it; raise DeployError if malformed."""
    kind, sep, target = spec.partition(":")
    if not sep or kind not in DEPENDENCY_KINDS or not target:
        raise DeployError(f"bad dependency spec {spec!r}: use one of "
                          + ", ".join(f"{k}:..." for k in DEPENDENCY_KINDS))
    if kind == "package":
        if not all(part.isidentifier() for part in target.split(".")):
            raise DeployError(f"bad dependency spec {spec!r}: {target!r} is not a package name")
    elif kind == "derived":
        if not target.replace("-", "_").isidentifier():
            raise DeployError(f"bad dependency spec {spec!r}: {target!r} is not a derivation name")
    else:
        rel = PurePosixPath(target)
        if rel.is_absolute() or ".." in rel.parts or target.startswith("\\"):
            raise DeployError(f"bad dependency spec {spec!r}: the path must be relative "
                              "and stay inside its package or source directory")
        if kind == "file" and len(rel.parts) < 2:
            raise DeployError(f"bad dependency spec {spec!r}: use file:PACKAGE/RELATIVE/PATH")
    return kind, target


def _check_dependency_name(name: str, storlet: str) -> None:
    # Dependencies are copied beside the storlet module: a flat, plain file
    # name that the engine can join into a host path safely.
    try:
        check_engine_name(name, "dependency name")
    except UnsafeNameError as exc:
        raise DeployError(f"{storlet}: {exc}") from None
    if "," in name or name == storlet:
        raise DeployError(f"{storlet}: bad dependency name {name!r} (no ',', not the "
                          "storlet's own name)")


def with_transitive_dependencies(deps: dict[str, str], source_dir: Path) -> dict[str, str]:
    """``deps`` plus what each ``repo:*.py`` dependency declares in its own
    ``STORLET_DEPENDENCIES`` (recursively): a shared helper module lists what it
    needs once, instead of every storlet that imports it."""
    result = dict(deps)
    pending = [spec for spec in deps.values()]
    seen: set[str] = set()
    while pending:
        spec = pending.pop()
        kind, target = parse_dependency_spec(spec)
        if kind != "repo" or not target.endswith(".py") or target in seen:
            continue
        seen.add(target)
        module = source_dir / target
        if not module.is_file():
            continue  # reported when the dependency itself is built
        for name, sub in _dependencies_literal(_parse(module.read_bytes(), target), module).items():
            if result.setdefault(name, sub) != sub:
                raise DeployError(f"{target}: dependency {name!r} is declared as both "
                                  f"{result[name]!r} and {sub!r}")
            pending.append(sub)
    return result


def parse_storlet(path: Path) -> StorletSpec | None:
    """The storlet defined in ``path``, or None if the module has no storlet class."""
    path = Path(path)
    if path.suffix != ".py" or path.name.startswith("_"):
        return None
    tree = _parse(path.read_bytes(), path.name)
    classes = _storlet_classes(tree)
    if not classes:
        return None
    if len(classes) > 1:
        raise DeployError(f"{path.name}: several storlet classes ({', '.join(classes)}); "
                          "keep one class with __call__(self, in_files, out_files, params) per module")
    module = path.stem
    if not module.isidentifier():
        raise DeployError(f"{path.name}: the module name must be a Python identifier")
    deps = with_transitive_dependencies(_dependencies_literal(tree, path), path.parent)
    for dep_name, spec in deps.items():
        _check_dependency_name(dep_name, path.name)
        parse_dependency_spec(spec)
    return StorletSpec(name=path.name, path=path, main_class=f"{module}.{classes[0]}",
                       dependencies=deps)


def find_storlets(source_dir: Path) -> list[StorletSpec]:
    """Every storlet in ``source_dir`` (top level only), sorted by name."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise DeployError(f"source directory {source_dir} does not exist or is not a directory")
    specs = [parse_storlet(p) for p in sorted(source_dir.glob("*.py")) if p.is_file()]
    return [s for s in specs if s is not None]
