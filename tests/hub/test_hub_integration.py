"""JupyterHub, one server per user on Swift (swiftcontents.hub), against the session s2aio.

alice and bob each save and list only their own notebooks; alice cannot read or
list bob's through her server's contents API, its REST endpoints, the magics and
Swift calls in her kernel, or a storlet's extra resources; a JupyterHub admin and
the Swift reseller admin can. See tests/hub/conftest.py for who is who.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
import swiftclient

from swiftcontents.hub import container_for, is_swift_variable
from tests import leakscan
from tests.hub.conftest import CONTAINERS, HOSTILE, SWIFT_USERS, notebook
from tests.hub.harness import HUB_ADMIN, descendants, request
from tests.hub.kernel import Kernel

pytestmark = pytest.mark.integration



def bob_spellings(account: str) -> list[str]:
    """Ways to name bob's notebook from alice's side: relative, encoded, absolute,
    through his account's name (AUTH_test2 on tempauth, AUTH_<project id> on keystone)."""
    return [
        "../nb-bob/b.ipynb", "..%2Fnb-bob%2Fb.ipynb", "%2e%2e/nb-bob/b.ipynb",
        "%252e%252e%252Fnb-bob%252Fb.ipynb", "nb-bob/b.ipynb", "/nb-bob/b.ipynb",
        f"../../{account}/nb-bob/b.ipynb", f"..%2F..%2F{account}%2Fnb-bob%2Fb.ipynb",
        f"%2Fv1%2F{account}%2Fnb-bob%2Fb.ipynb", "b.ipynb", "..\\nb-bob\\b.ipynb",
    ]


def names(resp) -> set[str]:
    assert resp.status == 200, (resp.status, resp.text)
    return {entry["name"] for entry in resp.json()["content"]}


def swift_names(s2aio, user: str) -> set[str]:
    conn = s2aio.connection(SWIFT_USERS[user])
    try:
        return {o["name"] for o in conn.get_container(CONTAINERS[user], full_listing=True)[1]}
    finally:
        conn.close()


def test_each_user_saves_and_lists_only_their_own(hub_setup, s2aio):
    h = hub_setup
    assert names(h.get("alice", "api/contents")) == {"a.ipynb"}
    assert names(h.get("bob", "api/contents")) == {"b.ipynb"}
    for user, name in (("alice", "a.ipynb"), ("bob", "b.ipynb")):
        model = h.get(user, f"api/contents/{name}").json()
        assert h.markers[user] in json.dumps(model["content"])
    # In Swift: each notebook in its owner's account, under nb-<user>, nowhere else.
    assert swift_names(s2aio, "alice") == {"a.ipynb"}
    assert swift_names(s2aio, "bob") == {"b.ipynb"}
    for user, other in (("alice", "bob"), ("bob", "alice")):
        conn = s2aio.connection(SWIFT_USERS[user])
        try:
            containers = {c["name"] for c in conn.get_account(full_listing=True)[1]}
        finally:
            conn.close()
        assert CONTAINERS[user] in containers and CONTAINERS[other] not in containers
    # alice's account runs the storlets: her save was validated inside Swift.
    saved = h.get("alice", "api/contents/a.ipynb?content=0&type=notebook").json()
    assert saved["swift_validation"]["valid"] is True


def test_alice_cannot_reach_bobs_notebooks_through_the_contents_api(hub_setup, s2aio):
    h, bob_marker = hub_setup, hub_setup.markers["bob"]
    for spelling in bob_spellings(h.account("bob")):
        for path in (f"api/contents/{spelling}", f"api/contents/{spelling}?content=1",
                     f"api/contents/{spelling.rpartition('b.ipynb')[0] or '..'}"):
            resp = h.get("alice", path)
            assert bob_marker not in resp.text, (path, resp.status)
            assert resp.status != 200 or "b.ipynb" not in {
                e["name"] for e in resp.json().get("content") or [] if isinstance(e, dict)}, path
    # Copy, rename and save onto his side are refused; nothing of his changes.
    resp = h.get("alice", "api/contents", method="POST", body={"copy_from": "../nb-bob/b.ipynb"})
    assert resp.status >= 400 and bob_marker not in resp.text
    resp = h.get("alice", "api/contents/a.ipynb", method="PATCH", body={"path": "../nb-bob/x.ipynb"})
    assert resp.status == 400
    resp = h.get("alice", "api/contents/..%2Fnb-bob%2Fb.ipynb", method="PUT",
                 body=notebook("overwritten by alice"))
    assert resp.status == 400
    assert swift_names(s2aio, "bob") == {"b.ipynb"} and swift_names(s2aio, "alice") == {"a.ipynb"}
    # Her hub token does not open his server, nor does no token at all.
    for token_of in ("alice", HOSTILE):
        resp = h.get("bob", "api/contents/b.ipynb", token_of=token_of)
        assert resp.status == 403 and bob_marker not in resp.text, (token_of, resp.status)
    resp = request(h.url("bob", "api/contents/b.ipynb"))
    assert resp.status in (302, 403) and bob_marker not in resp.text


