from __future__ import annotations

from pathlib import Path

import pytest

from deploy.discover import find_storlets
from deploy.errors import DeployError
from deploy.objects import (Containers, DesiredObject, body_for_upload, differences, md5_hex,
                            plan, storlet_headers, storlet_object, validate_storlet_name)

from .storlet_src import write_storlet


def test_storlet_headers_follow_storlets_rules():
    headers = storlet_headers("identity.IdentityStorlet", {})
    assert headers == {
        "X-Object-Meta-Storlet-Language": "python",
        "X-Object-Meta-Storlet-Language-Version": "3",
        "X-Object-Meta-Storlet-Interface-Version": "1.0",
        "X-Object-Meta-Storlet-Object-Metadata": "no",
        "X-Object-Meta-Storlet-Main": "identity.IdentityStorlet",
    }
    with_deps = storlet_headers("a.A", {"b.zip": "1" * 32, "a.json": "2" * 32})
    assert with_deps["X-Object-Meta-Storlet-Dependency"] == "a.json,b.zip"


def test_dependency_change_changes_the_storlet_headers():
    before = storlet_headers("a.A", {"b.zip": "1" * 32})
    after = storlet_headers("a.A", {"b.zip": "3" * 32})
    assert before["X-Object-Meta-Deploy-Dependency-Digest"] != after["X-Object-Meta-Deploy-Dependency-Digest"]


@pytest.mark.parametrize("name, main", [("a.py", "b.A"), ("a.py", "a.b.A"), ("a.zip", "a.A"),
                                        ("a.py", "a")])
def test_engine_name_rules(name: str, main: str):
    with pytest.raises(DeployError):
        validate_storlet_name(name, main)


def test_plan_puts_dependencies_first(source_dir: Path):
    (source_dir / "_c.py").write_text("C = 1\n")
    write_storlet(source_dir, "s1", deps={"_c.py": "repo:_c.py"})
    plan_ = plan(find_storlets(source_dir), source_dir, Containers(dependency="d", storlet="s"))
    assert [o.path for o in plan_] == ["d/_c.py", "s/s1.py"]
    assert plan_[1].headers["X-Object-Meta-Storlet-Dependency"] == "_c.py"
    assert plan_[0].headers["X-Object-Meta-Storlet-Dependency-Version"] == plan_[0].md5[:12]


def test_conflicting_dependency_names(source_dir: Path):
    (source_dir / "_c.py").write_text("C = 1\n")
    (source_dir / "_d.py").write_text("D = 1\n")
    write_storlet(source_dir, "s1", deps={"c.py": "repo:_c.py"})
    write_storlet(source_dir, "s2", deps={"c.py": "repo:_d.py"})
    with pytest.raises(DeployError, match="use different names"):
        plan(find_storlets(source_dir), source_dir)


def test_differences():
    obj = DesiredObject("storlet", "a.py", b"x", storlet_headers("a.A", {}))
    same = {"etag": obj.md5, **{k.lower(): v for k, v in obj.headers.items()}}
    assert differences(obj, None) == ["missing"]
    assert differences(obj, same) == []
    assert differences(obj, {**same, "etag": "0" * 32}) == ["content differs"]
    stale = {**same, "x-object-meta-storlet-dependency": "old.zip"}
    assert differences(obj, stale) == ["x-object-meta-storlet-dependency is 'old.zip', want None"]
    assert differences(obj, {**same, "x-object-meta-other": "kept"}) == []


def test_same_size_storlet_update_is_padded():
    obj = storlet_object("storlet", "a.py", b"v2", storlet_headers("a.A", {}))
    assert body_for_upload(obj, None) == b"v2"
    assert body_for_upload(obj, {"Content-Length": "2"}) == b"v2\n"   # engine sees a new size
    assert body_for_upload(obj, {"content-length": "3"}) == b"v2"
    deployed = {"etag": md5_hex(b"v2\n"), **{k.lower(): v for k, v in obj.headers.items()}}
    assert differences(obj, deployed) == []  # the padded copy counts as deployed


@pytest.mark.parametrize("name", ["../x.py", ".x.py", "a\x00.py", "a..b.py",
                                  "x" * 253 + ".py"])
def test_unsafe_storlet_names_are_refused(name: str):
    with pytest.raises(DeployError):
        validate_storlet_name(name, f"{name[:-3]}.A")
