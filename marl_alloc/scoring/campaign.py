"""One benchmark from its settings to its report: windows, episodes, statistics, files.

    report = run_campaign(CampaignSettings(...), out_dir)

Every heuristic spec and every checkpoint of the set plays every window at every load in the
same env (the checkpoints' topology when there are some), so all scores pair per window.
"""

import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import CONFIG_FILE, EnvConfig, TraceWorkloadConfig, to_plain
from marl_alloc.scoring.bootstrap import REPS
from marl_alloc.scoring.contenders import CHECKPOINT_SET, heuristic_specs, load_checkpoint_set
from marl_alloc.scoring.environment import for_trained, with_trace, workload_env
from marl_alloc.scoring.provenance import code_version
from marl_alloc.scoring.report import write_report
from marl_alloc.scoring.runner import Episode, EpisodeStore, run_episodes
from marl_alloc.scoring.summary import METRICS, summarize
from marl_alloc.scoring.windows import Window, choose_windows, window_env


@dataclasses.dataclass(frozen=True)
class CampaignSettings:
    """What `python -m marl_alloc.benchmark` was asked for (its options, one field each)."""

    workload: str = "google2011"
    task_events: tuple[str, ...] = ()
    machine_events: str | None = None
    checkpoints: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()  # heuristic specs; empty: all with the default sweep
    windows: int = 6
    window_tasks: int = 1000
    loads: tuple[float, ...] = (1.0,)
    seed: int = 0
    workers: int = 1
    overrides: tuple[str, ...] = ()
    bootstrap_reps: int = REPS
    progress: bool = True

    def __post_init__(self):
        rules = [
            (
                self.windows > 0 and self.window_tasks > 0,
                "--windows and --window-tasks must be > 0",
            ),
            (len(self.loads) > 0 and min(self.loads) > 0, f"--loads must be > 0, got {self.loads}"),
            (self.workers > 0, "--workers must be > 0"),
            (self.bootstrap_reps > 0, "bootstrap_reps must be > 0"),
        ]
        for ok, message in rules:
            if not ok:
                raise UserError(message)


def campaign_env(settings: CampaignSettings) -> EnvConfig:
    """The env every episode runs in, before its window and load: the workload with the
    overrides, replaying --task-events in sample mode."""
    env = workload_env(settings.workload, settings.overrides)
    if settings.task_events:
        return with_trace(env, settings.task_events, settings.machine_events, "sample")
    if settings.machine_events:
        raise UserError("--machine-events goes with --task-events")
    if isinstance(env.workload, TraceWorkloadConfig) and env.workload.mode != "sample":
        raise UserError("the benchmark replays windows in sample mode: drop env.workload.mode")
    return env


def plan_episodes(
    env: EnvConfig,
    windows: Sequence[Window],
    settings: CampaignSettings,
    specs: Sequence[str],
) -> list[Episode]:
    """Every policy on every window at every load."""
    checkpoints = [Path(path).resolve() for path in settings.checkpoints]
    saved_ns = [(path / CONFIG_FILE).stat().st_mtime_ns for path in checkpoints]
    episodes = []
    for window in windows:
        for load in settings.loads:
            played = window_env(env, window, load, settings.window_tasks)
            episodes += [Episode(spec, window, load, played) for spec in specs]
            episodes += [
                Episode(CHECKPOINT_SET, window, load, played, str(path), member, saved)
                for member, (path, saved) in enumerate(zip(checkpoints, saved_ns, strict=True))
            ]
    return episodes


def score_arrays(
    results: dict[Episode, dict[str, float]], windows: int, loads: Sequence[float]
) -> dict[str, dict[str, np.ndarray]]:
    """Per policy label and report metric (summary.METRICS): float[members, windows, loads]."""
    members: dict[str, int] = {}
    for episode in results:
        members[episode.label] = max(members.get(episode.label, 0), episode.member + 1)
    scores = {
        label: {name: np.full((n, windows, len(loads)), np.nan) for name in METRICS}
        for label, n in members.items()
    }
    for episode, metrics in results.items():
        cell = (episode.member, episode.window.index, list(loads).index(episode.load))
        for name, metric in METRICS.items():
            scores[episode.label][name][cell] = metrics[metric]
    return scores


def run_campaign(settings: CampaignSettings, out: Path) -> dict[str, Any]:
    """Run (or resume) the benchmark, write its report under `out` and return it."""
    started = time.perf_counter()
    env = campaign_env(settings)
    trained = []
    if settings.checkpoints:
        trained = load_checkpoint_set(settings.checkpoints, env)
        env = for_trained(env, trained[0].env)
    specs = heuristic_specs(settings.policies, env.hosts.cpu_overcommit_max)
    windows = choose_windows(
        env, settings.windows, settings.window_tasks, settings.loads, settings.seed
    )
    episodes = plan_episodes(env, windows, settings, specs)
    store = EpisodeStore(out, code_version())
    kept = sum(store.load(e) is not None for e in episodes)
    from tqdm import tqdm

    with tqdm(
        total=len(episodes),
        initial=kept,
        desc="episodes",
        unit="ep",
        file=sys.stderr,
        disable=not settings.progress,
    ) as bar:
        results = run_episodes(episodes, store, settings.workers, lambda _: bar.update(1))
    scores = score_arrays(results, len(windows), settings.loads)
    report = summarize(scores, np.random.default_rng(settings.seed), settings.bootstrap_reps)
    report["settings"] = {
        "workload": settings.workload,
        "task_events": [str(Path(p).resolve()) for p in settings.task_events],
        "machine_events": settings.machine_events and str(Path(settings.machine_events).resolve()),
        "overrides": list(settings.overrides),
        "env": to_plain(env),
        "seed": settings.seed,
        "windows": [dataclasses.asdict(w) for w in windows],
        "window_tasks": settings.window_tasks,
        "loads": list(settings.loads),
        "policies": [*specs, *([CHECKPOINT_SET] if trained else [])],
        "checkpoints": [
            {"path": str(Path(path).resolve()), "training_seed": t.seed}
            for path, t in zip(settings.checkpoints, trained, strict=True)
        ],
        "bootstrap_reps": settings.bootstrap_reps,
        "workers": settings.workers,
        "code_version": code_version(),
        "episodes": {"run": len(episodes) - kept, "kept": kept},
        "wall_s": round(time.perf_counter() - started, 1),
    }
    write_report(out, report)
    return report