def test_alice_cannot_reach_bobs_notebooks_through_the_rest_endpoints(hub_setup):
    h, bob_marker = hub_setup, hub_setup.markers["bob"]
    listing = h.get("alice", "api/swiftcontents/listing/")
    assert listing.status == 200, listing.text
    assert [e["name"] for e in listing.json()["notebooks"]] == ["a.ipynb"]
    assert h.markers["alice"] in listing.text  # her title, computed inside Swift
    for spelling in bob_spellings(h.account("bob")):
        for endpoint in ("listing", "validate", "diff"):
            target = spelling if endpoint != "listing" else spelling.rpartition("/")[0] or ".."
            resp = h.get("alice", f"api/swiftcontents/{endpoint}/{target}?checkpoint=x")
            assert bob_marker not in resp.text, (endpoint, target, resp.status)
            if resp.status == 200:  # a listing of a directory of hers by that name
                assert endpoint == "listing" and not resp.json()["notebooks"], (target, resp.text)
    for checkpoint in ("../../nb-bob/b.ipynb", "..%2F..%2Fnb-bob%2Fb.ipynb", "/nb-bob/b.ipynb"):
        resp = h.get("alice", f"api/swiftcontents/diff/a.ipynb?checkpoint={quote(checkpoint)}")
        assert resp.status >= 400 and bob_marker not in resp.text, (checkpoint, resp.status)


KERNEL_PROBE = r'''
import hashlib, json, os
import requests, swiftclient
from IPython.core.error import UsageError
from swiftproto import connect
report = {"env": {k: os.environ.get(k) for k in IDENTITY},
          "env_hashes": sorted(hashlib.sha256(v.encode()).hexdigest() for v in os.environ.values())}
ip = get_ipython()
ip.run_line_magic("load_ext", "ipython_ext")

def magic(line):
    try:
        res = ip.run_line_magic("get", line + " -o _res")
        res = ip.user_ns["_res"]
        text = res.content.decode("utf-8", "replace")
        return {"status": res.status, "marker": MARKER in text, "own": text.count(OWN)}
    except UsageError as exc:
        return {"error": str(exc)[:300], "marker": MARKER in str(exc)}

report["own"] = magic("--storlet identity.py --input path:/nb-alice/a.ipynb")
report["input"] = magic("--storlet identity.py --input path:/nb-bob/b.ipynb")
report["extras"] = {extra: magic(f"--storlet identity.py --input path:/nb-alice/a.ipynb --extra '{extra}'")
                    for extra in ["path:/nb-alice/a.ipynb", *EXTRAS]}

url, token = connect().get_auth()
report["her_url"] = url
direct = {}
for name, call in {
        "head_account": lambda: swiftclient.head_account(BOB_URL, token),
        "get_account": lambda: swiftclient.get_account(BOB_URL, token),
        "get_container": lambda: swiftclient.get_container(BOB_URL, token, "nb-bob"),
        "get_object": lambda: swiftclient.get_object(BOB_URL, token, "nb-bob", "b.ipynb"),
        "put_object": lambda: swiftclient.put_object(BOB_URL, token, "nb-bob", "x", b"x"),
        "storlet_on_his": lambda: swiftclient.get_object(
            BOB_URL, token, "nb-bob", "b.ipynb", headers={"X-Run-Storlet": "identity.py"}),
        }.items():
    try:
        out = call()
        direct[name] = {"reached": True, "marker": MARKER in repr(out)}
    except swiftclient.ClientException as exc:
        direct[name] = {"status": exc.http_status}
report["direct"] = direct
raw = {}
for header in RAW_EXTRAS:
    r = requests.get(f"{url}/nb-alice/a.ipynb", timeout=60, headers={
        "X-Auth-Token": token, "X-Run-Storlet": "identity.py",
        "X-Storlet-Extra-Resources": header})
    raw[header] = {"status": r.status_code, "marker": MARKER in r.text, "own": r.text.count(OWN)}
report["raw"] = raw
print("REPORT" + json.dumps(report))
'''
# Who the kernel is (one of the two auth modes) and what the hub's must not give it.
IDENTITY = ("ST_AUTH", "ST_USER", "OS_AUTH_URL", "OS_USERNAME", "OS_PROJECT_NAME",
            "OS_AUTH_TOKEN", "OS_STORAGE_URL")


