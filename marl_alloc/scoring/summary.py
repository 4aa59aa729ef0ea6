"""A benchmark's statistics: per-policy means with bootstrap intervals, the checkpoint set's
total cost paired against the best heuristic, and its place against that heuristic's frontier.

Scores are arrays float[members, windows, loads] per policy and METRICS name: a heuristic has one
member, the checkpoint set one per checkpoint (training seed). The checkpoint set's cells are
its (member, window, load) scores; a heuristic's are its (window, load) scores, each paired with
the set's cells on the same window and load.
"""

from collections.abc import Mapping

import numpy as np

from marl_alloc.scoring.bootstrap import REPS, mean_ci, statistic_ci
from marl_alloc.scoring.contenders import CHECKPOINT_SET, heuristic_name, packing_target
from marl_alloc.scoring.frontier import reductions

# Report name -> the episode metric it reads.
METRICS = {
    "total_cost": "total_cost",
    "energy_kwh": "energy_kwh",
    "carbon_kg": "carbon_kg",
    "slatah": "slatah",
    "slav": "slav",
    "sla_violation_rate": "sla_violation_rate",
    "slo_misses": "slo_violations",
    "tasks_rejected": "tasks_rejected",
}
Scores = Mapping[str, Mapping[str, np.ndarray]]


def best_heuristic(scores: Scores) -> str:
    """The heuristic (with its packing target) of lowest mean total cost."""
    heuristics = [label for label in scores if label != CHECKPOINT_SET]
    return min(heuristics, key=lambda label: float(scores[label]["total_cost"].mean()))


def frontier_sweep(scores: Scores, best: str) -> list[str]:
    """The best heuristic's sweep (its specs at every scored target), by target."""
    name = heuristic_name(best)
    sweep = [label for label in scores if label != CHECKPOINT_SET and heuristic_name(label) == name]
    return sorted(sweep, key=packing_target)


def summarize(scores: Scores, rng: np.random.Generator, reps: int = REPS) -> dict:
    """report.json's `policies`, `paired` and `frontier` (the last two None without
    checkpoints)."""
    policies = {
        label: {name: mean_ci(values[name], rng, reps) for name in METRICS}
        for label, values in scores.items()
    }
    if CHECKPOINT_SET not in scores:
        return {"policies": policies, "paired": None, "frontier": None}
    best = best_heuristic(scores)
    ours, theirs = scores[CHECKPOINT_SET], scores[best]
    ratios = ours["total_cost"] / theirs["total_cost"]  # paired per cell
    ratio = mean_ci(ratios, rng, reps)
    paired = {
        "best_heuristic": best,
        "mean_ratio": ratio["mean"],
        "ci95": ratio["ci95"],
        # Each training seed's mean ratio: the spread between seeds a reader asks about first.
        "per_checkpoint": [float(r) for r in ratios.mean(axis=(1, 2))],
    }
    return {"policies": policies, "paired": paired, "frontier": _frontier(scores, best, rng, reps)}


def _frontier(scores: Scores, best: str, rng: np.random.Generator, reps: int) -> dict:
    ours = scores[CHECKPOINT_SET]
    sweep = frontier_sweep(scores, best)
    pairs = ours["energy_kwh"][0].size  # (window, load) cells
    policy_energy, policy_sla = ours["energy_kwh"].reshape(-1), ours["slatah"].reshape(-1)
    sweep_energy = np.stack([scores[s]["energy_kwh"].reshape(-1) for s in sweep])
    sweep_sla = np.stack([scores[s]["slatah"].reshape(-1) for s in sweep])

    def reduction(which: int):
        def statistic(cells: np.ndarray) -> float:
            paired = cells % pairs  # the (window, load) each drawn checkpoint cell was on
            return reductions(
                sweep_energy[:, paired].mean(axis=1),
                sweep_sla[:, paired].mean(axis=1),
                float(policy_energy[cells].mean()),
                float(policy_sla[cells].mean()),
            )[which]

        return statistic

    cells = policy_energy.size
    return {
        "sla_reduction_at_equal_energy": statistic_ci(reduction(0), cells, rng, reps),
        "energy_reduction_at_equal_sla": statistic_ci(reduction(1), cells, rng, reps),
    }
