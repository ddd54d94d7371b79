"""Bounded resources on a real s2aio: the listing endpoint pages, never starves the
contents calls, and the fallbacks refuse what exceeds their memory cap."""
from __future__ import annotations

import asyncio
import threading

import nbformat
import pytest
from tornado import web

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def notebook(text: str) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(text))
    return {"type": "notebook", "content": nb}


async def test_the_listing_pages_with_limit_and_marker(cm):
    await cm.save({"type": "directory"}, "d")
    names = [f"n{i}é.ipynb" for i in range(7)]
    for name in names:
        await cm.save(notebook(name), f"d/{name}")
    await cm.save({"type": "file", "format": "text", "content": "x"}, "d/m.txt")  # not listed
    seen, marker, pages = [], "", 0
    while True:
        page = await cm.notebook_listing("d", "3", marker)
        assert page["limit"] == 3 and len(page["notebooks"]) <= 3
        seen += [row["name"] for row in page["notebooks"]]
        pages += 1
        if page["next"] is None:
            break
        marker = page["next"]
    assert seen == sorted(names) and pages == 3
    default = await cm.notebook_listing("d")
    assert default["limit"] == cm.listing_limit and default["next"] is None
    assert len(default["notebooks"]) == 7


async def test_listings_never_take_the_contents_calls_threads(make_cm):
    cm = make_cm(pool_size=1, heavy_pool_size=1)
    await cm.save({"type": "directory"}, "d")
    await cm.save(notebook("x"), "d/a.ipynb")
    release, entered = threading.Event(), threading.Event()
    original = cm.nb_storlets.listing

    def slow_listing(*args):
        entered.set()
        release.wait(60)
        return original(*args)

    cm.nb_storlets.listing = slow_listing
    waiting = [asyncio.ensure_future(cm.notebook_listing("d")) for _ in range(3)]
    try:
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 60)
        # every listing thread is busy (and two more wait): contents calls still run
        model = await asyncio.wait_for(cm.get("d/a.ipynb"), timeout=60)
        assert model["type"] == "notebook" and not any(t.done() for t in waiting)
    finally:
        release.set()
    assert all(len(r["notebooks"]) == 1 for r in await asyncio.gather(*waiting))


async def test_fallbacks_refuse_what_exceeds_their_cap_with_413(cm):
    """Storlets off: the server computes; an object past the cap is never read whole."""
    await cm.save({"type": "directory"}, "d")
    await cm.save(notebook("small"), "d/small.ipynb")
    await cm.save(notebook("big " * 2000), "d/big.ipynb")
    cm.nb_storlets.max_bytes = 4000
    with pytest.raises(web.HTTPError) as err:
        await cm.validation_report("d/big.ipynb")
    assert err.value.status_code == 413 and "4000-byte limit" in err.value.log_message
    with pytest.raises(web.HTTPError) as err:
        await cm.checkpoint_diff("d/big.ipynb")
    assert err.value.status_code == 413
    rows = {r["name"]: r for r in (await cm.notebook_listing("d"))["notebooks"]}
    assert rows["big.ipynb"]["error"] == "too_large"
    assert "error" not in rows["small.ipynb"] and rows["small.ipynb"]["title"] is not None
    assert (await cm.validation_report("d/small.ipynb"))["valid"] is True
