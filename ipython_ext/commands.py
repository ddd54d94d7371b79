"""What each magic does, given its parsed arguments.

The ``Magics`` class only declares arguments and calls these; here parsing
helpers, Swift calls, local runs and result objects are put together.
"""
from __future__ import annotations

import contextlib
import dataclasses
import getpass
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, MutableMapping

from IPython.core.error import StdinNotImplementedError

from swiftproto import (ParameterError, names_parameter, read_private_text, run_headers,
                        secret_variable)

from . import local, swiftio
from .errors import StorletMagicError
from .parsing import (SECRET_HOW, SwiftPath, check_variable_name, local_file,
                      parse_dependencies, parse_input, parse_module_class, parse_param_pairs,
                      parse_range, parse_swift_path, params_from_namespace,
                      refuse_secret_settings, split_container_object, storlet_object_name,
                      PATH_PREFIX)
from .progress import Reporter, reporter_for
from .render import error_message
from .result import StorletLog, StorletResult, StorletTable

LISTING_STORLET = "nblisting.py"  # its rows are named by the ``names`` parameter


@dataclasses.dataclass
class Context:
    """What commands need from the shell: its namespace, a Swift session, output kind."""

    user_ns: MutableMapping[str, Any]
    session: swiftio.Session
    html: bool = False
    print: Callable[[str], None] = print

    def swift(self, action: str) -> Any:
        return swiftio.swift_errors(action, self.session)

    def progress(self, label: str) -> Callable[[int], Reporter | None]:
        return lambda total: reporter_for(label, total, html=self.html)


@dataclasses.dataclass(frozen=True)
class Invocation:
    """Options shared by the invoking magics."""

    params: dict[str, str]
    extra: tuple[SwiftPath, ...]
    byte_range: str | None
    run_on_proxy: bool
    log: bool

    def headers(self, storlet: str) -> dict[str, str]:
        try:
            return run_headers(storlet, self.params, extra=self.extra,
                               byte_range=self.byte_range, on_proxy=self.run_on_proxy,
                               generate_log=self.log)
        except ParameterError as exc:  # a user mistake: one line, nothing sent
            raise StorletMagicError(str(exc)) from None


def invocation(args: Any, user_ns: MutableMapping[str, Any]) -> Invocation:
    params = params_from_namespace(user_ns, args.i) if getattr(args, "i", None) else {}
    params.update(parse_param_pairs(getattr(args, "param", None)))
    extra = tuple(parse_swift_path(e, "--extra") for e in getattr(args, "extra", None) or ())
    return Invocation(params=params, extra=extra, byte_range=parse_range(getattr(args, "range", None)),
                      run_on_proxy=bool(getattr(args, "run_on_proxy", False)),
                      log=bool(getattr(args, "log", False)))


def with_listing_names(inv: Invocation, storlet: str, source: SwiftPath) -> Invocation:
    """The listing storlet cannot see its inputs' names: send them as ``names``.

    Object names, or ``container/object`` when the inputs span containers; a
    ``names`` the user gave wins.
    """
    if storlet != LISTING_STORLET or "names" in inv.params:
        return inv
    paths = (source, *inv.extra)
    one_container = len({p.container for p in paths}) == 1
    names = [p.obj if one_container else f"{p.container}/{p.obj}" for p in paths]
    return dataclasses.replace(inv, params={**inv.params, "names": names_parameter(names)})


def output_name(args: Any, required: bool = False) -> str | None:
    if args.o is None and not required:
        return None
    return check_variable_name(args.o, "-o")


def deliver(ctx: Context, result: StorletResult, name: str | None) -> StorletResult | None:
    """Store the result (if ``-o``), then fail on a storlet error document."""
    if name:
        ctx.user_ns[name] = result
    error = error_message(result.headers)
    if error:
        kept = f"; the result is in {name}" if name else ""
        raise StorletMagicError(
            f"storlet {result.storlet} reported an error on {result.action} {result.target}: "
            f"{error} (status {result.status}, transaction {result.transaction_id or 'local'}){kept}",
            status=result.status, transaction_id=result.transaction_id)
    return None if name else result


def log_baseline(ctx: Context, storlet: str, inv: Invocation | None) -> str | None:
    """The stored log before an invocation with --log (the engine appends to it)."""
    if inv is None or not inv.log:
        return None
    with ctx.swift(f"reading the log of {storlet}"):
        return swiftio.read_log(ctx.session.connection(), storlet) or ""


