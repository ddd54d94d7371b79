"""SwiftContentsManager against a real s2aio: contract cases, checkpoints, large uploads."""
from __future__ import annotations

import asyncio
import base64
import json
import threading
from pathlib import Path

import nbformat
import pytest
from tornado import web

from swiftcontents import operations
from swiftcontents import storlets as swiftcontents_storlets
from swiftcontents.errors import SwiftContentsError
from swiftcontents.operations import map_parallel

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
FILES = Path(__file__).resolve().parent.parent / "files" / "swiftcontents"


def nb_model(text: str = "hello") -> dict:
    nb = nbformat.reads((FILES / "titled.ipynb").read_text(), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(text))
    return {"type": "notebook", "content": nb}


async def status_of(coro) -> int:
    with pytest.raises(web.HTTPError) as err:
        await coro
    return err.value.status_code


async def test_bad_paths_are_400_and_write_nothing(cm):
    txt = {"type": "file", "format": "text", "content": "x"}
    for bad in ("../escape.txt", "a/../../b.txt", "nul\x00.txt", "ctl\x1b.txt", "a//b.txt",
                "x" * 1100, "é" * 600):
        assert await status_of(cm.save(dict(txt), bad)) == 400, bad
        assert await status_of(cm.get(bad)) == 400, bad
    assert await status_of(cm.rename("..", "x")) == 400
    assert (await cm.get(""))["content"] == []


async def test_round_trips_and_models(cm):
    await cm.save({"type": "directory"}, "d")
    await cm.save({"type": "file", "format": "text", "content": "héllo"}, "d/a.txt")
    await cm.save({"type": "file", "format": "base64",
                   "content": base64.b64encode(b"\x00\xff").decode()}, "d/b.bin")
    saved = await cm.save(nb_model(), "d/n.ipynb")
    assert saved["type"] == "notebook" and "message" not in saved
    assert saved["swift_validation"]["valid"] is True

    text = await cm.get("d/a.txt", require_hash=True)
    assert (text["content"], text["format"], text["mimetype"]) == ("héllo", "text", "text/plain")
    import hashlib
    assert text["hash"] == hashlib.md5("héllo".encode()).hexdigest() and text["size"] == 6
    binary = await cm.get("d/b.bin")
    assert base64.b64decode(binary["content"]) == b"\x00\xff" and binary["format"] == "base64"
    nb = await cm.get("d/n.ipynb")
    assert nb["content"].cells[-1].source == "hello" and nb["format"] == "json"

    listing = await cm.get("d")
    by_path = {e["path"]: e for e in listing["content"]}
    assert set(by_path) == {"d/a.txt", "d/b.bin", "d/n.ipynb"}
    for path, entry in by_path.items():  # a listing entry equals the item's own model
        assert entry == await cm.get(path, content=False)
    assert await status_of(cm.get("d", type="file")) == 400
    assert await status_of(cm.get("d/a.txt", type="directory")) == 400
    assert await status_of(cm.get("nope")) == 404


async def test_hidden_rules(cm):
    assert await status_of(cm.save({"type": "directory"}, ".secret")) == 400
    cm.allow_hidden = True
    await cm.save({"type": "directory"}, ".secret")
    await cm.save({"type": "file", "format": "text", "content": "x"}, ".env")
    assert {e["name"] for e in (await cm.get(""))["content"]} == {".secret", ".env"}
    cm.allow_hidden = False
    assert (await cm.get(""))["content"] == []
    assert await status_of(cm.get(".secret")) == 404
    assert await status_of(cm.delete(".env")) == 400


