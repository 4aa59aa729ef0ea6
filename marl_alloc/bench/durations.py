"""`python -m marl_alloc.bench durations`: how well run times can be known at submit time.

Replays task tables in time order through the simulator's DurationEstimator (with the env
config's `knowledge` settings and keys, envs/duration_knowledge.py): each task is estimated when
it is submitted, from the run times of the tasks that finished before that instant, and the
estimator learns each run time when its task ends. The error is the median absolute log-ratio
(MALR) |log(estimate / true run time)| over the tasks whose true run time is known, next to
two per-scheduling-class median baselines: `class_median_causal` (the median of the class's
tasks finished so far, a fair online rival) and `class_median_static` (the median over all
scored tasks of the class, which sees the future: an upper bound for any fixed class table).
`coverage_1sigma` is the share of tasks whose log error is within the estimate's uncertainty
(0.68 for a calibrated Gaussian).

Datasets: each Google task_events part alone and all together (the parts of the google2011 env
config, or --task-events), and the synthetic workload (its own distributions, --synthetic-tasks).

    python -m marl_alloc.bench durations --json
"""

import argparse
import bisect
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from marl_alloc.bench.report import run_benchmark
from marl_alloc.floor.command_line import CommandParser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench durations")
    parser.add_argument("--task-events", nargs="+", help="Google task_events parts (default: env)")
    parser.add_argument("--synthetic-tasks", type=int, default=50000, help="0 skips synthetic")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. env.knowledge.*")
    return parser.parse_args(argv)


