"""Units of bench/engine_floor.py (CPU from /proc, the report) and of the null
gateway's guard and reader (in a child interpreter: it must import cleanly there)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from bench import engine_floor as ef
from tests.conftest import REPO

BENCH = REPO / "bench"


def stat_line(comm: str, utime: int, stime: int, cutime: int, cstime: int) -> str:
    # fields after the command: state ppid pgrp session tty tpgid flags minflt
    # cminflt majflt cmajflt utime stime cutime cstime priority ...
    rest = ["S", "1", "1", "1", "0", "-1", "4194560", "10", "0", "0", "0",
            str(utime), str(stime), str(cutime), str(cstime), "20", "0", "1"]
    return f"4242 ({comm}) " + " ".join(rest) + "\n"


@pytest.mark.parametrize("comm", ["python3", "a) b (c", "x ) 1 2 3 4 5"])
def test_stat_ticks_adds_own_and_reaped_children_times(comm):
    assert ef.stat_ticks(stat_line(comm, 7, 3, 100, 20)) == 130


def test_stat_ticks_of_a_real_process():
    with open(f"/proc/{os.getpid()}/stat") as f:
        assert ef.stat_ticks(f.read()) >= 0


def test_groups_name_sandboxes_and_backends():
    assert ef.group_of("sandbox-object-test") == "storlet sandbox"
    assert ef.group_of("object") == "object server"
    assert ef.group_of("account") == ef.group_of("container") == "account+container"
    assert ef.group_of("proxy") == "proxy"
    assert ef.group_of("memcached") == "memcached"


def test_per_call_subtracts_idle_and_keeps_a_batchs_sign():
    before = {"proxy": 1.0, "object server": 2.0}
    after = {"proxy": 1.5, "object server": 2.01, "storlet sandbox": 0.3}
    idle = {"proxy": 0.1, "object server": 0.1}
    got = ef.per_call(before, after, calls=10, idle=idle, elapsed=1.0)
    assert got["proxy"] == pytest.approx(0.04)  # (0.5 - 0.1) / 10
    # less than its idle burn: negative in one batch (clamping each batch would bias
    # the sum of batches upwards)
    assert got["object server"] == pytest.approx(-0.009)
    assert got["storlet sandbox"] == pytest.approx(0.03)  # appeared meanwhile


def rows(floor_ms: float, real_ms: float, floor_cpu: float, real_cpu: float) -> list[ef.Row]:
    """The http.client latencies are the swiftclient ones less 1 ms."""
    return [ef.Row("floor", "plain GET", 5.0, 4.0, 4.0, 4.0),
            ef.Row("floor", "identity, object server", floor_ms, floor_ms - 1,
                   floor_cpu, floor_cpu),
            ef.Row("floor", "identity, proxy", floor_ms, floor_ms - 1, floor_cpu, floor_cpu),
            ef.Row("real", "plain GET", 10.0, 9.0, 2.0, 2.0),
            ef.Row("real", "identity, object server", real_ms, real_ms - 1,
                   real_cpu, real_cpu),
            ef.Row("real", "identity, proxy", real_ms, real_ms - 1, real_cpu, real_cpu)]


def test_table_divides_each_setup_by_its_own_plain_get():
    lines = ef.table(rows(6.0, 18.0, 5.0, 5.0))
    floor = next(line for line in lines if line.startswith("| floor | identity, object"))
    real = next(line for line in lines if line.startswith("| real | identity, object"))
    assert "| 1.20x |" in floor and "| 1.25x |" in floor  # 6 / 5 ms, CPU 5 / 4 ms
    assert "| 5.00 ms | 1.25x |" in floor  # http.client: 5 / 4 ms
    assert "| 1.80x |" in real and "| 2.50x |" in real
    assert "| 17.00 ms | 1.89x |" in real  # http.client: 17 / 9 ms


def test_headroom_says_what_the_engine_may_add():
    assert "(met)" in ef.headroom(1.1, 1.4, 1.5)
    assert "cut it by 0.30" in ef.headroom(1.1, 1.8, 1.5)
    assert "not reachable without an upstream change" in ef.headroom(1.6, 2.0, 1.5)


def test_summary_gives_upstreams_share_of_the_extra():
    text = "\n".join(ef.summary(rows(6.0, 18.0, 5.0, 5.0)))
    assert "12% of the extra time (+1.00 of +8.00 ms)" in text  # swiftclient
    assert "http.client: latency floor 1.25x, real 1.89x" in text
    assert "33% of the extra CPU (+1.00 of +3.00 ms)" in text


def run_child(code: str, env_on: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ef.NULL_GATEWAY_ENV}
    if env_on:
        env[ef.NULL_GATEWAY_ENV] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH), str(REPO)])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_null_gateway_refuses_to_load_outside_the_benchmark():
    done = run_child("import _null_gateway", env_on=False)
    assert done.returncode != 0
    assert "loads only with S2AIO_BENCH_NULL_GATEWAY=1" in done.stderr


def test_null_gateway_names_match_the_benchmarks():
    done = run_child("""
        import _null_gateway as g
        print(g.NULL_GATEWAY_ENV, g.MARK_HEADER, g.NullStorletGateway.__module__)
    """, env_on=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [ef.NULL_GATEWAY_ENV, ef.MARK_HEADER, "_null_gateway"]
    assert ef.NULL_GATEWAY_CLASS == "_null_gateway.NullStorletGateway"


def test_null_gateway_reads_the_whole_file_from_its_start_and_closes_its_fd(tmp_path):
    data = os.urandom(200_000)
    (tmp_path / "obj").write_bytes(data)
    done = run_child(f"""
        import os, _null_gateway as g
        fd = os.open({str(tmp_path / "obj")!r}, os.O_RDONLY)
        os.lseek(fd, 1000, os.SEEK_SET)  # the server's reader moved the shared offset
        body = b"".join(g.read_fd(fd, chunk=4096))
        assert body == open({str(tmp_path / "obj")!r}, "rb").read(), len(body)
        try:
            os.fstat(fd)
            raise SystemExit("fd left open")
        except OSError:
            pass
        fd = os.open({str(tmp_path / "obj")!r}, os.O_RDONLY)
        it = g.read_fd(fd, chunk=4096)
        next(it)
        it.close()  # the client went away after one chunk
        try:
            os.fstat(fd)
            raise SystemExit("fd left open after an early close")
        except OSError:
            pass
        print("ok")
    """, env_on=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_stages_add_up_to_the_real_engines_extra_on_the_floors_scale():
    table = rows(6.0, 18.0, 5.0, 5.0) + [
        ef.Row("floor", ef.PIPE_WAY, 7.0, 6.0, 6.0, 6.0)]
    lines = ef.stages(table)
    got = {line.split(" | ")[0].strip("| "): line for line in lines[3:]}
    assert got["upstream's middleware"].endswith("| +1.00 ms | +1.00 ms | +1.00 ms |")
    assert got["output via a pipe + upstream's reader"].endswith(
        "| +1.00 ms | +1.00 ms | +1.00 ms |")
    # real 18 / 10 ms of its own plain GET -> 9.00 ms on the floor's 5 ms; less the pipe's 7
    assert "| SBus, daemon, task process, storlet | +2.00 ms |" in lines[5]
    # all: 9.00 - 5.00 (swiftclient); 17 / 9 * 4 - 4 = 3.56 (http.client); 5 / 2 * 4 - 4 = 6
    assert got["all"].endswith("| +4.00 ms | +3.56 ms | +6.00 ms |")


def test_no_stages_without_the_pipe_way():
    assert ef.stages(rows(6.0, 18.0, 5.0, 5.0)) == []


def test_null_gateway_pipe_streams_the_file_and_stops_when_its_reader_goes(tmp_path):
    data = os.urandom(300_000)  # more than a pipe holds: the writer must wait for the reader
    (tmp_path / "obj").write_bytes(data)
    done = run_child(f"""
        import os, eventlet, _null_gateway as g
        from eventlet.hubs import trampoline

        def closed(fd):
            try:
                os.fstat(fd)
                return False
            except OSError:
                return True

        src = os.open({str(tmp_path / "obj")!r}, os.O_RDONLY)
        r = g.pipe_from(src)
        out = b""
        while True:
            trampoline(r, read=True)
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
        assert out == open({str(tmp_path / "obj")!r}, "rb").read(), len(out)
        eventlet.sleep(0.05)
        assert closed(src), "source fd left open"
        os.close(r)

        src = os.open({str(tmp_path / "obj")!r}, os.O_RDONLY)
        r = g.pipe_from(src)
        trampoline(r, read=True)
        os.read(r, 1000)
        os.close(r)  # the client went away
        eventlet.sleep(0.2)
        assert closed(src), "source fd left open after the reader went"
        print("ok")
    """, env_on=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


class FakeMeter:
    """CPU so far by group, advanced by the calls themselves."""

    def __init__(self) -> None:
        self.seconds = {"proxy": 0.0, "memcached": 0.0}

    def snapshot(self) -> dict[str, float]:
        return dict(self.seconds)

    def idle_rate(self) -> dict[str, float]:
        return {}


def test_cpu_rounds_interleaves_batches_and_averages_per_call(monkeypatch):
    monkeypatch.setattr(ef, "SETTLE_S", 0.0)
    meter, order = FakeMeter(), []

    def way(name: str, cost: float):
        def call() -> None:
            order.append(name)
            meter.seconds["proxy"] += cost
        return call

    got = ef.cpu_rounds({("floor", "a"): way("a", 0.002), ("floor", "b"): way("b", 0.005)},
                        {"floor": meter}, calls=10, batch=4)
    assert order == ["a"] * 4 + ["b"] * 4 + ["a"] * 4 + ["b"] * 4 + ["a"] * 2 + ["b"] * 2
    assert got[("floor", "a")]["proxy"] == pytest.approx(0.002)
    assert got[("floor", "b")]["proxy"] == pytest.approx(0.005)
    assert got[("floor", "a")]["memcached"] == 0.0