async def test_checkpoints_several_follow_rename_and_delete(make_cm):
    cm = make_cm()
    cm.checkpoints.max_checkpoints = 3
    await cm.save({"type": "directory"}, "proj")
    await cm.save(nb_model("v0"), "proj/n.ipynb")  # creates the first checkpoint
    ids = [c["id"] for c in await cm.list_checkpoints("proj/n.ipynb")]
    for i in range(1, 4):
        await cm.save(nb_model(f"v{i}"), "proj/n.ipynb")
        ids.append((await cm.create_checkpoint("proj/n.ipynb"))["id"])
    kept = [c["id"] for c in await cm.list_checkpoints("proj/n.ipynb")]
    assert kept == ids[-3:]  # several per file, oldest pruned

    await cm.rename("proj", "moved")
    assert [c["id"] for c in await cm.list_checkpoints("moved/n.ipynb")] == kept
    assert await cm.list_checkpoints("proj/n.ipynb") == []
    await cm.restore_checkpoint(kept[0], "moved/n.ipynb")
    assert (await cm.get("moved/n.ipynb"))["content"].cells[-1].source == "v1"

    await cm.rename("moved/n.ipynb", "moved/m.ipynb")
    assert [c["id"] for c in await cm.list_checkpoints("moved/m.ipynb")] == kept
    await cm.delete("moved")
    assert await cm.list_checkpoints("moved/m.ipynb") == []
    aux = cm.store.list_aux("checkpoints/")
    assert aux == []


async def test_directory_copy_rename_delete_semantics(cm):
    await cm.save({"type": "directory"}, "src")
    await cm.save({"type": "directory"}, "src/sub")
    for name in ("src/a.txt", "src/sub/b.txt"):
        await cm.save({"type": "file", "format": "text", "content": name}, name)
    copied = await cm.copy("src", "")
    assert copied["path"] == "src-Copy1"
    assert (await cm.get("src-Copy1/sub/b.txt"))["content"] == "src/sub/b.txt"
    assert await status_of(cm.rename("src", "src-Copy1")) == 409
    assert await status_of(cm.rename("src", "src/sub/inside")) == 400
    cm.delete_to_trash = False
    assert await status_of(cm.delete("src")) == 400  # not empty
    cm.always_delete_dir = True
    await cm.delete("src")
    assert not await cm.dir_exists("src") and not await cm.file_exists("src/a.txt")
    cm.max_copy_folder_size_mb = 0
    assert await status_of(cm.copy("src-Copy1", "")) == 400


async def test_listing_1000_entries_costs_constant_requests(cm):
    await cm.save({"type": "directory"}, "small")
    await cm.save({"type": "directory"}, "big")
    names = [f"big/f{i:04d}.txt" for i in range(1000)]
    await cm.run(map_parallel, lambda n: cm.store.write(n, b"x", "text/plain"), names)
    await cm.save({"type": "file", "format": "text", "content": "x"}, "small/f.txt")

    async def cost(path: str) -> tuple[int, int]:
        before = cm.store.requests
        model = await cm.get(path)
        return cm.store.requests - before, len(model["content"])

    small, big = await cost("small"), await cost("big")
    assert big[1] == 1000 and small[1] == 1
    assert big[0] == small[0] <= 3, (small, big)  # GET (no file), HEAD marker, one listing page


async def test_blocking_calls_run_in_the_bounded_pool(make_cm):
    cm = make_cm(pool_size=2)
    seen: set[str] = set()
    loop_thread = threading.current_thread().name
    original = cm.store._call

    def spy(*args, **kwargs):
        seen.add(threading.current_thread().name)
        return original(*args, **kwargs)

    cm.store._call = spy
    await asyncio.gather(*(cm.get("") for _ in range(6)))
    assert seen and loop_thread not in seen
    assert all(name.startswith("swiftcontents") for name in seen) and len(seen) <= 2


def spy_requests(cm) -> list[str]:
    """The swiftclient methods the manager's store calls from now on, in order."""
    calls: list[str] = []
    original = cm.store._call

    def spy(what, method, *args, **kwargs):
        calls.append(method)
        return original(what, method, *args, **kwargs)

    cm.store._call = spy
    return calls


async def test_opening_a_file_is_one_get(cm):
    await cm.save({"type": "file", "format": "text", "content": "x"}, "a.txt")
    await cm.save(nb_model(), "n.ipynb")
    calls = spy_requests(cm)
    for path in ("a.txt", "n.ipynb"):
        calls.clear()
        model = await cm.get(path, require_hash=True)
        assert calls == ["get_object"], (path, calls)
        assert model["content"] and model["hash"] and model["last_modified"].year > 1970
    calls.clear()
    assert (await cm.get("a.txt", content=False))["size"] == 1 and calls == ["head_object"]
    assert await status_of(cm.get("missing.txt")) == 404
    assert await status_of(cm.get("a.txt", type="directory")) == 400


