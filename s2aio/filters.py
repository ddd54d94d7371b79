"""Two proxy filters that take requests off the storlets engine's path.

``storlet_head_cache`` (right after ``storlet_handler``): storlets' proxy
handler HEADs the storlet object on every call (``verify_access_to_storlet``),
a round trip to an object server. This filter answers that HEAD from memcache:

- only that HEAD (``swift.source`` ``ST``, an object of the storlet container);
- authorization is still checked on every call, as the proxy checks a HEAD:
  the container's read ACL, then ``swift.authorize`` (tempauth, keystoneauth);
- any write to an object of the storlet container (PUT, POST, DELETE, COPY to
  it) that passes through this filter drops its entry; a write that does not
  (another proxy without this filter, the object expirer) is seen after at most
  ``cache_time`` seconds (default 900: a storlet called less often than Swift's
  own 60 s info caches would otherwise pay the HEAD again on each call).

``put_echo`` (right before ``storlet_handler``): a successful object PUT's
response carries ``X-Timestamp`` (the exact time Swift stored, which the
rounded ``Last-Modified`` is not), and after a storlet PUT also the
``X-Object-Meta-*`` the storlet set (e.g. nbvalidate's stamp), so that a client
needs no HEAD to learn what it just wrote.

Both are named in a proxy pipeline with ``paste.filter_factory``.
"""
from __future__ import annotations

from typing import Any, Callable

from swift.common.swob import Request, Response, wsgi_unquote
from swift.common.utils import cache_from_env, split_path

WRITES = frozenset({"PUT", "POST", "DELETE", "COPY"})
KEY_PREFIX = "s2aio/storlet-head"
DEFAULT_CACHE_S = 900
META = "X-Object-Meta-"
# What storlets' handler reads from the HEAD (its parameters, size and time), and
# what a HEAD answer needs to be one.
KEPT_HEADERS = ("content-length", "x-timestamp", "content-type", "etag", "last-modified")

App = Callable[[dict, Callable], Any]


def object_path(path_info: str) -> tuple[str, str, str, str] | None:
    """(version, account, container, object) of an object path, else None."""
    try:
        version, account, container, obj = split_path(path_info, 4, 4, True)
    except ValueError:
        return None
    return version, account, container, obj


def copy_destination(env: dict, account: str) -> tuple[str, str, str] | None:
    """(account, container, object) a COPY writes to, else None (the headers are
    percent-encoded, as Swift's copy middleware reads them)."""
    dest = wsgi_unquote(env.get("HTTP_DESTINATION") or "")
    if not dest:
        return None
    dest = dest if dest.startswith("/") else "/" + dest
    parts = dest.split("/", 2)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        return None
    return wsgi_unquote(env.get("HTTP_DESTINATION_ACCOUNT") or "") or account, parts[1], parts[2]


def cache_key(version: str, account: str, container: str, obj: str) -> str:
    return "/".join((KEY_PREFIX, version, account, container, obj))


def kept_headers(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items()
            if k.lower() in KEPT_HEADERS or k.lower().startswith("x-object-meta-")}


class StorletHeadCache:
    def __init__(self, app: App, conf: dict) -> None:
        self.app = app
        self.storlet_container = conf.get("storlet_container", "storlet")
        self.cache_time = int(conf.get("cache_time", DEFAULT_CACHE_S))

    def __call__(self, env: dict, start_response: Callable) -> Any:
        parts = object_path(env.get("PATH_INFO", ""))
        method = env.get("REQUEST_METHOD")
        if parts is None:
            return self.app(env, start_response)
        if method in WRITES:
            return self._write(env, start_response, parts)
        if (method == "HEAD" and env.get("swift.source") == "ST"
                and parts[2] == self.storlet_container):
            return self._storlet_head(env, start_response, parts)
        return self.app(env, start_response)

    def _write(self, env: dict, start_response: Callable, parts: tuple) -> Any:
        version, account, container, obj = parts
        keys = []
        if container == self.storlet_container:
            keys.append(cache_key(version, account, container, obj))
        if env.get("REQUEST_METHOD") == "COPY":
            dest = copy_destination(env, account)
            if dest and dest[1] == self.storlet_container:
                keys.append(cache_key(version, *dest))
        if not keys:
            return self.app(env, start_response)
        memcache = cache_from_env(env, allow_none=True)
        try:
            return self.app(env, start_response)
        finally:  # after the write: a HEAD racing it cannot keep the old answer
            if memcache is not None:
                for key in keys:
                    memcache.delete(key)

    def _storlet_head(self, env: dict, start_response: Callable, parts: tuple) -> Any:
        memcache = cache_from_env(env, allow_none=True)
        if memcache is None:
            return self.app(env, start_response)
        denied = self._authorize(env)
        if denied is not None:
            return denied(env, start_response)
        key = cache_key(*parts)
        cached = memcache.get(key)
        if isinstance(cached, dict):
            return Response(status=200, headers=cached)(env, start_response)
        resp = Request(env).get_response(self.app)
        if resp.status_int == 200:
            memcache.set(key, kept_headers(resp.headers), time=self.cache_time)
        return resp(env, start_response)

    def _authorize(self, env: dict) -> Any:
        """What the proxy's object HEAD would deny this request, or None."""
        from swift.proxy.controllers.base import get_container_info

        authorize = env.get("swift.authorize")
        if authorize is None:
            return None
        info = get_container_info(env, self.app, swift_source="SHC")
        req = Request(env)
        req.acl = info.get("read_acl")
        return authorize(req)


class PutEcho:
    def __init__(self, app: App, conf: dict) -> None:
        self.app = app

    def __call__(self, env: dict, start_response: Callable) -> Any:
        if env.get("REQUEST_METHOD") != "PUT" or object_path(env.get("PATH_INFO", "")) is None:
            return self.app(env, start_response)
        storlet = "HTTP_X_RUN_STORLET" in env  # storlet_handler removes it on its way

        def echo(status: str, headers: list, exc_info: Any = None) -> Any:
            if status.startswith("2"):
                headers = list(headers) + echoed(env, storlet)
            return start_response(status, headers, exc_info) if exc_info else \
                start_response(status, headers)

        return self.app(env, echo)


def echoed(env: dict, storlet: bool) -> list[tuple[str, str]]:
    """The headers a successful PUT's response gains: the time stored, and the
    metadata a storlet set."""
    out = []
    if env.get("HTTP_X_TIMESTAMP"):
        out.append(("X-Timestamp", env["HTTP_X_TIMESTAMP"]))
    if storlet:
        req = Request(env)
        # A value that could break the answer's header block is never echoed
        # (Swift's own PUT would have refused it on its way to the object server).
        out += [(name, value) for name, value in req.headers.items()
                if name.title().startswith(META) and not set(value) & {"\r", "\n", "\0"}]
    return out


def storlet_head_cache_factory(global_conf: dict, **local_conf: str) -> Callable[[App], App]:
    conf = {**global_conf, **local_conf}
    return lambda app: StorletHeadCache(app, conf)


def put_echo_factory(global_conf: dict, **local_conf: str) -> Callable[[App], App]:
    return lambda app: PutEcho(app, {**global_conf, **local_conf})
