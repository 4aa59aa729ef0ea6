"""`python -m marl_alloc.bench durations`: the estimator's error next to class-median baselines."""

import json

import numpy as np

from marl_alloc.bench.durations import class_median_causal, main

GOOGLE = "google-2011/task_events-part-00001-of-00500.csv.gz"


def test_the_bench_scores_each_dataset_against_both_baselines(shared_data, capsys):
    part = str(shared_data / GOOGLE)
    assert main(["--task-events", part, "--synthetic-tasks", "3000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["knowledge"]["durations"] == "estimate"
    google, synthetic = report["datasets"]
    assert google["tasks_scored"] > 10_000 and synthetic["tasks_scored"] == 3000
    for figures in (google, synthetic):
        for key in ("estimator_malr", "class_median_causal_malr", "class_median_static_malr"):
            assert 0 < figures[key] < 3
        assert 0 <= figures["coverage_1sigma"] <= 1
    # Google owners repeat their programs: knowing the owner beats knowing the class.
    assert google["estimator_malr"] < google["class_median_causal_malr"]


def test_the_causal_baseline_uses_only_runs_finished_before_each_submit():
    submit = np.array([0.0, 5.0, 20.0])
    finish = np.array([10.0, 15.0, 30.0])
    runs = np.array([10.0, 10.0, 10.0])
    classes = np.zeros(3, np.int64)
    got = class_median_causal(submit, finish, runs, classes, np.ones(3, bool), prior_s=99.0)
    # task 2 is submitted at 20 s, after tasks 0 and 1 ended; the others see nothing yet
    np.testing.assert_array_equal(got, [99.0, 99.0, 10.0])


def test_a_negative_task_count_is_exit_2(capsys):
    assert main(["--synthetic-tasks", "-1", "--task-events", "x", "--json"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
