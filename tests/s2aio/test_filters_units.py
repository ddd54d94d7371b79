"""s2aio.filters on swob requests (unit: a recording app and an in-memory memcache)."""
from __future__ import annotations

import pytest
from swift.common import swob

from s2aio import filters

STORLET = "/v1/AUTH_a/storlet/identity.py"


class Memcache:
    def __init__(self) -> None:
        self.data: dict[str, object] = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, time=0):
        self.data[key] = value

    def delete(self, key):
        self.data.pop(key, None)


class Backend:
    """The rest of the pipeline: answers HEADs of the storlet, records requests."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.version = "1"

    def __call__(self, env, start_response):
        self.seen.append((env["REQUEST_METHOD"], env["PATH_INFO"]))
        if env["REQUEST_METHOD"] == "HEAD" and env["PATH_INFO"].count("/") == 3:
            return swob.HTTPNoContent()(env, start_response)  # a container HEAD
        headers = {"Content-Length": "10", "X-Timestamp": "1700000000.00000",
                   "X-Object-Meta-Storlet-Main": "identity.IdentityStorlet" + self.version,
                   "X-Backend-Secret": "never cached"}
        return swob.Response(status=200, headers=headers)(env, start_response)


def storlet_head(memcache: Memcache, authorize=None) -> swob.Request:
    req = swob.Request.blank(STORLET, method="HEAD")
    req.environ["swift.source"] = "ST"
    req.environ["swift.cache"] = memcache
    req.environ["swift.infocache"] = {"container/AUTH_a/storlet": {
        "status": 200, "read_acl": ".r:*", "write_acl": "", "storage_policy": "0",
        "object_count": 1, "bytes": 10, "meta": {}, "sysmeta": {}, "versions": None}}
    if authorize is not None:
        req.environ["swift.authorize"] = authorize
    return req


@pytest.fixture
def parts():
    backend = Backend()
    return backend, filters.StorletHeadCache(backend, {"storlet_container": "storlet"}), Memcache()


def object_heads(backend: Backend) -> int:
    return sum(1 for method, path in backend.seen if method == "HEAD" and path == STORLET)


def test_the_storlet_head_is_answered_from_the_cache_after_the_first(parts):
    backend, app, memcache = parts
    first = storlet_head(memcache).get_response(app)
    second = storlet_head(memcache).get_response(app)
    assert first.status_int == second.status_int == 200
    assert object_heads(backend) == 1
    assert second.headers["X-Object-Meta-Storlet-Main"] == "identity.IdentityStorlet1"
    assert second.headers["X-Timestamp"] == "1700000000.00000"
    assert "X-Backend-Secret" not in second.headers


def test_authorization_is_checked_on_every_call_even_when_cached(parts):
    backend, app, memcache = parts
    storlet_head(memcache).get_response(app)
    seen_acls = []

    def deny(req):
        seen_acls.append(req.acl)
        return swob.HTTPForbidden()

    assert storlet_head(memcache, authorize=deny).get_response(app).status_int == 403
    assert seen_acls == [".r:*"]  # the container's read ACL, as the proxy's HEAD sets it
    assert object_heads(backend) == 1


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE"])
def test_a_write_to_the_storlet_drops_its_entry(parts, method):
    backend, app, memcache = parts
    storlet_head(memcache).get_response(app)
    backend.version = "2"
    write = swob.Request.blank(STORLET, method=method, environ={"swift.cache": memcache})
    write.get_response(app)
    assert storlet_head(memcache).get_response(app).headers[
        "X-Object-Meta-Storlet-Main"] == "identity.IdentityStorlet2"
    assert object_heads(backend) == 2


def test_a_copy_onto_the_storlet_drops_its_entry(parts):
    backend, app, memcache = parts
    storlet_head(memcache).get_response(app)
    backend.version = "2"
    copy = swob.Request.blank("/v1/AUTH_a/other/x.py", method="COPY",
                              environ={"swift.cache": memcache},
                              headers={"Destination": "storlet/identity.py"})
    copy.get_response(app)
    assert storlet_head(memcache).get_response(app).headers[
        "X-Object-Meta-Storlet-Main"] == "identity.IdentityStorlet2"


def test_a_copy_onto_a_storlet_with_an_encoded_name_drops_its_entry(parts):
    backend, app, memcache = parts
    key = filters.cache_key("v1", "AUTH_a", "storlet", "my storlet.py")
    memcache.set(key, {"X-Timestamp": "1"})
    copy = swob.Request.blank("/v1/AUTH_a/other/x.py", method="COPY",
                              environ={"swift.cache": memcache},
                              headers={"Destination": "storlet/my%20storlet.py"})
    copy.get_response(app)
    assert memcache.get(key) is None


def test_other_requests_pass_untouched(parts):
    backend, app, memcache = parts
    user_head = swob.Request.blank(STORLET, method="HEAD", environ={"swift.cache": memcache})
    user_head.get_response(app)
    user_head.get_response(app)
    other = storlet_head(memcache)
    other.environ["PATH_INFO"] = "/v1/AUTH_a/notstorlet/identity.py"
    other.get_response(app)
    assert len(backend.seen) == 3 and not memcache.data


def test_no_memcache_means_no_cache(parts):
    backend, app, _ = parts
    for _ in range(2):
        req = storlet_head(None)
        del req.environ["swift.cache"]
        assert req.get_response(app).status_int == 200
    assert object_heads(backend) == 2


def test_only_successful_heads_are_cached(parts):
    backend, app, memcache = parts

    def missing(env, start_response):
        backend.seen.append((env["REQUEST_METHOD"], env["PATH_INFO"]))
        return swob.HTTPNotFound()(env, start_response)

    app.app = missing
    assert storlet_head(memcache).get_response(app).status_int == 404
    assert not memcache.data


# -- put_echo ---------------------------------------------------------------------------
def put_app(status: str = "201 Created"):
    def app(env, start_response):
        # What the proxy and storlet_handler leave in the request: its timestamp, the
        # storlet's metadata, no storlet header any more.
        env["HTTP_X_TIMESTAMP"] = "1700000000.12345"
        env["HTTP_X_OBJECT_META_NB_VALID"] = "true"
        env.pop("HTTP_X_RUN_STORLET", None)
        start_response(status, [("Etag", "abc")])
        return [b""]
    return filters.PutEcho(app, {})


def test_a_storlet_put_echoes_its_time_and_metadata():
    req = swob.Request.blank("/v1/AUTH_a/c/nb.ipynb", method="PUT",
                             headers={"X-Run-Storlet": "nbvalidate.py"}, body=b"{}")
    resp = req.get_response(put_app())
    assert resp.headers["X-Timestamp"] == "1700000000.12345"
    assert resp.headers["X-Object-Meta-Nb-Valid"] == "true"


def test_metadata_that_could_break_the_header_block_is_not_echoed():
    def app(env, start_response):
        env["HTTP_X_OBJECT_META_NB_VALID"] = "true\r\nSet-Cookie: x=1"
        env["HTTP_X_OBJECT_META_NB_OK"] = "fine"
        start_response("201 Created", [])
        return [b""]
    req = swob.Request.blank("/v1/AUTH_a/c/nb.ipynb", method="PUT", body=b"{}",
                             headers={"X-Run-Storlet": "nbvalidate.py"})
    resp = req.get_response(filters.PutEcho(app, {}))
    assert resp.headers["X-Object-Meta-Nb-Ok"] == "fine"
    assert "X-Object-Meta-Nb-Valid" not in resp.headers and "Set-Cookie" not in resp.headers


def test_a_plain_put_echoes_its_time_only():
    resp = swob.Request.blank("/v1/AUTH_a/c/o", method="PUT", body=b"x").get_response(put_app())
    assert resp.headers["X-Timestamp"] == "1700000000.12345"
    assert "X-Object-Meta-Nb-Valid" not in resp.headers


def test_a_failed_put_echoes_nothing():
    req = swob.Request.blank("/v1/AUTH_a/c/o", method="PUT", body=b"x",
                             headers={"X-Run-Storlet": "nbvalidate.py"})
    resp = req.get_response(put_app("503 Service Unavailable"))
    assert "X-Timestamp" not in resp.headers and "X-Object-Meta-Nb-Valid" not in resp.headers


def test_container_puts_are_left_alone():
    resp = swob.Request.blank("/v1/AUTH_a/c", method="PUT").get_response(put_app())
    assert "X-Timestamp" not in resp.headers