async def test_chunked_upload_assembled_in_swift(cm, monkeypatch):
    monkeypatch.setattr(operations, "SLO_MAX_SEGMENTS", 3)  # force a nested manifest
    await cm.save({"type": "file", "format": "text", "content": "old version"}, "big.bin")
    parts = [bytes([i]) * 1000 for i in range(7)]
    numbers = [1, 2, 3, 4, 5, 6, -1]
    for n, part in zip(numbers, parts):
        model = await cm.save({"type": "file", "format": "base64", "chunk": n,
                               "content": base64.b64encode(part).decode()}, "big.bin")
        if n != -1:  # the previous version stays whole until the last chunk
            assert (await cm.get("big.bin"))["content"] == "old version"
    assert model["size"] == 7000
    got = await cm.get("big.bin", format="base64")
    assert base64.b64decode(got["content"]) == b"".join(parts)
    entry = await cm.run(cm.store.head, "big.bin")
    assert entry.is_manifest
    segs = [r["name"] for r in cm.store.list_aux("segments/")]
    assert len([s for s in segs if s.rsplit("/", 1)[1].isdigit()]) == 7
    # rename keeps the bytes (the manifest moves, segments stay), delete removes segments
    await cm.rename("big.bin", "moved.bin")
    assert base64.b64decode((await cm.get("moved.bin", format="base64"))["content"]) == b"".join(parts)
    await cm.delete("moved.bin")
    assert [r for r in cm.store.list_aux("segments/") if r["name"].rsplit("/", 1)[1].isdigit()] == []


async def test_chunk_errors(cm):
    base = {"type": "file", "format": "text", "content": "x"}
    assert await status_of(cm.save({**base, "chunk": 1, "type": "notebook"}, "f")) == 400
    assert await status_of(cm.save({**base, "chunk": 0}, "f")) == 400
    assert await status_of(cm.save({**base, "chunk": 1}, "missing/f")) == 404
    assert await status_of(cm.save({**base, "chunk": 2, "format": "json"}, "f")) == 400


async def test_events_and_hooks_still_fire(cm):
    seen = []
    cm.register_pre_save_hook(lambda model, path, **kw: seen.append(("pre", path)))
    cm.register_post_save_hook(lambda model, os_path, **kw: seen.append(("post", os_path)))
    await cm.save({"type": "file", "format": "text", "content": "x"}, "h.txt")
    assert seen[0] == ("pre", "h.txt") and seen[1][0] == "post"
    assert seen[1][1].startswith("swift://") and seen[1][1].endswith("/h.txt")


async def test_storlet_stamp_on_save_and_open(make_cm, deployed):
    cm = make_cm(storlets="on")
    saved = await cm.save(nb_model(), "ok.ipynb")
    assert saved["swift_validation"]["validated_by"] == "storlet"
    bad = nb_model()
    del bad["content"].cells[0]["source"]
    saved = await cm.save(bad, "bad.ipynb")
    assert "Notebook validation failed" in saved["message"]
    opened = await cm.get("bad.ipynb")
    assert opened["swift_validation"]["valid"] is False
    assert "source" in opened["swift_validation"]["first_error"]
    report = await cm.run(cm.nb_storlets.validate, cm.store, "bad.ipynb")
    verdict = ("valid", "error_count", "truncated")  # one typed verdict: stamp == /validate
    assert {k: opened["swift_validation"][k] for k in verdict} == {k: report[k] for k in verdict}
    raw = json.loads((await cm.get("ok.ipynb", type="file"))["content"])
    assert "".join(raw["cells"][-1]["source"]) == "hello"  # the stamp never changes the bytes


