"""Fixtures for swiftcontents tests: managers on fresh containers of the session's s2aio."""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest

from swiftcontents import SwiftContentsManager


def wipe(conn: Any, container: str) -> None:
    """Delete a container and everything in it (best effort; test cleanup only)."""
    try:
        _, objects = conn.get_container(container, full_listing=True)
        for obj in objects:
            conn.delete_object(container, obj["name"])
        conn.delete_container(container)
    except Exception:
        pass


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the loop jupyter_server uses)."""
    return "asyncio"


@pytest.fixture
def make_cm(s2aio, swift_env) -> Iterator[Callable[..., SwiftContentsManager]]:
    """Build SwiftContentsManagers (v1 auth traits, fresh container unless given)."""
    made: list[str] = []

    def factory(**traits: Any) -> SwiftContentsManager:
        traits.setdefault("container", f"sc-{uuid.uuid4().hex[:10]}")
        traits.setdefault("storlets", "off")
        if "storage_url" not in traits:
            traits.setdefault("auth_version", "1")
            traits.setdefault("auth_url", swift_env["ST_AUTH"])
            traits.setdefault("user", swift_env["ST_USER"])
            traits.setdefault("key", swift_env["ST_KEY"])
        made.append(traits["container"])
        return SwiftContentsManager(**traits)

    yield factory
    conn = s2aio.connection("test")
    for name in made:
        wipe(conn, name)
        wipe(conn, f"{name}_swiftcontents")
    conn.close()


@pytest.fixture
def cm(make_cm) -> SwiftContentsManager:
    return make_cm()
