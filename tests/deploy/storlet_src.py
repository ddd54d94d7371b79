"""Write small storlet modules for the deploy tests."""
from __future__ import annotations

import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APPS = REPO / "storlets_apps"

STORLET_TEMPLATE = '''\
"""A test storlet: writes PREFIX then its input."""
{deps}

PREFIX = {prefix!r}


class {cls}(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out = out_files[0]
        out.set_metadata({{}})
        out.write(PREFIX)
        {body}
        out.write(in_files[0].read())
        in_files[0].close()
        out.close()
'''


def write_storlet(directory: Path, module: str, *, cls: str = "Probe", prefix: bytes = b"v1:",
                  deps: dict[str, str] | None = None, body: str = "pass") -> Path:
    """Write a small storlet module into ``directory``; returns its path."""
    text = STORLET_TEMPLATE.format(
        deps=f"STORLET_DEPENDENCIES = {deps!r}" if deps else "", prefix=prefix, cls=cls,
        body=textwrap.indent(body, " " * 8).lstrip())
    path = directory / f"{module}.py"
    path.write_text(text)
    return path