@pytest.mark.parametrize("storlets", ["on", "off"])
async def test_one_validation_per_save(make_cm, deployed, monkeypatch, storlets):
    """jupyter_server's contract (its test_nb_validation): a save validates once and
    says when the notebook is invalid; here that one validation is nbvalidate's, in
    Swift (or its in-process fallback), never nbformat.validate in the server. With
    the storlet, the save needs no HEAD either: the proxy echoes time and stamp."""
    cm = make_cm(storlets=storlets)
    await cm.save(nb_model(), "v.ipynb")
    good, bad = nb_model("again"), nb_model()  # read (and validated) before counting
    del bad["content"].cells[0]["source"]
    validations, calls = [], []
    real_validate, real_head = nbformat.validate, cm.store.head
    real_save = cm.nb_storlets.save_notebook
    monkeypatch.setattr(nbformat, "validate",
                        lambda *a, **k: validations.append(1) or real_validate(*a, **k))
    monkeypatch.setattr(cm.store, "head", lambda path: calls.append(("head", path))
                        or real_head(path))
    monkeypatch.setattr(cm.nb_storlets, "save_notebook", lambda *a: calls.append(("put",))
                        or real_save(*a))
    stamps = []
    real_stamp = swiftcontents_storlets.local_stamp
    monkeypatch.setattr(swiftcontents_storlets, "local_stamp",
                        lambda data: stamps.append(1) or real_stamp(data))

    saved = await cm.save(good, "v.ipynb")
    assert validations == [] and "message" not in saved
    assert saved["swift_validation"]["valid"] is True
    if storlets == "on":
        assert saved["swift_validation"]["validated_by"] == "storlet" and stamps == []
        # One HEAD before the PUT (the file is there), none after: time and stamp
        # came with the PUT's answer.
        assert calls == [("head", "v.ipynb"), ("put",)], calls
        stored = await cm.run(real_head, "v.ipynb")
        assert saved["last_modified"] == stored.last_modified  # exact, not rounded
    else:
        assert saved["swift_validation"]["validated_by"] == "server" and stamps == [1]

    saved = await cm.save(bad, "v.ipynb")
    assert saved["message"].startswith("Notebook validation failed:")
    assert validations == []
    opened = await cm.get("v.ipynb")
    assert opened["message"].startswith("Notebook validation failed:")


async def test_storlet_listing_of_many_stamped_notebooks_stays_in_the_engine(make_cm, deployed):
    # Saved notebooks carry the validation stamp, which travels with every input
    # in the engine's 4 KiB SBus message: batches must stay under it (no 503).
    import json

    import nbformat

    cm = make_cm(storlets="on")
    await cm.save({"type": "directory"}, "many")
    good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")])
    names = []
    for i in range(45):
        nb = good if i % 3 else {**good, "cells": [{"cell_type": "bogus", "source": ""}]}
        name = f"many/notebook-with-a-longish-name-{i:03d}.ipynb"
        data = json.dumps(nb).encode()
        await cm.run(cm.nb_storlets.save_notebook, cm.store, name, data)
        names.append(name)
    head = await cm.run(cm.store.head, names[0])
    assert head.meta.get("nb-first-error")  # an invalid one: the biggest stamp
    result = await cm.run(cm.nb_storlets.listing, cm.store, names)
    assert result["computed_by"] == "storlet", result.get("fallback_reason")
    rows = result["notebooks"]
    assert [r["name"] for r in rows] == [n.rpartition("/")[2] for n in names]
    assert sum(1 for r in rows if r.get("valid") is False) == 15


async def test_storlet_listing_gives_back_names_that_need_quoting(make_cm, deployed):
    from tests.names import QUOTED_NAMES

    cm = make_cm(storlets="on")
    await cm.save({"type": "directory"}, "q d")
    for name in QUOTED_NAMES:
        await cm.save(nb_model(name), f"q d/{name}")
    listing = await cm.get("q d")
    names = sorted(e["path"] for e in listing["content"])
    assert names == sorted(f"q d/{n}" for n in QUOTED_NAMES)
    result = await cm.run(cm.nb_storlets.listing, cm.store, names)
    assert result["computed_by"] == "storlet", result.get("fallback_reason")
    assert [r["name"] for r in result["notebooks"]] == [n.rpartition("/")[2] for n in names]
    assert all(r["bytes"] > 0 and "error" not in r for r in result["notebooks"])


