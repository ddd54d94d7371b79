"""The storlet magics: argument declarations only; ``commands`` does the work.

Names and options follow the upstream storlets extension (``%%storletapp``,
``%%uploadfile``, ``%get``, ``%put``, ``%copy``), so old notebooks keep
working; ``%storlets``, ``%storlet_log``, ``%storlet_auth``, ``--local`` and
the extra invocation options are new.
"""
from __future__ import annotations

from typing import Any, Callable

from IPython.core import magic_arguments as ma
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class

from . import commands
from .errors import StorletMagicError
from .parsing import refuse_secret_line
from .swiftio import LOG_CONTAINER, STORLET_CONTAINER, Session

PATH_HELP = 'a Swift object written "path:/<container>/<object>"'


def _invocation_options(func: Callable) -> Callable:
    """Options shared by the magics that run a storlet."""
    for decorator in reversed([
        ma.argument("-i", metavar="PARAMS_VAR",
                    help="name of a variable holding a dict of storlet parameters"),
        ma.argument("--param", action="append", metavar="KEY=VALUE",
                    help="a storlet parameter (repeatable; added to -i's)"),
        ma.argument("--extra", action="append", metavar="path:/c/o",
                    help="an extra input object for a multi-input storlet (repeatable)"),
        ma.argument("--range", metavar="FIRST-LAST",
                    help="run the storlet on these bytes of the input only (X-Storlet-Range)"),
        ma.argument("--run-on-proxy", action="store_true",
                    help="run the storlet on the proxy instead of the object server"),
        ma.argument("--log", action="store_true",
                    help="store the storlet's log and attach it to the result (.log)"),
    ]):
        func = decorator(func)
    return func


