"""Faults against a real s2aio: Swift 503s, timeouts, quota refusals, interrupted renames."""
from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import nbformat
import pytest
from tornado import web

from .conftest import auth_traits
from .faultproxy import FaultProxy

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def auth(s2aio):
    conn = s2aio.connection("test")
    url, token = conn.get_auth()
    conn.close()
    return url, token


@pytest.fixture
def proxy(s2aio):
    p = FaultProxy(urlsplit(s2aio.proxy_url).port)
    yield p
    p.close()


@pytest.fixture
def faulty_cm(make_cm, proxy, auth):
    """A manager that reaches Swift through the fault proxy (token auth), and one that doesn't."""
    url, token = auth
    through = urlunsplit(urlsplit(url)._replace(netloc=f"127.0.0.1:{proxy.port}"))
    direct = make_cm()
    faulty = make_cm(storage_url=through, auth_token=token, container=direct.container,
                     retries=0, request_timeout=1.0)
    return faulty, direct, token


def notebook(text: str) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(text))
    return {"type": "notebook", "content": nb}


async def http_error(coro) -> web.HTTPError:
    with pytest.raises(web.HTTPError) as err:
        await coro
    return err.value


async def test_swift_503_is_503_with_message_and_nothing_half_written(faulty_cm, proxy):
    faulty, direct, token = faulty_cm
    await direct.save(notebook("v1"), "n.ipynb")
    checkpoints = await direct.list_checkpoints("n.ipynb")
    proxy.mode = "503"
    for coro in (faulty.save(notebook("v2"), "n.ipynb"), faulty.get("n.ipynb"),
                 faulty.rename("n.ipynb", "m.ipynb"), faulty.delete("n.ipynb")):
        err = await http_error(coro)
        assert err.status_code == 503 and "try again" in err.log_message
        assert token not in err.log_message
    model = await direct.get("n.ipynb")
    assert model["content"].cells[0].source == "v1"
    assert await direct.list_checkpoints("n.ipynb") == checkpoints


async def test_timeout_is_503(faulty_cm, proxy):
    faulty, direct, _ = faulty_cm
    await direct.save({"type": "file", "format": "text", "content": "x"}, "f.txt")
    proxy.mode = "hang"
    started = time.monotonic()
    err = await http_error(faulty.get("f.txt"))
    assert err.status_code == 503 and "timed out" in err.log_message
    assert time.monotonic() - started < 10


async def test_failed_save_keeps_previous_version_and_checkpoints(make_cm, s2aio):
    cm = make_cm()
    await cm.save(notebook("v1"), "n.ipynb")
    await cm.create_checkpoint("n.ipynb")
    before = await cm.list_checkpoints("n.ipynb")
    conn = s2aio.connection("test")
    conn.post_container(cm.store.container, {"X-Container-Meta-Quota-Bytes": "400"})
    conn.close()
    err = await http_error(cm.save(notebook("v2 " + "x" * 1000), "n.ipynb"))
    assert err.status_code == 413
    assert (await cm.get("n.ipynb"))["content"].cells[0].source == "v1"
    assert await cm.list_checkpoints("n.ipynb") == before


async def test_interrupted_directory_rename_loses_nothing_and_retry_completes(faulty_cm, proxy):
    faulty, direct, _ = faulty_cm
    await direct.save({"type": "directory"}, "src")
    files = {f"src/f{i}.txt": f"content {i}" for i in range(12)}
    for path, text in files.items():
        await direct.save({"type": "file", "format": "text", "content": text}, path)
    await direct.create_checkpoint("src/f0.txt")
    proxy.mode, proxy.budget = "fail_after", 12  # past the journal, into the copies
    err = await http_error(faulty.rename("src", "dst"))
    assert err.status_code == 503
    assert direct.store.list_aux("renames/") != []  # it failed half-way, journal written
    for path, text in files.items():  # nothing lost: sources are deleted only after all copies
        assert (await direct.get(path))["content"] == text
    await direct.rename("src", "dst")  # the retry completes
    assert not await direct.dir_exists("src")
    for path, text in files.items():
        assert (await direct.get(path.replace("src/", "dst/")))["content"] == text
    assert len(await direct.list_checkpoints("dst/f0.txt")) == 1
    assert direct.store.list_aux("renames/") == []


async def test_storlet_engine_failure_falls_back_in_process(make_cm, s2aio):
    # test2's account has storlets enabled but none deployed: the engine refuses the call.
    cm = make_cm(storlets="on", **auth_traits(s2aio, "test2"))
    saved = await cm.save(notebook("x"), "n.ipynb")
    assert saved["swift_validation"]["validated_by"] == "server"
    report = await cm.run(cm.nb_storlets.validate, cm.store, "n.ipynb")
    assert report["valid"] and report["computed_by"] == "server"
    assert "nbvalidate.py failed" in report["fallback_reason"]
