"""The local harness enforces the storlets engine's rules."""
from __future__ import annotations

import sys
import time

import pytest

from swiftproto.harness import HarnessError, LocalResult, run_storlet
from storlets_apps.identity import IdentityStorlet


class Echo:
    """Copies input 0 and all extras; metadata lists input metadata."""

    def __init__(self, logger):
        self.logger = logger

    def __call__(self, in_files, out_files, params):
        self.logger.info("params %s" % sorted(params.items()))
        out_files[0].set_metadata({"Inputs": str(len(in_files)),
                                   "First": in_files[0].get_metadata().get("Tag", "")})
        for f in in_files:
            out_files[0].write(f.read())
            f.close()
        out_files[0].close()


def _storlet(body):
    """A storlet class whose __call__ is ``body(in_files, out_files, params)``."""
    return type("S", (), {"__init__": lambda self, logger: None,
                          "__call__": lambda self, i, o, p: body(i, o, p)})


def test_bytes_path_iterable_and_extras(tmp_path):
    path = tmp_path / "in.bin"
    path.write_bytes(b"from-file")
    result = run_storlet(Echo, path, metadata={"Tag": "t1"},
                         extra=[(b"-bytes", {}), (iter([b"-it", b"er"]), {})], params={"n": 3})
    assert isinstance(result, LocalResult)
    assert result.body == b"from-file-bytes-iter"
    assert result.metadata == {"Inputs": "3", "First": "t1"}
    assert "params [('n', '3')]" in result.log  # parameters arrive as strings


def test_instance_and_large_input():
    data = bytes(range(256)) * 20000  # 5 MB, more than any pipe buffer
    result = run_storlet(IdentityStorlet(None), data, metadata={"A": "b"})
    assert result.body == data and result.metadata == {"A": "b"}


def test_write_before_metadata_is_refused_even_if_caught():
    def body(i, o, p):
        try:
            o[0].write(b"early")
        except IOError:
            pass
        o[0].set_metadata({})
        i[0].close()
        o[0].close()
    with pytest.raises(HarnessError, match="write before set_metadata"):
        run_storlet(_storlet(body), b"x")


def test_metadata_twice():
    def body(i, o, p):
        o[0].set_metadata({})
        try:
            o[0].set_metadata({"b": "c"})
        finally:
            i[0].close()
            o[0].close()
    with pytest.raises(HarnessError, match="raised OSError"):
        run_storlet(_storlet(body), b"x")


def test_files_left_open():
    def body(i, o, p):
        o[0].set_metadata({})
        o[0].write(b"y")
    with pytest.raises(HarnessError, match="left 2 file"):
        run_storlet(_storlet(body), b"x")


def test_never_set_metadata():
    def body(i, o, p):
        i[0].close()
        o[0].close()
    with pytest.raises(HarnessError, match="never called set_metadata"):
        run_storlet(_storlet(body), b"x")


def test_raising_storlet():
    def body(i, o, p):
        raise ValueError("boom")
    with pytest.raises(HarnessError, match="raised ValueError: boom"):
        run_storlet(_storlet(body), b"x")


@pytest.mark.parametrize("md,match", [({"k": 1}, "str to str"), ({"k": "v" * 5000}, "4096")])
def test_bad_metadata(md, match):
    def body(i, o, p):
        o[0].set_metadata(md)
        i[0].close()
        o[0].close()
    with pytest.raises(HarnessError, match=match):
        run_storlet(_storlet(body), b"x")


def test_timeout():
    def body(i, o, p):
        time.sleep(5.0)
    started = time.monotonic()
    with pytest.raises(HarnessError, match="did not finish"):
        run_storlet(_storlet(body), b"x", timeout=0.2)
    assert time.monotonic() - started < 4.0  # gave up long before the storlet ended


def test_dependencies_dir_on_path_during_run(tmp_path):
    (tmp_path / "helper_dep_xyz.py").write_text("VALUE = 'dep'\n")

    def body(i, o, p):
        import helper_dep_xyz
        o[0].set_metadata({"v": helper_dep_xyz.VALUE})
        i[0].close()
        o[0].close()
    assert run_storlet(_storlet(body), b"x", dependencies_dir=tmp_path).metadata == {"v": "dep"}
    assert str(tmp_path) not in sys.path
    with pytest.raises(HarnessError, match="not a directory"):
        run_storlet(_storlet(body), b"x", dependencies_dir=tmp_path / "missing")
