"""Fixtures for swiftcontents tests: managers on fresh containers of the session's s2aio."""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest

from swiftcontents import SwiftContentsManager
from swiftcontents.operations import map_parallel
from swiftcontents.store import Store


def wipe(store: Store, container: str) -> None:
    """Delete a container and everything in it (best effort; test cleanup only)."""
    try:
        names = [r["name"] for r in store._pages(container, "", None)]
        map_parallel(lambda n: store._call(n, "delete_object", container, n), names)
        store._call(container, "delete_container", container)
    except Exception:
        pass


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the loop jupyter_server uses)."""
    return "asyncio"


def auth_traits(aio, user: str = "test") -> dict[str, str]:
    """A manager's auth traits for s2aio's ``user``: v1, or v3 in keystone mode
    (make test-keystone)."""
    settings = aio.settings(user)
    traits = {"auth_version": settings.mode[1:], "auth_url": settings.auth_url,
              "user": settings.user, "key": settings.key}
    if settings.mode == "v3":
        traits.update(project_name=settings.project_name,
                      user_domain_name=settings.user_domain_name,
                      project_domain_name=settings.project_domain_name)
    return traits


@pytest.fixture
def make_cm(s2aio) -> Iterator[Callable[..., SwiftContentsManager]]:
    """Build SwiftContentsManagers (test's auth traits unless given, see auth_traits;
    fresh container unless given)."""
    made: list[SwiftContentsManager] = []

    def factory(**traits: Any) -> SwiftContentsManager:
        traits.setdefault("container", f"sc-{uuid.uuid4().hex[:10]}")
        traits.setdefault("storlets", "off")
        if "storage_url" not in traits:
            traits = {**auth_traits(s2aio), **traits}
        cm = SwiftContentsManager(**traits)
        made.append(cm)
        return cm

    yield factory
    for cm in made:
        if "store" in cm.__dict__:  # only managers that reached Swift
            cm.store.retries = 0
            wipe(cm.store, cm.store.container)
            wipe(cm.store, cm.store.aux_container)


@pytest.fixture
def cm(make_cm) -> SwiftContentsManager:
    return make_cm()


# The notebook corpus (real .ipynb files, fetched once and cached) for the tests
# that compare the server fallbacks with the storlets.
from tests.storlets_apps.conftest import corpus_bytes, corpus_paths, v4_corpus  # noqa: E402,F401
