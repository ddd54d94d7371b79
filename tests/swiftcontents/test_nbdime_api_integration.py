"""nbdime's diff API on Swift: a real jupyter server with nbdime's and swiftcontents'
extensions, loaded in both orders, on s2aio; and the manager's two computing paths."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import quote

import nbdime
import nbformat
import pytest

from swiftcontents import nbdime_api
from tests.swiftcontents.ordered_extensions import DENY_HEADER, ORDER_VARIABLE
from tests.swiftcontents.test_nbdime_api import as_diff_entries, small_pair
from tests.swiftcontents.test_server_integration import Server, jupyter_server_on_swift

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
V4 = nbformat.v4
DIFF = "/nbdime/api/diff"


@pytest.fixture(scope="module", params=["nbdime,swiftcontents", "swiftcontents,nbdime"])
def server(request, s2aio, deployed, tmp_path_factory):
    """``jupyter server`` with both extensions, loaded in the order of the parameter."""
    extensions = {"tests.swiftcontents.ordered_extensions": True, "nbdime": False,
                  "swiftcontents": False}
    with jupyter_server_on_swift(
            s2aio, tmp_path_factory.mktemp("jupyter"), f"nbd-{uuid.uuid4().hex[:8]}",
            extensions, env={ORDER_VARIABLE: request.param},
            args=("--ServerApp.authorizer_class="
                  "tests.swiftcontents.ordered_extensions.HeaderAuthorizer",)) as srv:
        srv.order = request.param
        yield srv


def test_both_extensions_loaded_in_the_order_asked(server):
    text = server.log_path.read_text()
    assert f"test extensions loaded in this order: {server.order.replace(',', ', ')}" in text
    assert "nbdime's diff API answers checkpoint bases on Swift" in text


def save(server: Server, path: str, nb: dict) -> None:
    server.json("PUT", f"/api/contents/{quote(path)}", {"type": "notebook", "content": nb})


def stored(server: Server, path: str) -> dict:
    """The notebook as stored in Swift, read as nbdime and the storlet read it."""
    model = server.json("GET", f"/api/contents/{quote(path)}?type=file&format=text")
    return nbdime_api.base_notebook(model["content"].encode("utf-8"))


def diff_request(server: Server, base: object, headers: dict[str, str] | None = None,
                 token: bool = True):
    status, got, raw = server.request("POST", DIFF, {"base": base}, token=token, headers=headers)
    return status, got, raw


def test_newest_checkpoint_by_default_and_any_by_id(server):
    path = "d é/n b.ipynb"
    server.json("PUT", f"/api/contents/{quote('d é')}", {"type": "directory"})
    versions = [V4.new_notebook(cells=[V4.new_markdown_cell(f"version {i}", id="m"),
                                       V4.new_code_cell("x = 1\n" * i, id="c")])
                for i in (1, 2, 3)]
    save(server, path, versions[0])  # the first save makes a checkpoint (version 1)
    first = stored(server, path)
    save(server, path, versions[1])
    server.json("POST", f"/api/contents/{quote(path)}/checkpoints", {})  # version 2
    second = stored(server, path)
    save(server, path, versions[2])
    current = stored(server, path)
    ids = [c["id"] for c in server.json("GET", f"/api/contents/{quote(path)}/checkpoints")]
    assert len(ids) == 2  # oldest first

    answer = server.json("POST", DIFF, {"base": f"checkpoint:{path}"})
    assert answer["computed_by"] == "storlet", answer.get("fallback_reason")
    assert "fallback_reason" not in answer
    assert answer["checkpoint"] == ids[-1] and answer["path"] == path
    assert answer["base"] == second  # the newest, as JupyterLab's revert takes it
    assert nbdime.patch(answer["base"], as_diff_entries(answer["diff"])) == current

    answer = server.json("POST", DIFF, {"base": f"checkpoint@{ids[0]}:{path}"})
    assert answer["computed_by"] == "storlet" and answer["checkpoint"] == ids[0]
    assert answer["base"] == first
    assert nbdime.patch(answer["base"], as_diff_entries(answer["diff"])) == current


def test_the_answer_is_nbdimes_own_diff(server):
    base_bytes, current_bytes = small_pair()
    for data in (base_bytes, current_bytes):
        server.json("PUT", "/api/contents/small.ipynb",
                    {"type": "file", "format": "text", "content": data.decode()})
        if data is base_bytes:
            server.json("POST", "/api/contents/small.ipynb/checkpoints", {})
    answer = server.json("POST", DIFF, {"base": "checkpoint:small.ipynb"})
    assert answer["computed_by"] == "storlet"
    base, current = answer["base"], stored(server, "small.ipynb")
    assert base == nbdime_api.base_notebook(base_bytes)
    assert answer["diff"] == json.loads(json.dumps(nbdime.diff_notebooks(base, current)))


def error_of(server: Server, base: object, status: int, **kwargs) -> str:
    got, headers, raw = diff_request(server, base, **kwargs)
    assert got == status, (got, raw[:300])
    assert headers["Content-Type"].startswith("application/json"), headers["Content-Type"]
    return json.loads(raw)["message"]


def test_errors_say_what_to_do(server, s2aio):
    conn = s2aio.connection("test")
    try:  # a notebook another client put: no checkpoint yet
        conn.put_object(server.container, "outside.ipynb",
                        nbformat.writes(V4.new_notebook()).encode())
    finally:
        conn.close()
    assert error_of(server, "checkpoint:outside.ipynb", 404) == \
        "No checkpoint of outside.ipynb; save first"
    assert "No such file: missing.ipynb" in error_of(server, "checkpoint:missing.ipynb", 404)
    save(server, "one.ipynb", V4.new_notebook())
    message = error_of(server, "checkpoint@20200101T000000000000-abcdef:one.ipynb", 404)
    assert "No checkpoint '20200101T000000000000-abcdef' for one.ipynb" in message


@pytest.mark.parametrize("base, words", [
    ("checkpoint:../../etc/passwd.ipynb", "'..'"),
    ("checkpoint:/etc/passwd.ipynb", "absolute paths"),
    ("checkpoint:a\x00.ipynb", "control characters"),
    ("checkpoint:" + "x" * 100_000 + ".ipynb", "at most 2048"),
    ("checkpoint@../../x:one.ipynb", "Invalid checkpoint id"),
    ("checkpoint:notes.txt", "only notebooks"),
])
def test_hostile_bases_are_clear_400s(server, base, words):
    message = error_of(server, base, 400)
    assert words in message and len(message) < 400, message


def test_authorized_as_the_contents_api(server):
    save(server, "auth.ipynb", V4.new_notebook())
    status, _, _ = diff_request(server, "checkpoint:auth.ipynb", token=False)
    assert status == 403
    deny = {DENY_HEADER: "1"}
    assert server.request("GET", "/api/contents/auth.ipynb", headers=deny)[0] == 403
    assert "not authorized to read on resource: contents" in \
        error_of(server, "checkpoint:auth.ipynb", 403, headers=deny)
    assert diff_request(server, "checkpoint:auth.ipynb")[0] == 200


def test_other_bases_are_answered_by_nbdime(server):
    """nbdime's own handler, unchanged: a local file against itself, a git base."""
    local = server.log_path.parent / "local.ipynb"  # the server's root_dir
    local.write_text(nbformat.writes(V4.new_notebook(cells=[V4.new_markdown_cell("here")])))
    status, _, raw = server.request("POST", DIFF, {"base": str(local), "remote": str(local)})
    assert status == 200, raw[:300]
    answer = json.loads(raw)
    assert answer["diff"] == [] and "computed_by" not in answer
    assert answer["base"]["cells"][0]["source"] == "here"
    status, _, raw = server.request("POST", DIFF, {"base": "git:local.ipynb"})
    assert status == 422 and raw.startswith(b"HTTP 422: "), (status, raw)  # nbdime's text