def replay(
    submit_s: np.ndarray,
    finish_s: np.ndarray,
    tasks: dict[str, np.ndarray],
    scored: np.ndarray,
    knowledge: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """(median, sigma) the estimator gives each scored task at its submit time, having seen the
    run times (tasks["run_s"]) of exactly the tasks with finish_s before then (NaN: never)."""
    from envs.duration_knowledge import task_keys

    keys = task_keys(np.zeros(len(submit_s), np.int64), tasks)
    finished = np.flatnonzero(np.isfinite(finish_s) & np.isfinite(tasks["run_s"]))
    finished = finished[np.argsort(finish_s[finished], kind="stable")]
    queries = np.flatnonzero(scored)
    queries = queries[np.argsort(submit_s[queries], kind="stable")]
    seen_before = np.searchsorted(finish_s[finished], submit_s[queries], side="left")
    median, sigma = np.zeros(len(queries)), np.zeros(len(queries))
    starts = np.flatnonzero(np.r_[True, np.diff(seen_before) > 0])
    seen = 0
    for lo, hi in zip(starts, np.r_[starts[1:], len(queries)], strict=True):
        new = finished[seen : seen_before[lo]]
        knowledge.estimator.observe(keys[new], tasks["run_s"][new])
        seen = seen_before[lo]
        median[lo:hi], sigma[lo:hi] = knowledge.estimator.estimate(keys[queries[lo:hi]])
    out_median, out_sigma = np.zeros(len(submit_s)), np.zeros(len(submit_s))
    out_median[queries], out_sigma[queries] = median, sigma
    return out_median[scored], out_sigma[scored]


def class_median_causal(
    submit_s: np.ndarray, finish_s: np.ndarray, run_s: np.ndarray, classes, scored, prior_s: float
) -> np.ndarray:
    """Median run time of each scored task's class among the tasks finished before its submit
    (prior_s while none has)."""
    finished = np.flatnonzero(np.isfinite(finish_s) & np.isfinite(run_s))
    finished = finished[np.argsort(finish_s[finished], kind="stable")]
    queries = np.flatnonzero(scored)
    queries = queries[np.argsort(submit_s[queries], kind="stable")]
    runs: dict[int, list[float]] = {}
    out = np.zeros(len(submit_s))
    cursor = 0
    for q in queries.tolist():
        while cursor < len(finished) and finish_s[finished[cursor]] < submit_s[q]:
            task = finished[cursor]
            bisect.insort(runs.setdefault(int(classes[task]), []), float(run_s[task]))
            cursor += 1
        values = runs.get(int(classes[q]))
        if values:
            middle = len(values) // 2
            out[q] = 0.5 * (values[middle] + values[~middle])
        else:
            out[q] = prior_s
    return out[scored]


def malr(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Median absolute log-ratio."""
    return float(np.median(np.abs(np.log(np.maximum(estimate, 1.0) / np.maximum(truth, 1.0)))))


def score_dataset(
    name: str, submit_s, finish_s, tasks: dict[str, np.ndarray], scored, knowledge_config
) -> dict[str, Any]:
    """The estimator and both baselines on one task table."""
    from envs.duration_knowledge import DurationKnowledge

    started = time.perf_counter()
    knowledge = DurationKnowledge(knowledge_config)
    median, sigma = replay(submit_s, finish_s, tasks, scored, knowledge)
    truth = tasks["run_s"][scored]
    classes = tasks["task_class"]
    causal = class_median_causal(
        submit_s, finish_s, tasks["run_s"], classes, scored, knowledge_config.prior_median_s
    )
    static = np.zeros(len(truth))
    for c in np.unique(classes[scored]):
        members = classes[scored] == c
        static[members] = np.median(truth[members])
    log_error = np.abs(np.log(np.maximum(median, 1.0) / np.maximum(truth, 1.0)))
    return {
        "dataset": name,
        "tasks_scored": int(scored.sum()),
        "estimator_malr": round(malr(median, truth), 4),
        "class_median_causal_malr": round(malr(causal, truth), 4),
        "class_median_static_malr": round(malr(static, truth), 4),
        "coverage_1sigma": round(float(np.mean(log_error <= sigma)), 4),
        "wall_s": round(time.perf_counter() - started, 3),
    }


def google_dataset(paths: list[str]) -> tuple:
    """(submit, finish, task columns, scored) of Google task_events parts: tasks scheduled and
    ended inside the files teach the estimator at their end; those also submitted inside are
    scored."""
    from envs.workloads.google2011 import load_tasks

    table = load_tasks(paths)
    column = {name: table.column(name).to_numpy() for name in table.column_names}
    observed = column["duration_observed"]
    run_s = np.where(observed, column["duration_s"].astype(np.float64), np.nan)
    finish = np.where(observed, column["end_s"], np.nan)
    tasks = {
        "cpu": column["cpu"],
        "mem": column["mem"],
        "priority": column["priority"].astype(np.int64),
        "task_class": column["scheduling_class"].astype(np.int64),
        "owner": column["owner"],
        "run_s": run_s,
    }
    return column["submit_s"], finish, tasks, observed & (column["submit_s"] > 0)


def synthetic_dataset(workload_config: Any, num_tasks: int, seed: int) -> tuple:
    """(submit, finish, task columns, scored) of the synthetic workload's first num_tasks
    arrivals, each starting when it arrives."""
    from envs.workloads import SyntheticWorkload

    workload = SyntheticWorkload(workload_config)
    tasks = workload.open(np.random.default_rng(seed), 0.0, num_tasks, 1.0).take(num_tasks)
    run_s = tasks["duration_s"].astype(np.float64)
    columns = {k: tasks[k] for k in ("cpu", "mem", "priority", "owner", "task_class")}
    columns["run_s"] = run_s
    submit = tasks["arrival_s"]
    return submit, submit + run_s, columns, np.ones(len(submit), bool)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Score the estimator on each Google part, all parts together, and synthetic tasks."""
    from marl_alloc.floor.errors import UserError
    from marl_alloc.floor.paths import resolve_path
    from marl_alloc.floor.settings.compose import compose_settings

    if args.synthetic_tasks < 0:
        raise UserError("--synthetic-tasks must be >= 0")
    google = compose_settings(["env=google2011", *args.overrides]).env
    knowledge = google.knowledge
    paths = [str(resolve_path(p)) for p in (args.task_events or google.workload.tasks)]
    results = []
    groups = [[p] for p in paths] + ([paths] if len(paths) > 1 else [])
    for group in groups:
        name = "google2011 " + " + ".join(Path(p).name.split(".")[0] for p in group)
        results.append(score_dataset(name, *google_dataset(group), knowledge))
    if args.synthetic_tasks:
        synthetic = compose_settings(["env=synthetic", *args.overrides]).env
        data = synthetic_dataset(synthetic.workload, args.synthetic_tasks, args.seed)
        results.append(score_dataset("synthetic", *data, synthetic.knowledge))
    return {"bench": "durations", "knowledge": dataclasses.asdict(knowledge), "datasets": results}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 on a bad option, config or trace."""
    return run_benchmark(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