async def test_overwriting_a_file_skips_the_directory_checks(cm, monkeypatch):
    """A file that is there has its parent and no directory of its name (a directory
    is never made over a file): one HEAD, no listing. A new file is checked in full."""
    await cm.save({"type": "directory"}, "d")
    checked = []
    for name in ("dir_marker_exists", "dir_has_objects"):
        real = getattr(cm.store, name)
        monkeypatch.setattr(cm.store, name,
                            lambda path, real=real, name=name: checked.append((name, path))
                            or real(path))
    await cm.save(nb_model(), "d/new.ipynb")
    assert sorted(checked) == [("dir_has_objects", "d"), ("dir_has_objects", "d/new.ipynb"),
                               ("dir_marker_exists", "d"), ("dir_marker_exists", "d/new.ipynb")]
    checked.clear()
    await cm.save(nb_model("again"), "d/new.ipynb")
    assert checked == []
    await cm.save({"type": "file", "format": "text", "content": "t"}, "d/t.txt")
    checked.clear()
    await cm.save({"type": "file", "format": "text", "content": "t2"}, "d/t.txt")
    assert checked == []
    assert (await cm.get("d/new.ipynb"))["content"].cells[-1].source == "again"


async def test_a_file_and_a_directory_never_share_a_name(cm):
    await cm.save({"type": "directory"}, "x")
    await cm.save(nb_model("inside"), "x/n.ipynb")
    txt = {"type": "file", "format": "text", "content": "over"}
    for model in (txt, nb_model()):
        with pytest.raises(web.HTTPError) as err:
            await cm.save(dict(model), "x")
        assert err.value.status_code == 409 and "directory named x exists" in err.value.log_message
    chunk = {**txt, "chunk": 1}
    assert await status_of(cm.save(chunk, "x")) == 409
    await cm.save(dict(txt), "f.txt")
    with pytest.raises(web.HTTPError) as err:
        await cm.save({"type": "directory"}, "f.txt")
    assert err.value.status_code == 409 and "file named f.txt exists" in err.value.log_message
    with pytest.raises(web.HTTPError) as err:  # nor by copying a directory there
        await cm.copy("x", "f.txt")
    assert err.value.status_code == 409 and "file named f.txt exists" in err.value.log_message
    # nothing changed: one entry per name, the directory and the file as they were
    root = await cm.get("")
    assert sorted((e["name"], e["type"]) for e in root["content"]) == [
        ("f.txt", "file"), ("x", "directory")]
    assert (await cm.get("x"))["type"] == "directory"
    assert (await cm.get("x/n.ipynb"))["content"].cells[-1].source == "inside"
    assert (await cm.get("f.txt"))["content"] == "over"
    assert await cm.run(cm.store.head, "x") is None


async def test_a_files_checkpoints_never_take_a_same_named_directorys(cm):
    # Another tool (not this manager) made a file 'x' beside the directory 'x/'.
    await cm.save({"type": "directory"}, "x")
    await cm.save(nb_model("inside"), "x/n.ipynb")
    inner = [c["id"] for c in await cm.list_checkpoints("x/n.ipynb")]
    assert len(inner) == 1

    async def outside_file_x() -> str:
        await cm.run(cm.store.write, "x", b"outside", "text/plain")
        own = (await cm.create_checkpoint("x"))["id"]
        assert [c["id"] for c in await cm.list_checkpoints("x")] == [own]
        return own

    await outside_file_x()
    await cm.delete("x")  # the file (HEAD finds it first): the directory's checkpoints stay
    assert await cm.list_checkpoints("x") == []
    assert [c["id"] for c in await cm.list_checkpoints("x/n.ipynb")] == inner
    assert (await cm.get("x/n.ipynb"))["content"].cells[-1].source == "inside"

    own = await outside_file_x()
    await cm.rename("x", "y")  # the file again: only its own checkpoints move
    assert [c["id"] for c in await cm.list_checkpoints("y")] == [own]
    assert [c["id"] for c in await cm.list_checkpoints("x/n.ipynb")] == inner

    await cm.delete("x")  # now the directory, and its files' checkpoints with it
    assert await cm.list_checkpoints("x/n.ipynb") == []
    assert [c["id"] for c in await cm.list_checkpoints("y")] == [own]
    await cm.delete("y")
    assert cm.store.list_aux("checkpoints/") == []


