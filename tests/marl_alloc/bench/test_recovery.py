"""Recovery bench: rates, the noise band and recovery times read off env-step timelines."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marl_alloc.bench import recovery, transition_accounts
from marl_alloc.bench import recovery_criterion as criterion

WINDOW = 2.0


def _timeline(points):
    timeline = criterion.Timeline()
    for t, steps in points:
        timeline.add(t, steps)
    return timeline


def _pipeline(seconds: float, seed: int, outage=None, noise: float = 0.25, jitter: float = 0.05):
    """Harvests as the driver sees them: every 0.25 +- `jitter` s, two actors' lumps of ~250
    steps with `noise` relative spread; during `outage` (start, end, the fraction of actors still
    collecting) only that fraction arrives."""
    rng = np.random.default_rng(seed)
    timeline, t = criterion.Timeline(), 0.0
    while t < seconds:
        t += rng.uniform(0.25 - jitter, 0.25 + jitter)
        share = outage[2] if outage and outage[0] <= t < outage[1] else 1.0
        lumps = rng.normal(250.0, 250.0 * noise, size=2).clip(0)
        timeline.add(t, int(share * lumps.sum()))
    return timeline


def _judge(timeline, event_t: float, whole_s: float = 0.0):
    """Band from the 10 undisturbed seconds before the event, then its recovery."""
    baseline = timeline.rate(event_t - 10.0, event_t)
    low = criterion.band(timeline, [(event_t - 10.0, event_t)], WINDOW)
    end = timeline.times[-1]
    return low, criterion.recovery_seconds(timeline, event_t, end, baseline, WINDOW, low, whole_s)


def test_rate_counts_steps_harvested_in_the_interval():
    timeline = _timeline([(1.0, 100), (2.0, 100), (3.0, 300)])
    assert timeline.rate(1.0, 3.0) == pytest.approx(200.0)  # (1, 3]: 100 + 300
    assert timeline.rate(0.0, 1.0) == pytest.approx(100.0)
    assert timeline.steps_until(0.5) == 0


def test_the_band_is_90_percent_on_a_quiet_machine_and_widens_with_noise():
    quiet = _pipeline(30.0, seed=1, noise=0.0, jitter=0.0)
    noisy = _pipeline(30.0, seed=1, noise=0.6)
    assert criterion.band(quiet, [(5.0, 25.0)], WINDOW) == criterion.RECOVERED_FRACTION
    assert criterion.band(noisy, [(5.0, 25.0)], WINDOW) < 0.8


@pytest.mark.parametrize("seed", range(10))
def test_the_control_reads_about_zero(seed):
    # No kill: the rate after the "event" is the same noise the band was taken from, judged
    # over as long a span as a slow shard restart.
    timeline = _pipeline(40.0, seed=seed)
    low, recovered = _judge(timeline, event_t=20.0, whole_s=5.0)
    assert recovered is not None and recovered <= 0.5
    assert abs(criterion.lost_seconds(timeline, 20.0, 32.0, timeline.rate(10.0, 20.0))) < 1.0


def test_a_part_not_back_by_the_end_is_judged_on_the_rate_until_then():
    # No stall at all, but the killed part answered only after the run's end (a spare-less
    # env actor still rebuilding): the steps missing after the end are not a stall.
    timeline = _pipeline(40.0, seed=2)
    assert _judge(timeline, event_t=20.0, whole_s=60.0)[1] <= 0.5


@settings(max_examples=40, deadline=None)
@given(
    delay=st.floats(1.0, 8.0),
    still_collecting=st.sampled_from([0.0, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_a_delayed_restart_is_reported_as_slow(delay, still_collecting, seed):
    # An actor or shard back only `delay` s after the kill: all, or half the actors, stall.
    timeline = _pipeline(40.0, seed=seed, outage=(20.0, 20.0 + delay, still_collecting))
    low, recovered = _judge(timeline, event_t=20.0, whole_s=delay)
    # Within a window of the delay: a 5 s restart is never read as a 3 s one.
    assert recovered is not None
    assert delay - WINDOW <= recovered <= delay + WINDOW
    if still_collecting == 0.0:  # a full stall: early by at most the resolution the bench states
        assert recovered >= delay - (1.0 - low) * WINDOW - 0.5  # + harvest granularity


def test_a_stall_that_begins_late_counts_until_the_part_is_back():
    # Actors hold their adds for 2 s of a 5 s shard restart, then stall until it answers.
    timeline = _pipeline(40.0, seed=3, outage=(22.0, 25.0, 0.5))
    _, without_span = _judge(timeline, event_t=20.0)
    _, with_span = _judge(timeline, event_t=20.0, whole_s=5.0)
    assert without_span == 0.0  # the first window after the kill was still in the band
    assert with_span == pytest.approx(5.0, abs=1.0)


def test_an_early_stall_is_not_averaged_away_by_a_good_rest_of_the_span():
    # A full stall of 1.5 s, then the full rate for the rest of a 5 s restart.
    timeline = _pipeline(40.0, seed=4, outage=(20.0, 21.5, 0.0))
    low, recovered = _judge(timeline, event_t=20.0, whole_s=5.0)
    assert 1.5 - (1.0 - low) * WINDOW - 0.5 <= recovered <= 1.5 + WINDOW


def test_no_recovery_while_the_rate_stays_low():
    timeline = _pipeline(40.0, seed=0, outage=(20.0, 40.0, 0.0))
    assert _judge(timeline, event_t=20.0, whole_s=20.0)[1] is None


def test_lost_seconds_of_a_full_outage_are_its_length():
    timeline = _timeline([(t / 10, 10) for t in range(1, 401) if not 200 < t <= 230])
    assert criterion.lost_seconds(timeline, 20.0, 40.0, baseline=100.0) == pytest.approx(3.0)


def test_bad_options_exit_2():
    for argv in (["--num-shards", "0"], ["--window", "8"]):
        with pytest.raises(SystemExit) as exit_:
            recovery.parse_args(argv)
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
