"""Recovery bench: rates and recovery time read off the harvested env-step timeline."""

import pytest

from marl_alloc.bench import recovery, transition_accounts


def _timeline(points):
    timeline = recovery.Timeline()
    for t, steps in points:
        timeline.add(t, steps)
    return timeline


def test_rate_counts_steps_harvested_in_the_interval():
    timeline = _timeline([(1.0, 100), (2.0, 100), (3.0, 300)])
    assert timeline.rate(1.0, 3.0) == pytest.approx(200.0)  # (1, 3]: 100 + 300
    assert timeline.rate(0.0, 1.0) == pytest.approx(100.0)
    assert timeline.steps_until(0.5) == 0


def test_recovery_is_the_start_of_the_first_window_back_at_90_percent():
    # 100 steps/s, a kill at t=10, nothing for 2 s, then 95 steps/s.
    points = [(t / 10, 10) for t in range(1, 101)]
    points += [(12.0 + t / 10, 9.5) for t in range(1, 60)]
    timeline = _timeline(points)
    # Windows start at harvests: the first after the gap is at 12.1 s.
    assert timeline.recovery_seconds(10.0, baseline=100.0, window=1.0) == pytest.approx(2.1)


def test_no_recovery_while_the_rate_stays_low():
    points = [(t / 10, 5) for t in range(1, 50)]
    assert _timeline(points).recovery_seconds(1.0, baseline=100.0, window=1.0) is None


def test_bad_options_exit_2():
    with pytest.raises(SystemExit) as exit_:
        recovery.parse_args(["--num-shards", "0"])
    assert exit_.value.code == 2


def test_accounts_count_lost_and_duplicated_transitions_apart():
    # writer -> [last add applied, the writer's rows through it, rows applied]
    clean = transition_accounts.settle({"a": 90, "b": 40}, [{"a": [3, 90, 90]}, {"b": [2, 40, 40]}])
    assert (clean.acknowledged, clean.lost, clean.duplicated) == (130, 0, 0)
    # An add applied twice (a retry after a shard restart) is duplicated, not a negative loss.
    twice = transition_accounts.settle({"a": 90}, [{"a": [3, 90, 120]}])
    assert (twice.lost, twice.duplicated) == (0, 30)
    # Acknowledged adds a shard no longer holds (a restart without its log) are lost: past the
    # last add it applied, and gaps before it.
    gone = transition_accounts.settle({"a": 90, "b": 40}, [{"a": [2, 60, 60]}, {"b": [2, 40, 25]}])
    assert (gone.lost, gone.duplicated) == (45, 0)
    # An add in flight when its writer died may or may not have applied: neither is a loss.
    assert transition_accounts.settle({"a": 60}, [{"a": [3, 90, 90]}]).lost == 0