async def test_times_are_exact_never_ahead_and_folders_have_one(cm):
    import datetime as dt

    def now() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    start = now()
    await cm.save({"type": "directory"}, "d")
    saved = {
        "d/a.txt": await cm.save({"type": "file", "format": "text", "content": "x"}, "d/a.txt"),
        "d/n.ipynb": await cm.save(nb_model(), "d/n.ipynb"),
    }
    end = now()
    stamps = []
    for path, model in saved.items():
        when = model["last_modified"]
        assert start <= when <= end, (path, start, when, end)  # never in the future
        own = await cm.get(path, content=False)
        assert own["last_modified"] == when and (await cm.get(path))["last_modified"] == when
        stamps.append(when)
    assert any(t.microsecond for t in stamps)  # sub-second, not whole seconds
    listed = {e["path"]: e for e in (await cm.get("d"))["content"]}
    assert {p: listed[p]["last_modified"] for p in saved} == dict(zip(saved, stamps))

    # the verdict comes with a HEAD too (no content read), when the notebook type is asked
    head = await cm.get("d/n.ipynb", content=False, type="notebook")
    assert head["swift_validation"]["valid"] is True and head["content"] is None

    # folders: their marker's time, the same in their own model and in the parent's listing
    d = await cm.get("d", content=False)
    assert start <= d["last_modified"] <= stamps[0]
    root = await cm.get("")
    assert [e["last_modified"] for e in root["content"] if e["path"] == "d"] == [d["last_modified"]]
    # without a marker (written by another tool): its newest object's time
    await cm.run(cm.store.write, "loose/f.txt", b"x", "text/plain")
    newest = (await cm.get("loose/f.txt", content=False))["last_modified"]
    assert (await cm.get("loose", content=False))["last_modified"] == newest
    assert root["last_modified"] > dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


async def test_a_model_read_from_the_file_is_not_saved_over_a_newer_version(cm):
    await cm.save({"type": "file", "format": "text", "content": "v1"}, "c.txt")
    read = await cm.get("c.txt", require_hash=True)
    by_time = {k: v for k, v in read.items() if k not in ("hash", "hash_algorithm")}
    # unchanged: saves (a model as get() gave it, content edited)
    saved = await cm.save({**read, "content": "v2"}, "c.txt")
    assert (await cm.get("c.txt"))["content"] == "v2" and saved["path"] == "c.txt"
    # another writer got in since `saved` was read: both preconditions refuse
    await cm.run(cm.store.write, "c.txt", b"outside", "text/plain")
    for model in ({**saved, "content": "v3", "hash": read["hash"], "hash_algorithm": "md5"},
                  {**saved, "content": "v3"},
                  {**by_time, "content": "v3", "last_modified": saved["last_modified"].isoformat()}):
        with pytest.raises(web.HTTPError) as err:
            await cm.save(model, "c.txt")
        assert err.value.status_code == 409 and "changed since you read it" in err.value.log_message
    assert (await cm.get("c.txt"))["content"] == "outside"
    # a model without those fields, or read from another file (a copy), saves as before
    await cm.save({"type": "file", "format": "text", "content": "v4"}, "c.txt")
    assert (await cm.copy("c.txt", "d.txt"))["path"] == "d.txt"
    assert await status_of(cm.save({**saved, "last_modified": "yesterday"}, "c.txt")) == 400