def attach_log(ctx: Context, result: StorletResult, baseline: str | None) -> None:
    """Attach what the storlet logged during this invocation (``--log``)."""
    if baseline is None:
        return
    result.content  # the engine stores the log once the storlet is done
    with ctx.swift(f"reading the log of {result.storlet}"):
        text = swiftio.read_log(ctx.session.connection(), result.storlet)
    if text is None:
        ctx.print(f"No log was stored for {result.storlet}: the cluster's storlets middleware "
                  "needs the X-Storlet-Generate-Log fix (see the ipython_ext docs).")
        return
    # The log file grows per node; keep only the new part when it is the same file.
    new = text[len(baseline):] if baseline and text.startswith(baseline) else text
    result.log = StorletLog.of(new, result.storlet)


def check_stored_output(ctx: Context, result: StorletResult, dest: SwiftPath) -> None:
    """PUT/COPY outputs carry a storlet's error in the stored object's metadata."""
    with ctx.swift(f"checking {dest}"):
        result.headers.update(swiftio.stored_error(ctx.session.connection(), dest))


# -- magics -------------------------------------------------------------------

def storletapp(ctx: Context, args: Any, cell: str) -> StorletResult | None:
    module, _ = parse_module_class(args.module_class)
    name = f"{module}.py"
    dependencies = parse_dependencies(args.dependencies)
    out = output_name(args)
    if not (args.with_invoke or args.local) and (args.input or out):
        raise StorletMagicError("--input and -o need --with-invoke (run in Swift) or --local")
    if args.local:
        def load(directory: Path) -> tuple[str, str]:
            if dependencies:  # nothing to fetch: no Swift connection, no credentials needed
                swiftio.fetch_dependencies(ctx.session.connection(), dependencies, directory)
            return cell, args.module_class
        result = run_local(ctx, parse_input(args.input), invocation(args, ctx.user_ns), name, load)
        return present(ctx, args, result, out)
    if args.with_invoke and not args.input:
        raise StorletMagicError("--with-invoke needs --input path:/<container>/<object> to run the app")
    inv = invocation(args, ctx.user_ns) if args.with_invoke else None
    source = parse_swift_path(args.input) if args.with_invoke else None
    with ctx.swift(f"uploading storlet /{args.container}/{name}"):
        swiftio.upload_storlet(ctx.session.connection(), cell, name=name,
                               main_class=args.module_class, dependencies=dependencies,
                               container=args.container)
    ctx.print(f"Upload storlets succeeded /{args.container}/{name}")
    ctx.print(f"Example command `swift download <container> <object> -H X-Run-Storlet:{name}`")
    if inv is None or source is None:
        return None
    result = invoke_get(ctx, source, inv, name)
    ctx.print("Invocation Complete")
    return present(ctx, args, result, out)


def present(ctx: Context, args: Any, result: StorletResult, out: str | None) -> StorletResult | None:
    """``--print-result`` prints the body; otherwise the result is stored or shown."""
    if args.print_result:
        ctx.print("Result Content:")
        ctx.print(result.text)
    shown = deliver(ctx, result, out)
    return None if args.print_result else shown


def run_local(ctx: Context, source: SwiftPath | Path, inv: Invocation, storlet: str,
              load: Callable[[Path], tuple[str, str]]) -> StorletResult:
    """Run a storlet in-process on a local file or a Swift object.

    ``load(directory)`` puts the storlet's dependencies in ``directory`` and
    returns its source and main class.
    """
    with tempfile.TemporaryDirectory(prefix="storlet-local-") as tmp:
        directory = Path(tmp)
        with ctx.swift(f"fetching {storlet} and the inputs for the local run"):
            code, main_class = load(directory)
            data, metadata = (source.read_bytes(), {}) if isinstance(source, Path) \
                else read_with_metadata(ctx, source)
            extra = [read_with_metadata(ctx, p) for p in inv.extra]
        return local.run(code, main_class, local.apply_range(data, inv.byte_range),
                         params=inv.params, metadata=metadata, extra=extra,
                         dependencies_dir=directory, storlet=storlet, target=str(source))


def read_with_metadata(ctx: Context, path: SwiftPath) -> tuple[bytes, dict[str, str]]:
    headers, body = swiftio.read_object(ctx.session.connection(), path)
    prefix = "x-object-meta-"
    return body, {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)}


