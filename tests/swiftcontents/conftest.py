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


@pytest.fixture
def make_cm(s2aio, swift_env) -> Iterator[Callable[..., SwiftContentsManager]]:
    """Build SwiftContentsManagers (auth traits: v1, or v3 in keystone mode; fresh
    container unless given)."""
    made: list[SwiftContentsManager] = []

    def factory(**traits: Any) -> SwiftContentsManager:
        traits.setdefault("container", f"sc-{uuid.uuid4().hex[:10]}")
        traits.setdefault("storlets", "off")
        if "storage_url" not in traits and "ST_AUTH" in swift_env:
            traits.setdefault("auth_version", "1")
            traits.setdefault("auth_url", swift_env["ST_AUTH"])
            traits.setdefault("user", swift_env["ST_USER"])
            traits.setdefault("key", swift_env["ST_KEY"])
        elif "storage_url" not in traits:  # make test-keystone: keystone v3 traits
            traits.setdefault("auth_version", "3")
            traits.setdefault("auth_url", swift_env["OS_AUTH_URL"])
            traits.setdefault("user", swift_env["OS_USERNAME"])
            traits.setdefault("key", swift_env["OS_PASSWORD"])
            traits.setdefault("project_name", swift_env["OS_PROJECT_NAME"])
            traits.setdefault("user_domain_name", swift_env["OS_USER_DOMAIN_NAME"])
            traits.setdefault("project_domain_name", swift_env["OS_PROJECT_DOMAIN_NAME"])
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