async def test_a_rename_keeps_the_time_an_outside_write_does_not(cm):
    await cm.save({"type": "directory"}, "r")
    first = await cm.save(nb_model("typed"), "r/a.ipynb")
    await asyncio.sleep(0.05)
    await cm.rename("r/a.ipynb", "r/b.ipynb")
    moved = await cm.get("r/b.ipynb", content=False, type="notebook")
    assert moved["last_modified"] == first["last_modified"]
    assert moved["swift_validation"] == first["swift_validation"]
    await cm.rename("r", "s")  # a directory rename keeps its files' times too
    assert (await cm.get("s/b.ipynb", content=False))["last_modified"] == first["last_modified"]
    dir_time = (await cm.get("s", content=False))["last_modified"]
    assert dir_time < first["last_modified"]  # the marker's, made before the notebook

    # a copy made by another tool, and a write by another tool, are new versions
    await cm.run(cm.store.copy, cm.store.key("s/b.ipynb"), cm.store.key("s/c.ipynb"))
    copied = (await cm.get("s/c.ipynb", content=False))["last_modified"]
    conn = cm.store._conn()
    await cm.run(conn.copy_object, cm.store.container, cm.store.key("s/b.ipynb"),
                 f"/{cm.store.container}/{cm.store.key('s/d.ipynb')}")
    outside_copy = (await cm.get("s/d.ipynb", content=False))["last_modified"]
    data = (await cm.get("s/b.ipynb", type="file"))["content"].encode()
    await cm.run(cm.store.write, "s/b.ipynb", data, "application/x-ipynb+json")
    rewritten = (await cm.get("s/b.ipynb", content=False))["last_modified"]
    assert min(copied, outside_copy, rewritten) > first["last_modified"]
    # a restored checkpoint is a new version too
    ckpt = (await cm.list_checkpoints("s/b.ipynb"))[0]["id"]
    await cm.restore_checkpoint(ckpt, "s/b.ipynb")
    assert (await cm.get("s/b.ipynb", content=False))["last_modified"] > rewritten


async def test_a_storlet_quota_refusal_is_the_callers_and_rests_nothing(make_cm, deployed, s2aio):
    cm = make_cm(storlets="auto")  # 'auto' rests an engine that failed: it must not here
    await cm.save(nb_model("small"), "q.ipynb")
    conn = s2aio.connection("test")
    conn.post_container(cm.store.container, {"X-Container-Meta-Quota-Bytes": "4000"})
    conn.close()
    assert await status_of(cm.save(nb_model("x" * 5000), "q.ipynb")) == 413
    assert cm.nb_storlets.wanted() == (True, None)  # the engine is still used by everyone
    opened = await cm.get("q.ipynb")
    assert opened["content"].cells[-1].source == "small"
    assert opened["swift_validation"]["validated_by"] == "storlet"


@pytest.mark.parametrize("old, new", [("d", "e"), ("d/a.ipynb", "d/b.ipynb")])
async def test_a_rename_crashed_after_the_copy_completes_on_retry(cm, monkeypatch, old, new):
    """A directory or a file: the copies are made, the sources' deletion fails (a
    crash); the same rename retried completes, and the checkpoints follow."""
    await cm.save({"type": "directory"}, "d")
    await cm.save(nb_model(), "d/a.ipynb")
    ckpts = [c["id"] for c in await cm.list_checkpoints("d/a.ipynb")]
    ckpts.append((await cm.create_checkpoint("d/a.ipynb"))["id"])
    moved = "e/a.ipynb" if old == "d" else new
    original = cm.store.delete_object

    def crash(name, **kw):
        if not kw.get("aux"):
            raise SwiftContentsError(503, "injected: the server died here")
        return original(name, **kw)

    monkeypatch.setattr(cm.store, "delete_object", crash)
    assert await status_of(cm.rename(old, new)) == 503
    monkeypatch.setattr(cm.store, "delete_object", original)
    assert await cm.file_exists("d/a.ipynb") and await cm.file_exists(moved)  # copied
    # another target is refused while the first rename may still be running
    assert await status_of(cm.rename(old, "elsewhere")) == 409
    await cm.rename(old, new)  # the retry
    assert not await cm.file_exists("d/a.ipynb")
    assert (await cm.get(moved))["content"]["cells"][-1]["source"] == "hello"
    assert [c["id"] for c in await cm.list_checkpoints(moved)] == sorted(ckpts)
    assert await cm.list_checkpoints("d/a.ipynb") == []
    assert cm.store.list_aux("renames/") == []
