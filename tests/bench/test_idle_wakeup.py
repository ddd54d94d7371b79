"""Units of bench/idle_wakeup.py: the kernel counters, the measure after an idle
time, and the two-process path (no Swift)."""
from __future__ import annotations

import multiprocessing

from bench import idle_wakeup as iw


def test_vmstat_reads_the_counters_it_reports():
    got = iw.vmstat()
    assert set(got) == set(iw.VMSTAT_KEYS)
    assert all(isinstance(v, int) and v >= 0 for v in got.values())


def test_after_idle_times_one_first_call_then_the_warm_ones():
    calls = []
    got = iw.after_idle(lambda: calls.append(1), idle=0.01, warm_calls=5)
    assert len(calls) == 6
    assert got["cold"] >= 0 and got["warm"] >= 0
    assert set(got["vmstat"]) == set(iw.VMSTAT_KEYS)


def test_the_echo_worker_answers_each_request_and_ends_on_quit():
    ours, theirs = multiprocessing.Pipe()
    worker = multiprocessing.Process(target=iw.echo_worker, args=(theirs,), daemon=True)
    worker.start()
    for _ in range(3):
        ours.send_bytes(b"go")
        assert ours.recv_bytes() == b"ok"
    ours.send_bytes(b"quit")
    worker.join(10)
    assert worker.exitcode == 0