@magics_class
class StorletMagics(Magics):
    """Magics to deploy and run OpenStack Storlets from IPython."""

    def __init__(self, shell: Any = None, session: Session | None = None) -> None:
        super().__init__(shell)
        self.session = session or Session()

    def _context(self) -> commands.Context:
        kernel = type(self.shell).__name__ == "ZMQInteractiveShell"
        return commands.Context(user_ns=self.shell.user_ns, session=self.session, html=kernel)

    @ma.magic_arguments()
    @ma.argument("module_class", help="the storlet's module.Class; the cell is uploaded as module.py")
    @ma.argument("-c", "--container", default=STORLET_CONTAINER,
                 help='storlet container name, "storlet" by default')
    @ma.argument("-d", "--dependencies", default="",
                 help="comma-separated names of objects in the dependency container")
    @ma.argument("--with-invoke", action="store_true",
                 help="run the storlet after uploading it; requires --input")
    @ma.argument("--input", default="",
                 help=f"the input: {PATH_HELP} (with --local also a local file)")
    @ma.argument("--print-result", action="store_true",
                 help="print the result body (it may be large or binary)")
    @ma.argument("--local", action="store_true",
                 help="do not deploy: run the cell's storlet in-process on --input")
    @ma.argument("-o", metavar="RESULT_VAR", help="store the invocation result in this variable")
    @_invocation_options
    @cell_magic
    def storletapp(self, line: str, cell: str) -> Any:
        """Upload the cell as a Python storlet (and optionally run it)."""
        args = ma.parse_argstring(self.storletapp, line)
        return commands.storletapp(self._context(), args, cell)

    @ma.magic_arguments()
    @ma.argument("container_obj", help="container/object (or path:/container/object) to write")
    @ma.argument("local_file", nargs="?",
                 help="line form only: the local file to upload (with a progress bar if large)")
    @line_cell_magic
    def uploadfile(self, line: str, cell: str | None = None) -> None:
        """Upload the cell's text (cell form) or a local file (line form) to Swift."""
        args = ma.parse_argstring(self.uploadfile, line)
        commands.uploadfile(self._context(), args, cell)

    @ma.magic_arguments()
    @ma.argument("--input", help=f"the object to run the storlet on: {PATH_HELP}")
    @ma.argument("--storlet", help="the storlet object to run, e.g. identity.py")
    @ma.argument("-o", metavar="RESULT_VAR",
                 help="store the result (status, headers, iter_content(), content) in this "
                      "variable; without it the result is displayed")
    @ma.argument("--local", action="store_true",
                 help="fetch the deployed storlet and its dependencies and run them in-process")
    @_invocation_options
    @line_magic
    def get(self, line: str) -> Any:
        """Run a storlet on GET of an object."""
        return commands.get(self._context(), ma.parse_argstring(self.get, line))

    @ma.magic_arguments()
    @ma.argument("--input", help="the local file to upload through the storlet")
    @ma.argument("--output", help=f"where the storlet's output is stored: {PATH_HELP}")
    @ma.argument("--storlet", help="the storlet object to run, e.g. identity.py")
    @ma.argument("-o", metavar="RESULT_VAR",
                 help="store the result (status, headers) in this variable")
    @_invocation_options
    @line_magic
    def put(self, line: str) -> Any:
        """Upload a local file, transformed by a storlet on the way in."""
        return commands.put(self._context(), ma.parse_argstring(self.put, line))

    @ma.magic_arguments()
    @ma.argument("--input", help=f"the source object: {PATH_HELP}")
    @ma.argument("--output", help=f"the destination object: {PATH_HELP}")
    @ma.argument("--storlet", help="the storlet object to run, e.g. identity.py")
    @ma.argument("-o", metavar="RESULT_VAR",
                 help="store the result (status, headers) in this variable")
    @_invocation_options
    @line_magic
    def copy(self, line: str) -> Any:
        """Copy an object inside Swift, transformed by a storlet."""
        return commands.copy(self._context(), ma.parse_argstring(self.copy, line))

    @ma.magic_arguments()
    @ma.argument("-c", "--container", default=STORLET_CONTAINER, help="the storlet container")
    @ma.argument("-o", metavar="VAR", help="store the table in this variable instead of showing it")
    @line_magic
    def storlets(self, line: str) -> Any:
        """A table of the deployed storlets (name, main class, language, size, dependencies)."""
        return commands.storlets(self._context(), ma.parse_argstring(self.storlets, line))

    @ma.magic_arguments()
    @ma.argument("storlet", help="the storlet object name, e.g. identity.py")
    @ma.argument("-c", "--container", default=LOG_CONTAINER, help="the log container")
    @ma.argument("-o", metavar="VAR", help="store the log text in this variable")
    @line_magic
    def storlet_log(self, line: str) -> Any:
        """Show the log stored by the storlet's last run with --log."""
        return commands.storlet_log(self._context(), ma.parse_argstring(self.storlet_log, line))

    @ma.magic_arguments()
    @ma.argument("--env-file", metavar="FILE",
                 help="load `s2aio env` output (export NAME=VALUE lines) from FILE, which "
                      "group and others must not read (chmod 600)")
    @ma.argument("--ask", action="store_true",
                 help="ask for the key, password or token (no echo; kept only in this "
                      "process's environment); also asked when it is missing")
    @line_cell_magic
    def storlet_auth(self, line: str, cell: str | None = None) -> None:
        """Show the Swift identity in use (never the secret).

        The key, password or token comes from the environment, --env-file or
        --ask, never from this line or the cell: the notebook and IPython's
        history keep both. The cell form takes non-secret settings, e.g.
        ``export ST_AUTH=...`` and ``export ST_USER=...``.
        """
        refuse_secret_line(line, "%storlet_auth")
        try:
            args = ma.parse_argstring(self.storlet_auth, line)
        except UsageError:  # argparse quotes the arguments back: they may hold a secret
            raise StorletMagicError("%storlet_auth takes only --env-file FILE and --ask "
                                    "(see %storlet_auth?)") from None
        commands.storlet_auth(self._context(), args, cell)
