"""A real jupyter server on SwiftContentsManager + the swiftcontents extension, on s2aio."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import quote
from pathlib import Path
from typing import Iterator

import nbformat
import pytest

from tests.conftest import free_port
from tests.markup import (DIFF_TAGS, HOSTILE_NAME, LISTING_TAGS, SERVED_ATTRS, VALIDATION_TAGS,
                          assert_safe_html, assert_shows, hostile_bytes, hostile_version_bytes,
                          served)
from tests.names import QUOTED_NAMES

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, url: str, token: str, container: str) -> None:
        self.url, self.token, self.container = url, token, container

    def request(self, method: str, path: str, body: object = None, token: bool = True,
                headers: dict[str, str] | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + quote(path, safe="/?=&%"), data=data, method=method,
                                     headers=headers or {})
        if token:
            req.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def json(self, method: str, path: str, body: object = None):
        status, _, raw = self.request(method, path, body)
        assert status < 300, (status, raw[:500])
        return json.loads(raw) if raw else None


@contextlib.contextmanager
def jupyter_server_on_swift(s2aio, home: Path, container: str, extensions: dict[str, bool],
                            env: dict[str, str] | None = None,
                            args: tuple[str, ...] = ()) -> Iterator[Server]:
    """``jupyter server`` on SwiftContentsManager in ``container`` with ``extensions``,
    its token given through the environment (a command line is visible to every
    user); fails the test with its log when it does not start within 60 s."""
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, **s2aio.env("test"), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "PYTHONPATH": str(REPO), "JUPYTER_TOKEN": token, **(env or {})}
    cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}",
           "--ip=127.0.0.1", f"--ServerApp.root_dir={home}",
           "--ServerApp.contents_manager_class=swiftcontents.SwiftContentsManager",
           f"--SwiftContentsManager.container={container}",
           f"--ServerApp.jpserver_extensions={extensions!r}", *args]
    log_path = home / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    srv = Server(f"http://127.0.0.1:{port}", token, container)
    srv.log_path = log_path
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if srv.request("GET", "/api/status")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"jupyter server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(s2aio, deployed, tmp_path_factory):
    """``jupyter server`` exactly as the README launches it (plus a fixed token)."""
    with jupyter_server_on_swift(s2aio, tmp_path_factory.mktemp("jupyter"),
                                 f"srv-{uuid.uuid4().hex[:8]}", {"swiftcontents": True}) as srv:
        yield srv


def put_notebook(server: Server, path: str, markdown: list[str]) -> None:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "P"}})
    nb.cells = [nbformat.v4.new_markdown_cell(m) for m in markdown]
    server.json("PUT", f"/api/contents/{path}", {"type": "notebook", "content": nb})


def test_contents_api_is_served_from_swift(server, s2aio):
    server.json("PUT", "/api/contents/docs", {"type": "directory"})
    put_notebook(server, "docs/a.ipynb", ["# Alpha"])
    root = server.json("GET", "/api/contents")
    assert {e["name"] for e in root["content"]} == {"docs"}
    conn = s2aio.connection("test")
    _, objects = conn.get_container(server.container)
    conn.close()
    assert {o["name"] for o in objects} >= {"docs/", "docs/a.ipynb"}  # really in Swift
    status, _, _ = server.request("GET", "/api/contents", token=False)
    assert status == 403


def test_listing_endpoint(server):
    server.json("PUT", "/api/contents/lst", {"type": "directory"})
    put_notebook(server, "lst/one.ipynb", ["# One"])
    put_notebook(server, "lst/two é.ipynb", ["# Two", "text"])
    server.json("PUT", "/api/contents/lst/notes.txt", {"type": "file", "format": "text", "content": "x"})
    result = server.json("GET", "/api/swiftcontents/listing/lst")
    assert result["computed_by"] == "storlet" and result["path"] == "lst"
    rows = {r["name"]: r for r in result["notebooks"]}
    assert set(rows) == {"one.ipynb", "two é.ipynb"}
    assert rows["two é.ipynb"]["title"] == "Two" and rows["two é.ipynb"]["cells"]["markdown"] == 2
    status, headers, body = server.request("GET", "/api/swiftcontents/listing/lst?format=html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"one.ipynb" in body
    assert server.request("GET", "/api/swiftcontents/listing/missing")[0] == 404
    assert server.request("GET", "/api/swiftcontents/listing/lst", token=False)[0] == 403
    # pages: limit, and the next page from the 'next' marker
    first = server.json("GET", "/api/swiftcontents/listing/lst?limit=1")
    assert [r["name"] for r in first["notebooks"]] == ["one.ipynb"] and first["next"] == "one.ipynb"
    second = server.json("GET", "/api/swiftcontents/listing/lst?limit=1&marker=one.ipynb")
    assert [r["name"] for r in second["notebooks"]] == ["two é.ipynb"] and second["next"] is None
    assert server.request("GET", "/api/swiftcontents/listing/lst?limit=0")[0] == 400
    assert server.request("GET", "/api/swiftcontents/listing/lst?marker=a/b")[0] == 400


def as_diff_entries(diff: list[dict]) -> list:
    """JSON diff -> nbdime DiffEntry objects (what nbdime.patch expects)."""
    from nbdime.diff_format import DiffEntry

    return [DiffEntry(**{**e, "diff": as_diff_entries(e["diff"])} if "diff" in e else e)
            for e in diff]


def test_diff_endpoint_against_a_checkpoint(server):
    import nbdime

    put_notebook(server, "d.ipynb", ["first"])
    cp = server.json("POST", "/api/contents/d.ipynb/checkpoints", {})
    before = server.json("GET", "/api/contents/d.ipynb")["content"]
    put_notebook(server, "d.ipynb", ["first", "second"])
    after = server.json("GET", "/api/contents/d.ipynb")["content"]
    result = server.json("GET", f"/api/swiftcontents/diff/d.ipynb?checkpoint={cp['id']}&format=nbdime")
    assert result["computed_by"] == "storlet" and result["checkpoint"] == cp["id"]
    assert nbdime.patch(before, as_diff_entries(result["diff"])) == after  # nbdime applies it
    for fmt, ctype in (("text", "text/plain"), ("html", "text/html")):
        status, headers, body = server.request("GET", f"/api/swiftcontents/diff/d.ipynb?format={fmt}")
        assert status == 200 and headers["Content-Type"].startswith(ctype)
        assert headers["X-Swiftcontents-Computed-By"] == "storlet" and b"second" in body
    assert server.request("GET", "/api/swiftcontents/diff/d.ipynb?format=pdf")[0] == 400
    assert server.request("GET", "/api/swiftcontents/diff/d.ipynb?checkpoint=20200101T000000000000-abc")[0] == 404


def test_validate_endpoint(server):
    put_notebook(server, "v.ipynb", ["ok"])
    report = server.json("GET", "/api/swiftcontents/validate/v.ipynb")
    assert report["valid"] is True and report["computed_by"] == "storlet", report
    assert server.request("GET", "/api/swiftcontents/validate/nope.ipynb")[0] == 404
    assert server.request("GET", "/api/swiftcontents/validate/a%2F..%2F..%2Fetc")[0] in (400, 404)
    status, _, body = server.request("GET", "/api/contents/bad%00name")
    assert status == 400 and b"control characters" in body


STYLESHEET = "/swiftcontents/static/pages.css"


def assert_generated_page(headers: dict[str, str], body: bytes = b"") -> None:
    """What every generated HTML page carries: type, no sniffing, this server's
    stylesheet only (no inline style, no script), linked from the page."""
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Swiftcontents-Computed-By"] == "storlet"
    csp = [d.strip() for d in headers["Content-Security-Policy"].split(";")]
    assert "frame-ancestors 'self'" in csp  # Jupyter's own policy is kept
    assert {"default-src 'none'", "style-src 'self'", "sandbox"} <= set(csp)
    assert not any(d.startswith("script-src") or "unsafe-inline" in d for d in csp)
    if body:
        assert body.count(f'<link rel="stylesheet" href="{STYLESHEET}">'.encode()) == 1
        assert b"<style" not in body


def test_html_pages_of_a_hostile_notebook(server, s2aio):
    """Hostile bytes stored in Swift, rendered by the storlets, served by the endpoints."""
    server.json("PUT", "/api/contents/hostile", {"type": "directory"})
    path = f"hostile/{HOSTILE_NAME}"
    put_notebook(server, path, ["harmless"])
    server.json("POST", f"/api/contents/{path}/checkpoints", {})
    conn = s2aio.connection("test")
    try:  # straight into Swift, as another client (or a synced file) would put them
        conn.put_object(server.container, path, hostile_bytes())
        conn.put_object(server.container, "hostile/version.ipynb", hostile_version_bytes())
    finally:
        conn.close()
    pages = {f"/api/swiftcontents/diff/{path}?format=html": DIFF_TAGS,
             "/api/swiftcontents/listing/hostile?format=html": LISTING_TAGS,
             f"/api/swiftcontents/validate/{path}?format=html": VALIDATION_TAGS}
    texts = []
    for url, tags in pages.items():
        status, headers, body = server.request("GET", url)
        assert status == 200, (url, body[:500])
        assert_generated_page(headers, body)
        texts.append(assert_safe_html(body.decode("utf-8"), served(tags), SERVED_ATTRS))
    diff, listing, validation = texts
    assert_shows(diff, "cell_type", "source_a", "source_b", "top_level_key")
    assert_shows(listing, "title", "kernel_name", "language_info", "nbformat")
    assert HOSTILE_NAME in listing and "computed by storlet" in listing
    assert_shows(validation, "top_level_key", "cell_id")
    status, headers, _ = server.request("GET", f"/api/swiftcontents/diff/{path}?format=text")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = server.request("GET", f"/api/swiftcontents/diff/{path}x?format=html")
    assert status == 404 and headers["Content-Type"].startswith("application/json")


def test_endpoints_give_back_names_that_need_quoting(server):
    """Listing, diff (its checkpoint is an extra resource named after the notebook)
    and validate, all computed by the storlets, on names with % & = # ? + space, ü."""
    server.json("PUT", "/api/contents/q%20d", {"type": "directory"})
    for name in QUOTED_NAMES:
        put_notebook(server, quote(f"q d/{name}", safe="/"), [f"# {name}"])
    result = server.json("GET", "/api/swiftcontents/listing/q%20d")
    assert result["computed_by"] == "storlet", result.get("fallback_reason")
    rows = {r["name"]: r for r in result["notebooks"]}
    assert set(rows) == set(QUOTED_NAMES)
    assert all(rows[name]["title"] == name for name in QUOTED_NAMES)
    for name in QUOTED_NAMES:
        api = "q%20d/" + quote(name, safe="")
        cp = server.json("POST", f"/api/contents/{api}/checkpoints", {})
        put_notebook(server, api, [f"# {name}", "second"])
        diff = server.json("GET", f"/api/swiftcontents/diff/{api}?checkpoint={cp['id']}")
        assert diff["computed_by"] == "storlet", diff.get("fallback_reason")
        assert diff["checkpoint"] == cp["id"] and diff["diff"]
        report = server.json("GET", f"/api/swiftcontents/validate/{api}")
        assert report["valid"] is True and report["computed_by"] == "storlet", report