def magic_extras(account: str) -> list[str]:
    return ["path:/nb-bob/b.ipynb", f"path:/../{account}/nb-bob/b.ipynb",
            f"path:/{account}/nb-bob/b.ipynb", f"path:/%2e%2e/{account}/nb-bob/b.ipynb"]


def raw_extras(account: str) -> list[str]:
    return ["/nb-alice/a.ipynb", "/nb-bob/b.ipynb", f"/../{account}/nb-bob/b.ipynb",
            f"//{account}/nb-bob/b.ipynb", f"/v1/{account}/nb-bob/b.ipynb",
            f"/%2E%2E/{account}/nb-bob/b.ipynb", f"/nb-alice/../../{account}/nb-bob/b.ipynb",
            f"../{account}/nb-bob/b.ipynb"]


def test_alices_kernel_holds_only_her_credentials_and_cannot_reach_bob(hub_setup, s2aio):
    h = hub_setup
    account = h.account("bob")
    code = (f"MARKER = {h.markers['bob']!r}\nOWN = {h.markers['alice']!r}\n"
            f"BOB_URL = {h.storage_urls['bob']!r}\nEXTRAS = {magic_extras(account)!r}\n"
            f"RAW_EXTRAS = {raw_extras(account)!r}\nIDENTITY = {IDENTITY!r}\n" + KERNEL_PROBE)
    kernel = Kernel(h.url("alice"), h.tokens["alice"])
    try:
        out = kernel.execute(code)
    finally:
        kernel.shutdown()
    assert not out.errors and "REPORT" in out.stdout, out.text
    report = json.loads(out.stdout.split("REPORT", 1)[1])
    # Her own identity, never the hub's admin token, never bob's key.
    assert report["env"] == {k: h.envs["alice"].get(k) for k in IDENTITY}
    assert report["env"]["OS_AUTH_TOKEN"] is None and report["env"]["OS_STORAGE_URL"] is None
    digest = {what: hashlib.sha256(secret.encode()).hexdigest() for what, secret in h.secrets.items()}
    assert digest["alice's key"] in report["env_hashes"]
    for what in ("bob's key", "the reseller admin key", "the hub's admin token"):
        assert digest[what] not in report["env_hashes"], what
    assert report["her_url"] == h.storage_urls["alice"]
    # The magics: her notebook through a storlet, yes (the control); bob's, in no spelling.
    assert report["own"] == {"status": 200, "marker": False, "own": 1}, report["own"]
    assert "error" in report["input"] and not report["input"]["marker"], report["input"]
    # Her own notebook as an extra resource follows the input (the control)...
    assert report["extras"].pop("path:/nb-alice/a.ipynb")["own"] == 2
    assert report["raw"].pop("/nb-alice/a.ipynb") == {"status": 200, "marker": False, "own": 2}
    # ... his, in no spelling.
    for extra, result in report["extras"].items():
        assert not result["marker"], (extra, result)
    # Her token on his account: refused, whatever the call.
    for name, result in report["direct"].items():
        assert result.get("status") in (401, 403), (name, result)
    # Extra resources resolve inside her account: no spelling reaches his.
    for header, result in report["raw"].items():
        assert not result["marker"], (header, result)
    assert swift_names(s2aio, "bob") == {"b.ipynb"}