@contextlib.contextmanager
def running(ctx: Context, storlet: str, what: str) -> Iterator[None]:
    """Swift errors of a storlet invocation, with a missing storlet named as such.

    The storlets middleware answers 401 ("either the storlet does not exist or
    you are not authorized") when its HEAD of the storlet fails; only then is
    the storlet looked up, so that a misspelt name is not blamed on credentials.
    """
    try:
        with ctx.swift(f"running {storlet} on {what}"):
            yield
    except StorletMagicError as exc:
        if exc.status != 401 or not is_missing(ctx, storlet):
            raise
        raise StorletMagicError(
            f"running {storlet} on {what} failed: {swiftio.missing_storlet(storlet)} "
            f"(the storlets middleware answered 401, transaction "
            f"{exc.transaction_id or 'unknown'})",
            status=exc.status, transaction_id=exc.transaction_id) from None


def is_missing(ctx: Context, storlet: str) -> bool:
    """True only when Swift says the storlet object is not there (404)."""
    try:
        with ctx.swift(f"looking up {storlet}"):
            return not swiftio.storlet_exists(ctx.session.connection(), storlet)
    except StorletMagicError:  # e.g. the credentials really are wrong
        return False


def invoke_get(ctx: Context, source: SwiftPath, inv: Invocation, storlet: str) -> StorletResult:
    baseline = log_baseline(ctx, storlet, inv)
    with running(ctx, storlet, f"GET {source}"):
        result = swiftio.invoke_get(ctx.session.connection(), source, inv.headers(storlet), storlet)
        result.peek()  # a storlet failure shows up now, not on a later read
    attach_log(ctx, result, baseline)
    return result


def get(ctx: Context, args: Any) -> StorletResult | None:
    out = output_name(args)
    storlet = required_storlet(args)
    source = parse_swift_path(args.input)
    inv = with_listing_names(invocation(args, ctx.user_ns), storlet, source)
    if args.local:
        def load(directory: Path) -> tuple[str, str]:
            return swiftio.fetch_storlet(ctx.session.connection(), storlet, directory)
        return deliver(ctx, run_local(ctx, source, inv, storlet, load), out)
    return deliver(ctx, invoke_get(ctx, source, inv, storlet), out)


def put(ctx: Context, args: Any) -> StorletResult | None:
    out = output_name(args)
    storlet = required_storlet(args)
    if args.input and args.input.startswith(PATH_PREFIX):
        raise StorletMagicError("%put uploads a local file: --input takes a local path "
                                "(use %copy for path:/<container>/<object>)")
    local_path = local_file(args.input)
    dest = parse_swift_path(args.output, "--output")
    return run_stored(ctx, args, storlet, dest, out, f"PUT {dest}",
                      lambda conn, headers: swiftio.invoke_put(
                          conn, local_path, dest, headers, storlet,
                          progress=ctx.progress(f"PUT {dest}")))


def copy(ctx: Context, args: Any) -> StorletResult | None:
    out = output_name(args)
    storlet = required_storlet(args)
    source = parse_swift_path(args.input)
    dest = parse_swift_path(args.output, "--output")
    return run_stored(ctx, args, storlet, dest, out, f"COPY {source} to {dest}",
                      lambda conn, headers: swiftio.invoke_copy(
                          conn, source, dest, headers, storlet))


def run_stored(ctx: Context, args: Any, storlet: str, dest: Any, out: str | None, what: str,
               call: Callable[[Any, dict[str, str]], StorletResult]) -> StorletResult | None:
    """Run a storlet whose output Swift stores at ``dest`` (PUT, COPY); check it, attach its log."""
    inv = invocation(args, ctx.user_ns)
    baseline = log_baseline(ctx, storlet, inv)
    with running(ctx, storlet, what):
        result = call(ctx.session.connection(), inv.headers(storlet))
    check_stored_output(ctx, result, dest)
    attach_log(ctx, result, baseline)
    return deliver(ctx, result, out)


def required_storlet(args: Any) -> str:
    if not args.storlet:
        raise StorletMagicError("--storlet is required: add --storlet NAME.py (see %storlets)")
    return storlet_object_name(args.storlet)


