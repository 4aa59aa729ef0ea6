"""What a benchmark scores: heuristics with their packing sweeps, and one set of checkpoints.

`--policies` takes heuristic specs: NAME (its default sweep), NAME@T (one packing target) or
NAME@T1,T2,... (a sweep); `random` takes no target. Checkpoints (several training seeds of one
configuration) are scored as one set, labelled CHECKPOINT_SET.
"""

import math
from collections.abc import Sequence
from pathlib import Path

from envs import HEURISTICS, PolicySpecError, parse_heuristic
from envs.heuristics import HostPlacement
from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import EnvConfig, Settings

CHECKPOINT_SET = "policy"
DEFAULT_TARGETS = (1.0, 1.5, 2.0, 3.0)


def default_sweep(cap: float) -> list[float]:
    """DEFAULT_TARGETS up to the hosts' hard CPU cap (a target above it packs as the cap)."""
    return sorted({min(t, cap) for t in DEFAULT_TARGETS})


def heuristic_specs(texts: Sequence[str] | None, cap: float) -> list[str]:
    """Heuristic specs (`pabfd@1.5`, `random`) of --policies, in order, each once; every
    heuristic with the default sweep when none are given. `cap`: env.hosts.cpu_overcommit_max."""
    specs: list[str] = []
    for text in texts or list(HEURISTICS):
        name, at, targets = str(text).partition("@")
        try:
            parse_heuristic(name)
            if not at:
                sweep = issubclass(HEURISTICS[name], HostPlacement)
                specs += [f"{name}@{t:g}" for t in default_sweep(cap)] if sweep else [name]
                continue
            for target_text in targets.split(","):
                spec = f"{name}@{target_text}"
                target = parse_heuristic(spec)[1]
                if target > cap + 1e-9:
                    raise PolicySpecError(
                        f"'{spec}' packs past env.hosts.cpu_overcommit_max={cap:g}, the hard "
                        "cap every target stops at"
                    )
                specs.append(f"{name}@{target:g}")
        except PolicySpecError as err:
            raise UserError(f"--policies: {err}") from None
    return list(dict.fromkeys(specs))


def heuristic_name(spec: str) -> str:
    """The heuristic a spec names, without its packing target."""
    return spec.partition("@")[0]


def packing_target(spec: str) -> float:
    """A spec's packing target (NaN for a heuristic that takes none)."""
    _, at, target = spec.partition("@")
    return float(target) if at else math.nan


def load_checkpoint_set(paths: Sequence[str], env: EnvConfig) -> list[Settings]:
    """The settings each checkpoint was trained with, checked to form one set that can act in
    `env`: every policy loads with today's observation layout, all share one layout, and all
    were trained with the duration knowledge `env` uses. Loads torch and RLlib."""
    from marl_alloc.policy.acting import load_acting_policy

    trained = []
    for path in paths:
        try:
            _, settings = load_acting_policy(path)
        except UserError as err:
            raise UserError(f"--checkpoints: {err}") from None
        trained.append(settings)
    first = trained[0].env
    for path, settings in zip(paths, trained, strict=True):
        layout = (settings.env.topology, settings.env.forecast_horizon)
        if layout != (first.topology, first.forecast_horizon):
            raise UserError(
                f"--checkpoints: {Path(path)} observes another layout than {Path(paths[0])} "
                f"(topology {settings.env.topology}, forecast_horizon "
                f"{settings.env.forecast_horizon}): a set is the seeds of one configuration"
            )
        known = settings.env.knowledge.durations
        if known != env.knowledge.durations:
            raise UserError(
                f"--checkpoints: {Path(path)} was trained with env.knowledge.durations={known} "
                f"but the benchmark runs with {env.knowledge.durations}: add the override "
                f"env.knowledge.durations={known} to score it as trained"
            )
    return trained
