"""The engine's decisions as pure functions: freshness, keeping and damping, with no thread and no clock."""

from __future__ import annotations

import pytest

from flask_status.definitions import Field
from flask_status.engine import policy
from flask_status.engine.policy import Damping, Timing
from flask_status.results import FieldResult


def _result(status: str = "pass", at: float = 0.0, **extra: object) -> FieldResult:
    return FieldResult("db", status, observed_at=at, **extra)  # type: ignore[arg-type]


def test_timing_resolves_a_fields_options_over_the_apps_defaults() -> None:
    own = policy.resolve_timing(Field("db", lambda: 1, ttl=30, timeout=2), default_ttl=5, failure_ttl=4, timeout=9)
    assert own == Timing(ttl=30.0, failure_ttl=4.0, timeout=2.0)
    default = policy.resolve_timing(Field("db", lambda: 1), default_ttl=None, failure_ttl=4, timeout=9)
    assert (default.ttl, default.cached, default.timeout) == (0.0, False, 9.0)
    periodic = policy.resolve_timing(Field("db", lambda: 1, interval=10), default_ttl=60, failure_ttl=4, timeout=9)
    assert (periodic.periodic, periodic.ttl, periodic.failure_ttl) == (True, 10.0, 10.0)


@pytest.mark.parametrize(
    ("result", "now", "expected"),
    [
        (_result("pass"), 9.9, "fresh"),
        (_result("pass"), 10.0, "stale"),
        (_result("pass"), 69.9, "stale"),
        (_result("pass"), 70.0, "expired"),
        (_result("fail"), 1.9, "fresh"),  # a failure is kept for failure_ttl only
        (_result("fail"), 2.0, "stale"),
        (_result("fail", error="TimeoutError: x", timed_out=True), 0.0, "expired"),  # a timeout is never kept
        (_result("fail", pending=True), 0.0, "expired"),
    ],
)
def test_freshness(result: FieldResult, now: float, expected: str) -> None:
    timing = Timing(ttl=10.0, failure_ttl=2.0, stale=60.0)
    assert policy.freshness(timing, result, now) == expected


def test_without_stale_an_old_result_is_expired() -> None:
    assert policy.freshness(Timing(ttl=10.0, failure_ttl=2.0), _result(), 10.0) == "expired"


def test_a_damped_failure_is_kept_as_briefly_as_a_failure() -> None:
    timing = Timing(ttl=30.0, failure_ttl=5.0)
    warned = _result("warn")
    assert policy.fresh_for(timing, warned) == 30.0
    assert policy.fresh_for(timing, warned, damped=True) == 5.0


def test_keep_for_covers_the_stale_window_and_a_few_missed_periodic_runs() -> None:
    assert policy.keep_for(Timing(ttl=10.0, failure_ttl=2.0, stale=60.0), _result()) == 70.0
    assert policy.keep_for(Timing(ttl=10.0, failure_ttl=10.0, timeout=3.0, interval=10.0), _result()) == 33.0


def test_a_periodic_timeout_stays_until_the_next_run() -> None:
    timing = Timing(ttl=10.0, failure_ttl=10.0, interval=10.0)
    assert policy.fresh_until(timing, _result("fail", at=5.0, timed_out=True)) == 15.0


def test_damping_fails_after_n_failed_runs_and_recovers_after_m_passes() -> None:
    state = Damping()
    reported = []
    for status in ["fail", "fail", "fail", "pass", "pass", "fail"]:
        state, result = policy.damp(state, _result(status), fail_after=3, recover_after=2)
        reported.append(result.status)
    assert reported == ["warn", "warn", "fail", "fail", "pass", "warn"]
    assert state == Damping("warn", 1, 0)


def test_damping_notes_say_how_far_along_it_is() -> None:
    _, first = policy.damp(Damping(), _result("fail"), fail_after=2, recover_after=1)
    assert first.message == "failed 1 of 2 runs needed to fail"
    _, recovering = policy.damp(Damping("fail", 2, 0), _result("pass"), fail_after=2, recover_after=3)
    assert (recovering.status, recovering.message) == ("fail", "recovering: passed 1 of 3 runs needed")


def test_no_damping_is_the_identity() -> None:
    result = _result("fail")
    assert policy.damp(Damping(), result, fail_after=1, recover_after=1) == (Damping(), result)


def test_an_unconfirmed_timeout_warns_until_enough_runs_failed() -> None:
    timed_out = _result("fail", timed_out=True)
    assert policy.damp_unconfirmed(Damping(), timed_out, fail_after=3).status == "warn"
    assert policy.damp_unconfirmed(Damping("warn", 3, 0), timed_out, fail_after=3).status == "fail"
    assert policy.damp_unconfirmed(Damping("fail", 1, 0), timed_out, fail_after=3).status == "fail"