def uploadfile(ctx: Context, args: Any, cell: str | None) -> None:
    target = args.container_obj
    path = (parse_swift_path(target, "target") if target.startswith(PATH_PREFIX)
            else split_container_object(target, "target"))
    if cell is None:
        source = local_file(args.local_file, "LOCAL_FILE")
        with ctx.swift(f"uploading {source.name} to {path}"):
            created = swiftio.ensure_container(ctx.session.connection(), path.container)
            swiftio.upload_file(ctx.session.connection(), path, source,
                                progress=ctx.progress(f"PUT {path}"))
        ctx.print(f"{created_note(created, path)}Uploaded {source} to {path} "
                  f"({source.stat().st_size} bytes)")
        return
    if args.local_file:
        raise StorletMagicError("%%uploadfile uploads the cell: give only container/object")
    with ctx.swift(f"uploading the cell to {path}"):
        created = swiftio.ensure_container(ctx.session.connection(), path.container)
        swiftio.upload_text(ctx.session.connection(), path, cell)
    ctx.print(f"{created_note(created, path)}Uploaded the cell to {path} "
              f"({len(cell.encode('utf-8'))} bytes)")


def created_note(created: bool, path: SwiftPath) -> str:
    return f"Created container {path.container}. " if created else ""


def storlets(ctx: Context, args: Any) -> StorletTable | None:
    with ctx.swift(f"listing container {args.container}"):
        table = StorletTable(swiftio.list_storlets(ctx.session.connection(), args.container),
                             args.container)
    if args.o:
        ctx.user_ns[check_variable_name(args.o)] = table
        return None
    return table


def storlet_log(ctx: Context, args: Any) -> StorletLog | None:
    storlet = storlet_object_name(args.storlet)
    with ctx.swift(f"reading the log of {storlet}"):
        text = swiftio.read_log(ctx.session.connection(), storlet, args.container)
    if text is None:
        raise StorletMagicError(
            f"no log stored for {storlet} in container {args.container!r}: "
            f"invoke it with --log first (e.g. %get --storlet {storlet} --input path:/c/o --log -o r)")
    log = StorletLog.of(text, storlet)
    if args.o:
        ctx.user_ns[check_variable_name(args.o)] = log
        return None
    return log


def storlet_auth(ctx: Context, args: Any, cell: str | None,
                 environ: MutableMapping[str, str] = os.environ) -> None:
    """Show who the magics authenticate as, after applying ``--env-file`` and the cell.

    The secret comes from the environment, the env file or ``getpass`` (asked
    when missing, or always with ``--ask``); never from the line or the cell,
    which the notebook and IPython's history keep.
    """
    changes: dict[str, str | None] = {}
    if args.env_file:
        with ctx.swift("reading --env-file"):
            changes.update(parse_env_lines(read_private_text(local_file(args.env_file,
                                                                        "--env-file"))))
    if cell:
        cell_changes = parse_env_lines(cell)
        refuse_secret_settings(cell_changes, "the %%storlet_auth cell")
        changes.update(cell_changes)
    apply_env(environ, changes)
    variable = secret_variable(environ)
    if variable and (args.ask or not environ.get(variable)):
        environ[variable] = ask_secret(variable, environ)
    ctx.session.close()
    with ctx.swift("authenticating"):
        conn = ctx.session.connection()
        url, _ = conn.get_auth()
    ctx.print(f"Swift: {ctx.session.settings.describe()}; storage URL {url}")


def apply_env(environ: MutableMapping[str, str], changes: dict[str, str | None]) -> None:
    for name, value in changes.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


def ask_secret(variable: str, environ: MutableMapping[str, str]) -> str:
    """The secret typed by the user: ``getpass`` neither echoes it nor records it.

    ``getpass.getpass`` is looked up now: ipykernel swaps in its own while a cell runs.
    """
    who = environ.get("ST_USER") or environ.get("OS_USERNAME") or "this account"
    try:
        value = getpass.getpass(f"{variable} for {who} (not echoed, not stored): ")
    except (EOFError, StdinNotImplementedError):
        raise StorletMagicError(
            f"{variable} is not set and this frontend cannot ask for it: {SECRET_HOW}") from None
    if not value:
        raise StorletMagicError(f"no {variable} given: {SECRET_HOW}")
    return value


def parse_env_lines(text: str) -> dict[str, str | None]:
    """``export K=V`` / ``K=V`` / ``unset K ...`` lines (the output of ``s2aio env``)."""
    changes: dict[str, str | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            raise StorletMagicError(f"line {number} of the environment text is not shell syntax") from None
        if not words:
            continue
        if words[0] == "unset":
            changes.update(dict.fromkeys(words[1:]))
            continue
        if words[0] == "export":
            words = words[1:]
        for word in words:
            name, sep, value = word.partition("=")
            if not sep or not name.isidentifier():
                raise StorletMagicError(
                    f"line {number}: expected export NAME=VALUE (the output of `s2aio env`)")
            changes[name] = value
    return changes
