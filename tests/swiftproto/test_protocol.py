"""The storlets request protocol: one quoting rule, checked against the middleware's own parsing."""
from __future__ import annotations

import pytest
from swift.common.swob import Request
from swift.common.utils import list_from_csv
from swift.common.wsgi import make_subrequest

from storlets.swift_middleware.handlers.base import StorletBaseHandler
from swiftproto import (ParameterError, dependency_object_headers, parameter_headers,
                        quote_parameter, resource_path, run_headers, storlet_object_headers)
from swiftproto.protocol import unquote_parameter

# Every character class the issue names: %, space, &, =, #, ?, +, :, non-ASCII,
# and the ones HTTP or the CSV header would eat (',' and spaces at the ends).
NAMES = ["a%41.ipynb", "b c&d=e.ipynb", "ünï ✓.ipynb", "x#y?z+w.ipynb", "k:v.ipynb",
         " lead, trail ", "%2C%", "tab\tnew\nline"]


def middleware_parameters(headers: dict[str, str]) -> dict[str, str]:
    """The parameters storlets' middleware hands the storlet for these request headers."""
    handler = StorletBaseHandler.__new__(StorletBaseHandler)
    handler._request = Request.blank("/v1/AUTH_a/c/o", headers=headers)
    handler._update_storlet_parameters_from_headers()
    return dict(handler.request.params)


@pytest.mark.parametrize("value", NAMES)
def test_parameters_round_trip_through_the_middleware(value):
    headers = parameter_headers({"names": value, "format": "json"})
    assert list(headers) == ["X-Storlet-Parameter-1", "X-Storlet-Parameter-2"]
    assert all(h.isascii() and " " not in h and "," not in h for h in headers.values())
    assert middleware_parameters(headers) == {"names": value, "format": "json"}
    assert unquote_parameter(headers["X-Storlet-Parameter-1"]) == ("names", value)


def test_plain_parameters_stay_readable():
    assert quote_parameter("format", "text") == "format:text"
    assert quote_parameter("mode", "a:b") == "mode:a:b"  # only the first ':' separates


@pytest.mark.parametrize("key", ["", "a:b"])
def test_a_key_the_middleware_would_split_is_refused(key):
    with pytest.raises(ParameterError, match="without ':'"):
        quote_parameter(key, "v")


@pytest.mark.parametrize("name", NAMES[:5] + ["dir/sub/ü,x.ipynb"])
def test_extra_resources_reach_the_object_named(name):
    header = run_headers("s.py", extra=[("c", name), ("c", "plain.ipynb")])["X-Storlet-Extra-Resources"]
    resources = list_from_csv(header)  # the proxy's own parsing
    assert len(resources) == 2 and resources[0] == resource_path("c", name)
    sub = make_subrequest(Request.blank("/v1/AUTH_a/c/o").environ, "GET",
                          "/v1/AUTH_a" + resources[0])
    assert sub.swift_entity_path == "/AUTH_a/c/" + name  # what the subrequest reads


def test_run_headers_every_option():
    h = run_headers("nbdiff.py", {"format": "text"}, on_proxy=True, extra=[("c", "a b")],
                    byte_range="bytes=0-9", generate_log=True)
    assert h == {"X-Run-Storlet": "nbdiff.py", "X-Storlet-Parameter-1": "format:text",
                 "X-Storlet-Run-On-Proxy": "", "X-Storlet-Extra-Resources": "/c/a%20b",
                 "X-Storlet-Range": "bytes=0-9", "X-Storlet-Generate-Log": "True"}
    assert run_headers("identity.py") == {"X-Run-Storlet": "identity.py"}


def test_upload_headers():
    h = storlet_object_headers("m.C", ["b.zip", "a.json"])
    assert h["X-Object-Meta-Storlet-Main"] == "m.C"
    assert h["X-Object-Meta-Storlet-Language"] == "python"
    assert h["X-Object-Meta-Storlet-Dependency"] == "a.json,b.zip"
    assert "X-Object-Meta-Storlet-Dependency" not in storlet_object_headers("m.C")
    assert dependency_object_headers("abc", "0755") == {
        "X-Object-Meta-Storlet-Dependency-Version": "abc",
        "X-Object-Meta-Storlet-Dependency-Permissions": "0755"}
    assert dependency_object_headers() == {"X-Object-Meta-Storlet-Dependency-Version": "1"}


def test_a_parameter_too_long_for_one_header_is_refused_before_sending():
    from swiftproto import protocol

    with pytest.raises(protocol.ParameterError, match="bytes once quoted"):
        protocol.quote_parameter("names", "ü" * 1500)  # 9,000+ bytes quoted
    assert len(protocol.quote_parameter("k", "ü" * 1000)) <= protocol.MAX_HEADER_BYTES
