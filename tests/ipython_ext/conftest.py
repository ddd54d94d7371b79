"""Fixtures for the IPython extension's tests: a real shell with the extension."""
from __future__ import annotations

import uuid

import pytest

AUTH_VARS = ("ST_AUTH", "ST_USER", "ST_KEY", "OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD",
             "OS_PROJECT_NAME", "OS_AUTH_TOKEN", "OS_STORAGE_URL", "ST_AUTH_TOKEN",
             "ST_STORAGE_URL")

# A storlet written in a cell: upper-cases all its inputs, appends ``suffix``,
# reports an error document with fail=1 and raises with raise=1.
UPPER = '''\
class UpperStorlet(object):
    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        out = out_files[0]
        self.logger.info("upper: %d input(s)" % len(in_files))
        if params.get("raise") == "1":
            raise RuntimeError("asked to fail")
        md = {"Upper": "yes"}
        if params.get("fail") == "1":
            md["Nb-Error"] = "asked"
            md["Nb-Error-Detail"] = "asked to report an error"
        out.set_metadata(md)
        for f in in_files:
            out.write(f.read().upper())
            f.close()
        out.write(params.get("suffix", "").encode())
        out.close()
'''


@pytest.fixture(scope="module")
def ip():
    """IPython's test shell (a real InteractiveShell) with the extension loaded."""
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    shell.run_line_magic("load_ext", "ipython_ext")
    yield shell
    shell.run_line_magic("unload_ext", "ipython_ext")


def clear_auth_env(monkeypatch, names=()) -> None:
    """Unset every auth variable (AUTH_VARS and ``names``) for this test. Each is
    recorded first, so what the magics set under these names is gone after it."""
    for name in (*AUTH_VARS, *names):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture
def auth(s2aio, monkeypatch) -> dict[str, str]:
    """The magics authenticate as test:tester through the environment."""
    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)
    env = s2aio.env("test")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def upper(ip, auth) -> str:
    """The cell storlet UpperStorlet deployed as upper.py (via %%storletapp)."""
    ip.run_cell_magic("storletapp", "upper.UpperStorlet", UPPER)
    return "upper.py"


@pytest.fixture
def obj(conn, container) -> str:
    """An object 'hello world' in a fresh container: its path: form."""
    name = f"in-{uuid.uuid4().hex[:6]}.txt"
    conn.put_object(container, name, b"hello world", headers={"X-Object-Meta-Color": "blue"})
    return f"path:/{container}/{name}"