def test_a_malformed_notebook_model_is_a_400_naming_cell_and_field(server):
    put_notebook(server, "badmodel.ipynb", ["# Kept"])
    before = server.json("GET", "/api/contents/badmodel.ipynb")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("m"),
                                         nbformat.v4.new_code_cell("1 + 1")])
    del nb.cells[1]["outputs"]
    cases = [(nb, "cell 1 (code): missing field 'outputs'")]
    broken = json.loads(json.dumps(nb))
    broken["cells"][1]["outputs"] = [{"text": "no type"}]
    cases.append((broken, "cell 1 (code), output 0: missing field 'output_type'"))
    broken = json.loads(json.dumps(nb))
    broken["cells"][0]["metadata"] = "not an object"
    cases.append((broken, "cell 0: field 'metadata' must be an object, not a string"))
    cases.append(([1, 2], "the notebook must be an object, not a list"))
    for content, expected in cases:
        status, _, raw = server.request("PUT", "/api/contents/badmodel.ipynb",
                                        {"type": "notebook", "content": content})
        assert status == 400, (status, raw[:300])
        message = json.loads(raw)["message"]
        assert expected in message and "badmodel.ipynb" in message, message
    after = server.json("GET", "/api/contents/badmodel.ipynb")
    assert after["content"] == before["content"]  # the stored version is untouched
    assert after["last_modified"] == before["last_modified"]


