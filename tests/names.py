"""Object names that need quoting somewhere on the way to Swift or a storlet.

``%`` (the middleware URL-unquotes parameters), space (HTTP strips it at a
header's ends), ``&`` ``=`` ``#`` ``?`` ``+`` (URL syntax), non-ASCII (headers
are Latin-1 on the wire). Every path must give them back exactly.
"""
from __future__ import annotations

QUOTED_NAMES = ("a%41.ipynb", "b c&d=e.ipynb", "ünï ✓.ipynb", "x#y?z+w.ipynb")
