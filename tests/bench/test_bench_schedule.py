"""The benchmark's paced loop (bench.py wait_until_due) on a clock the test drives:
a schedule that falls behind is reported as lateness, never a crash.

`tests/bench/run.sh 1000` once ended in its host round with `ValueError: sleep
length must be non-negative` from `time.sleep(min(0.01, due - time.time()))`: the
clock was read twice, and the second read came after `due`. The fake clock below
makes that happen on purpose."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench", Path(__file__).resolve().parent / "bench.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


class Clock:
    """time.time() that returns the scripted readings first, then the time the fake
    sleep has reached; sleep() refuses a negative length as time.sleep does."""

    def __init__(self, start, readings=()):
        self.now = start
        self.readings = list(readings)
        self.sleeps = []

    def time(self):
        if self.readings:
            self.now = self.readings.pop(0)
        return self.now

    def sleep(self, seconds):
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        self.sleeps.append(seconds)
        self.now += seconds


def old_wait(due, clock):
    """The loop as it was (bench.py before the fix), for the reproduction."""
    while clock.time() < due:
        clock.sleep(min(0.01, due - clock.time()))


def test_the_old_loop_crashes_when_the_clock_passes_due_between_two_reads():
    clock = Clock(100.0, readings=[99.999, 100.2])   # not due yet ... then 0.2 s late
    with pytest.raises(ValueError, match="non-negative"):
        old_wait(100.0, clock)


def test_late_between_two_reads_is_reported_not_a_crash():
    clock = Clock(100.0, readings=[100.2])
    assert bench.wait_until_due(100.0, clock=clock.time, sleep=clock.sleep) == pytest.approx(0.2)
    assert clock.sleeps == []


def test_on_time_waits_in_small_steps_and_is_not_late():
    clock = Clock(99.95)
    late = bench.wait_until_due(100.0, clock=clock.time, sleep=clock.sleep)
    assert late == pytest.approx(0.0, abs=1e-9)
    assert all(0 < s <= 0.01 for s in clock.sleeps) and sum(clock.sleeps) == pytest.approx(0.05)


def test_a_whole_schedule_that_falls_behind_gives_its_figures():
    """Sends due every 1/3 s; the work after send 2 takes 2 s, so sends 3 to 7 are
    late by a shrinking amount (1.67 s, 1.34 s, ... 0.34 s) and send 8 is on time again
    within 50 ms."""
    clock = Clock(0.0)
    late = []
    for i in range(10):
        late.append(bench.wait_until_due(i / 3.0, clock=clock.time, sleep=clock.sleep))
        clock.now += 2.0 if i == 2 else 0.001      # the work of one send
    fig = bench.schedule_lateness(late)
    assert fig["sends"] == 10
    assert fig["late"] == 5                      # sends 3..7 more than 50 ms late
    assert fig["max_late_ms"] == pytest.approx(1666.7, abs=0.5)
    assert late[8] < 0.05 and late[9] == pytest.approx(0.0, abs=1e-9)   # caught up


def test_no_sends_no_figures():
    assert bench.schedule_lateness([]) == {"sends": 0, "late": 0, "late_threshold_ms": 50,
                                           "max_late_ms": None, "p50_late_ms": None}
