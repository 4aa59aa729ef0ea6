"""Run a benchmark's episodes on worker processes, each finished one kept on disk.

An Episode is one policy on one window at one load. Its metrics go to OUT/episodes/ as JSON
with the key that defines it (env settings, policy, seed, code version), so a rerun of the same
benchmark skips the episodes it finds with the same key and a changed setting reruns them.
Workers are spawned processes (torch and Ray do not survive fork well); each loads the trace
and a checkpoint's policy once and keeps them for the episodes it is handed.
"""

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from marl_alloc.floor.settings import EnvConfig, to_plain
from marl_alloc.scoring.windows import Window

EPISODES_DIR = "episodes"


@dataclasses.dataclass(frozen=True)
class Episode:
    """`label` (a heuristic spec, or the checkpoint set's label with `checkpoint` the member's
    directory) on one window at one load, in `env`."""

    label: str
    window: Window
    load: float
    # Left out of equality and hashing: the other fields name an episode of one benchmark.
    env: EnvConfig = dataclasses.field(compare=False)
    checkpoint: str | None = None
    member: int = 0
    # When the checkpoint was saved (its settings file's mtime): a retrained one reruns.
    saved_ns: int | None = None

    def key(self, code_version: str) -> dict[str, Any]:
        """Everything the episode's metrics depend on."""
        return {
            "policy": self.label,
            "checkpoint": self.checkpoint,
            "saved_ns": self.saved_ns,
            "seed": self.window.seed,
            "env": to_plain(self.env),
            "code_version": code_version,
        }

    def file_name(self) -> str:
        """Where its metrics are kept under OUT/episodes."""
        member = f"-{self.member}" if self.checkpoint else ""
        return f"w{self.window.index:02d}-load{self.load:g}-{self.label}{member}.json"


class EpisodeStore:
    """Finished episodes' metrics under `root`, valid only under the same key."""

    def __init__(self, root: Path, code_version: str):
        self.root = Path(root) / EPISODES_DIR
        self.code_version = code_version

    def load(self, episode: Episode) -> dict[str, float] | None:
        """The kept metrics of `episode`, or None when it has not run with this key."""
        path = self.root / episode.file_name()
        try:
            kept = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if kept.get("key") != episode.key(self.code_version):
            return None
        return kept["metrics"]

    def save(self, episode: Episode, metrics: dict[str, float]) -> None:
        """Keep `metrics` (written whole or not at all)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / episode.file_name()
        tmp = path.with_suffix(".tmp")
        record = {"key": episode.key(self.code_version), "metrics": metrics}
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, path)


_POLICIES: dict[str, Any] = {}


def score_episode(episode: Episode) -> dict[str, float]:
    """Run one episode in this process: its env metrics and total cost as floats."""
    from envs import make_heuristic
    from marl_alloc.scoring.episodes import run_episode

    if episode.checkpoint is None:
        policy = make_heuristic(episode.label, seed=episode.window.seed)
    else:
        if episode.checkpoint not in _POLICIES:
            from marl_alloc.policy.acting import load_acting_policy

            _POLICIES[episode.checkpoint] = load_acting_policy(episode.checkpoint)[0]
        policy = _POLICIES[episode.checkpoint]
    metrics, _, _ = run_episode(policy, episode.env, episode.window.seed)
    return {key: float(value) for key, value in metrics.items()}


def run_episodes(
    episodes: Sequence[Episode],
    store: EpisodeStore,
    workers: int,
    on_done: Callable[[Episode], None] = lambda _: None,
) -> dict[Episode, dict[str, float]]:
    """Metrics of every episode: kept ones read back, the others run on `workers` processes
    (in this one for 1) and kept as each finishes; `on_done` is called per episode run."""
    results = {e: kept for e in episodes if (kept := store.load(e)) is not None}
    # Checkpoint episodes first: they are the slowest, and the last to start set the end.
    todo = sorted((e for e in episodes if e not in results), key=lambda e: e.checkpoint is None)
    if workers <= 1:
        for episode in todo:
            results[episode] = _finish(episode, score_episode(episode), store, on_done)
        return results
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        running = {pool.submit(score_episode, e): e for e in todo}
        try:
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    episode = running.pop(future)
                    results[episode] = _finish(episode, future.result(), store, on_done)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results


def _finish(
    episode: Episode,
    metrics: dict[str, float],
    store: EpisodeStore,
    on_done: Callable[[Episode], None],
) -> dict[str, float]:
    store.save(episode, metrics)
    on_done(episode)
    return metrics