def test_pages_are_styled_by_the_served_stylesheet(server):
    """Each page links the stylesheet, under a policy that allows it and nothing inline;
    the stylesheet is CSS, served with or without a token (it is public, as Jupyter's
    /static files: a sandboxed page's requests carry no cookie)."""
    put_notebook(server, "styled.ipynb", ["# Styled"])
    for url in ("/api/swiftcontents/listing/?format=html",
                "/api/swiftcontents/validate/styled.ipynb?format=html",
                "/api/swiftcontents/diff/styled.ipynb?format=html"):
        status, headers, body = server.request("GET", url)
        assert status == 200, (url, body[:300])
        assert_generated_page(headers, body)
        assert body.startswith(b"<!DOCTYPE html><html><head>")  # no theme: the browser's
        status, _, body = server.request("GET", url + "&theme=dark")
        assert status == 200 and body.startswith(b'<!DOCTYPE html><html data-theme="dark">')
        status, _, body = server.request("GET", url + "&theme=%3Cscript%3E")
        assert status == 400 and b"theme must be one of light, dark" in body
    for token in (True, False):
        status, headers, css = server.request("GET", STYLESHEET, token=token)
        assert status == 200 and headers["Content-Type"] == "text/css", (status, headers)
        assert b"prefers-color-scheme: dark" in css and b"td.add" in css
    assert server.request("GET", "/swiftcontents/static/other.css")[0] == 404
    assert server.request("GET", "/swiftcontents/static/..%2F__init__.py")[0] == 404
    assert server.request("HEAD", STYLESHEET, token=False)[0] == 200
