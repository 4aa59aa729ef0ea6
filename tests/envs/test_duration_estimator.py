"""The run-time estimator learns only from finished tasks, per key, coarse to fine."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import DurationEstimator
from envs.duration_estimator import combine_keys


def keys_of(*levels):
    return np.stack([np.asarray(level, np.int64) for level in levels], axis=1)


def test_a_key_seen_often_is_estimated_by_its_own_median_and_spread():
    rng = np.random.default_rng(0)
    estimator = DurationEstimator(levels=2, prior_median_s=600.0, prior_sigma=1.5)
    runs = np.exp(rng.normal(np.log(90.0), 0.4, 2000))
    estimator.observe(keys_of(np.zeros(2000), np.full(2000, 7)), runs)
    median, sigma = estimator.estimate(keys_of([0], [7]))
    assert median[0] == pytest.approx(90.0, rel=0.05)
    assert sigma[0] == pytest.approx(0.4, rel=0.1)


def test_an_unseen_key_falls_back_to_its_parent_level_and_then_to_the_prior():
    estimator = DurationEstimator(levels=2, prior_median_s=600.0, prior_sigma=1.5)
    estimator.observe(keys_of(np.zeros(500), np.arange(500) % 5), np.full(500, 30.0))
    parent, _ = estimator.estimate(keys_of([0], [99]))  # class 0 known, owner 99 never seen
    assert parent[0] == pytest.approx(30.0, rel=0.02)
    prior, sigma = estimator.estimate(keys_of([1], [99]))
    assert prior[0] == pytest.approx(600.0) and sigma[0] == pytest.approx(1.5)


def test_a_few_runs_move_the_estimate_only_part_of_the_way():
    estimator = DurationEstimator(levels=1, prior_median_s=100.0, pseudo_count=2.0)
    estimator.observe(keys_of([3, 3]), [10000.0, 10000.0])
    median, _ = estimator.estimate(keys_of([3]))
    # two runs against two pseudo-runs at the prior: halfway in log space
    assert median[0] == pytest.approx(1000.0, rel=1e-6)


def test_counts_say_how_many_finished_tasks_each_level_of_a_key_rests_on():
    estimator = DurationEstimator(levels=2)
    estimator.observe(keys_of([0, 0, 0, 1], [10, 10, 11, 20]), [10.0, 20.0, np.nan, 30.0])
    counts = estimator.counts(keys_of([0, 0, 1, 2], [10, 12, 20, 30]))
    # the NaN run time is not counted; an unseen fine key rests on its parent's tasks only
    np.testing.assert_array_equal(counts, [[2, 2], [2, 0], [1, 1], [0, 0]])


def test_unknown_run_times_teach_nothing():
    estimator = DurationEstimator(levels=1)
    before = estimator.estimate(keys_of([1]))
    estimator.observe(keys_of([1, 1]), [np.nan, np.nan])
    np.testing.assert_array_equal(estimator.estimate(keys_of([1])), before)


def test_state_round_trip_continues_exactly():
    rng = np.random.default_rng(1)
    keys = keys_of(rng.integers(0, 3, 300), rng.integers(0, 40, 300))
    runs = rng.lognormal(5, 1, 300)
    a = DurationEstimator(levels=2)
    a.observe(keys[:200], runs[:200])
    b = DurationEstimator(levels=2)
    b.set_state(a.get_state())
    a.observe(keys[200:], runs[200:])
    b.observe(keys[200:], runs[200:])
    np.testing.assert_array_equal(a.estimate(keys), b.estimate(keys))


def test_keys_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="int64"):
        DurationEstimator(levels=2).estimate(np.zeros((3, 3)))


def test_combined_keys_tell_rows_apart_and_repeat_for_equal_rows():
    owner = np.array([1, 1, 2, 2])
    cpu = np.array([0.5, 0.25, 0.5, 0.5], np.float32)
    keys = combine_keys(owner, cpu)
    assert keys[2] == keys[3]
    assert len(set(keys[:3].tolist())) == 3
    assert (
        combine_keys(np.array([1]), np.array([2]))[0]
        != combine_keys(np.array([2]), np.array([1]))[0]
    )


@st.composite
def task_histories(draw):
    """Tasks with submit times, run times and keys, and a time t."""
    n = draw(st.integers(2, 40))
    submit = np.array(draw(st.lists(st.floats(0, 1000), min_size=n, max_size=n)))
    wait = np.array(draw(st.lists(st.floats(0, 100), min_size=n, max_size=n)))
    run = np.array(draw(st.lists(st.floats(1, 2000), min_size=n, max_size=n)))
    keys = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    t = draw(st.floats(0, 3000))
    scale = draw(st.floats(1.5, 50))
    return submit, submit + wait, run, keys, t, scale


def online_estimates(submit, start, run, keys, upto):
    """Estimates each task submitted by `upto` gets at its submit time, the estimator fed each
    task's run time at its end (as the simulator and the extender feed it)."""
    estimator = DurationEstimator(levels=2, prior_median_s=300.0)
    end = start + run
    events = sorted(
        [(s, 1, i) for i, s in enumerate(submit) if s <= upto]
        + [(e, 0, i) for i, e in enumerate(end) if e <= upto]
    )
    out = {}
    for _, kind, i in events:  # finishes first at equal times: they are known by then
        k = keys_of([0], [keys[i]])
        if kind == 0:
            estimator.observe(k, [run[i]])
        else:
            out[i] = estimator.estimate(k)[0][0]
    return out


@settings(max_examples=60, deadline=None)
@given(task_histories())
def test_an_estimate_never_reads_a_future_run_time(history):
    submit, start, run, keys, t, scale = history
    before = online_estimates(submit, start, run, keys, t)
    # Every task not finished by t runs `scale` times longer: what was known until t is not.
    unfinished = start + run > t
    changed = np.where(unfinished, run * scale, run)
    after = online_estimates(submit, start, changed, keys, t)
    assert before == after