def test_admins_can_read_every_users_notebooks(hub_setup, s2aio):
    h = hub_setup
    # The JupyterHub admin role (access:servers) opens any user's server.
    for user, name in (("alice", "a.ipynb"), ("bob", "b.ipynb")):
        resp = h.get(user, f"api/contents/{name}", token_of=HUB_ADMIN)
        assert resp.status == 200 and h.markers[user] in resp.text, (user, resp.status)
    # The Swift reseller admin reads every account directly.
    token = s2aio.admin_token()
    for user, name in (("alice", "a.ipynb"), ("bob", "b.ipynb")):
        _, body = swiftclient.get_object(h.storage_urls[user], token, CONTAINERS[user], name)
        assert h.markers[user].encode() in body


def test_a_hostile_username_gets_a_container_of_its_own(hub_setup, s2aio):
    h = hub_setup
    # SwiftContentsManager's own template would have given it alice's aux container.
    naive = "nb-" + re.sub(r"[^A-Za-z0-9_.-]", "-", HOSTILE)
    assert naive == "nb-alice_swiftcontents" != container_for(HOSTILE) == CONTAINERS[HOSTILE]
    assert names(h.get(HOSTILE, "api/contents")) == {"h.ipynb"}
    assert swift_names(s2aio, HOSTILE) == {"h.ipynb"}
    conn = s2aio.connection("test")
    try:
        aux = {o["name"] for o in conn.get_container("nb-alice_swiftcontents",
                                                     full_listing=True)[1]}
    finally:
        conn.close()
    assert not any("h.ipynb" in name for name in aux), aux
    # Each working dir is named by the escaped username, inside the hub's state dir.
    homes = {p.name for p in (h.hub.state / "home").iterdir()}
    assert homes == {"alice", "bob", "alice-5fswiftcontents"}


def test_a_user_without_swift_credentials_gets_no_server(hub_setup):
    h = hub_setup
    for name in ("mallory", "bob%2f..", "bob\u202e"):
        h.hub.add_user(name)
        resp = h.hub.request_spawn(name)
        assert resp.status == 403, (name, resp.status, resp.text)
        assert "has no Swift credentials" in resp.json()["message"]
        model = h.hub.api("GET", f"users/{quote(name, safe='')}").json()
        assert not model.get("servers") and not model.get("pending")


DUMMY_WARNING = b"Using testing authenticator DummyAuthenticator!"


def _secret_patterns(secrets: dict[str, str]) -> dict[str, re.Pattern]:
    # The test keys are common words: whole words only (as tests/leakscan.py).
    return {what: re.compile(rb"(?<![\w.-])%s(?![\w.-])" % re.escape(s.encode()))
            for what, s in secrets.items()}


def test_credentials_go_by_environment_never_argv_or_logs(hub_setup):
    h = hub_setup
    patterns = _secret_patterns(h.secrets)
    servers = {}
    for pid in descendants(h.hub.proc.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert not leakscan.findings_in(f"argv of {pid}", argv, patterns)
        for user, container in CONTAINERS.items():
            if f"--SwiftContentsManager.container={container}\0".encode() in argv + b"\0":
                servers[user] = pid
    assert set(servers) == set(SWIFT_USERS), servers
    environ = dict(item.decode().split("=", 1) for item in
                   Path(f"/proc/{servers['alice']}/environ").read_bytes().split(b"\0") if item)
    # Her record, exactly (her key included), and no other Swift variable.
    assert {k: v for k, v in environ.items() if is_swift_variable(k)} == h.envs["alice"]
    # The hub's log (the servers' output included) and everything else it wrote.
    found = []
    for path in sorted(h.hub.state.rglob("*")):
        if path.is_file() and path.name != "hub_config.py":
            # s2aio's test key for alice is the word "testing", which JupyterHub's
            # own warning about the test authenticator holds.
            data = path.read_bytes().replace(DUMMY_WARNING, b"")
            found += leakscan.findings_in(str(path), data, patterns)
    assert not found, found
    assert "Swift for hub user 'alice': container nb-alice" in h.hub.log_path.read_text()
