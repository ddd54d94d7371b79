"""IPython magics for OpenStack Storlets: ``%load_ext ipython_ext``.

Deploy a storlet written in a cell (``%%storletapp module.Class``), run
storlets on GET/PUT/COPY (``%get``, ``%put``, ``%copy``), list them
(``%storlets``), read their logs (``%storlet_log``), upload cells or files
(``%%uploadfile``). Auth comes from the environment (``ST_*``, ``OS_*``, a
storage URL + token); ``%storlet_auth --env-file FILE`` loads ``s2aio env``
output and ``%storlet_auth --ask`` asks for the secret with ``getpass``. A key
never goes into a magic's line or a cell: the notebook and IPython's history
keep both.

Storlet logs: ``--log`` sends ``X-Storlet-Generate-Log: True`` and reads the
log object from the ``log`` container. Stock storlets 18.0.0 answers 503 to
that header: ``SwiftFileManager._put_object`` in
``storlets/swift_middleware/handlers/base.py`` calls
``upload_object(fobj, account, container, headers)`` without the object name.
s2aio's gateway stores the log itself; a production cluster needs that call
fixed to ``upload_object(fobj, self.account, container, obj, headers)`` on its
proxy and object nodes. The log object is ``<storlet>.log`` (``identity.py.log``).

Errors: everything raises ``StorletMagicError`` (a ``UsageError``), shown as
one line without a traceback.
"""
from __future__ import annotations

from typing import Any

from .errors import StorletMagicError
from .magics import StorletMagics
from .result import StorletLog, StorletResult, StorletTable

__all__ = ["StorletMagicError", "StorletMagics", "StorletResult", "StorletTable", "StorletLog",
           "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(StorletMagics(ipython))


def unload_ipython_extension(ipython: Any) -> None:
    magics = ipython.magics_manager.registry.pop("StorletMagics", None)
    if magics is not None:
        magics.session.close()
        for kind, names in magics.magics.items():
            for name in names:
                ipython.magics_manager.magics[kind].pop(name, None)