def test_saved_and_opened_models_carry_the_verdict(server):
    """``swift_validation`` in the PUT answer and in GET (with and without content)."""
    nb = V4.new_notebook(cells=[V4.new_markdown_cell("fine")])
    content = json.loads(nbformat.writes(nb))
    del content["cells"][0]["source"]  # invalid, still saved (as FileContentsManager)
    saved = server.json("PUT", "/api/contents/invalid.ipynb",
                        {"type": "notebook", "content": content})
    verdict = saved["swift_validation"]
    assert verdict["valid"] is False and verdict["validated_by"] == "storlet", verdict
    assert "source" in verdict["first_error"] and verdict["error_count"] >= 1
    assert "Notebook validation failed" in saved["message"]
    opened = server.json("GET", "/api/contents/invalid.ipynb")
    assert opened["swift_validation"] == verdict
    head = server.json("GET", "/api/contents/invalid.ipynb?content=0&type=notebook")
    assert head["swift_validation"] == verdict
    save(server, "invalid.ipynb", nb)  # repaired
    assert server.json("GET", "/api/contents/invalid.ipynb")["swift_validation"]["valid"] is True


# -- the manager's two paths (no HTTP) ---------------------------------------------------
@pytest.mark.anyio
async def test_the_server_fallback_answers_the_same_and_says_why(make_cm, deployed):
    base_bytes, current_bytes = small_pair()
    on = make_cm(storlets="on")
    off = make_cm(storlets="off", container=on.container)
    await on.save({"type": "file", "format": "text", "content": base_bytes.decode()}, "f.ipynb")
    await on.create_checkpoint("f.ipynb")
    await on.save({"type": "file", "format": "text", "content": current_bytes.decode()}, "f.ipynb")
    target = nbdime_api.parse_base("checkpoint:f.ipynb")
    by_storlet = await nbdime_api.checkpoint_answer(on, target)
    by_server = await nbdime_api.checkpoint_answer(off, target)
    assert by_storlet["computed_by"] == "storlet" and by_server["computed_by"] == "server"
    assert "storlets are off" in by_server["fallback_reason"]
    assert by_server["base"] == by_storlet["base"] == nbdime_api.base_notebook(base_bytes)
    assert by_server["diff"] == by_storlet["diff"]
    assert by_server["checkpoint"] == by_storlet["checkpoint"]


def test_an_unstamped_notebook_gets_its_verdict_on_open(server, s2aio):
    """Written by another client (no stamp in Swift): checked as it is opened."""
    content = json.loads(nbformat.writes(V4.new_notebook(cells=[V4.new_markdown_cell("x")])))
    del content["cells"][0]["source"]
    conn = s2aio.connection("test")
    try:
        conn.put_object(server.container, "foreign.ipynb", json.dumps(content).encode())
        assert not any(k.startswith("x-object-meta-nb-") for k in
                       conn.head_object(server.container, "foreign.ipynb"))
    finally:
        conn.close()
    verdict = server.json("GET", "/api/contents/foreign.ipynb")["swift_validation"]
    assert verdict["valid"] is False and verdict["validated_by"] == "server", verdict
    assert "source" in verdict["first_error"]
    report = server.json("GET", "/api/swiftcontents/validate/foreign.ipynb")
    assert (verdict["error_count"], verdict["truncated"]) == (report["error_count"],
                                                             report["truncated"])
