"""frontier.png: energy against SLATAH, each heuristic's sweep as a curve over its packing
targets, the checkpoint set as one point with its 95% intervals on both axes."""

from collections import defaultdict
from pathlib import Path
from typing import Any

from marl_alloc.scoring.contenders import CHECKPOINT_SET, heuristic_name, packing_target


def plot_frontier(report: dict[str, Any], path: Path) -> None:
    """Draw the report's policies on the energy-SLATAH plane."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    policies = report["policies"]
    sweeps: dict[str, list[str]] = defaultdict(list)
    for label in policies:
        if label != CHECKPOINT_SET:
            sweeps[heuristic_name(label)].append(label)
    for name, labels in sweeps.items():
        labels.sort(key=packing_target)
        energy = [policies[label]["energy_kwh"]["mean"] for label in labels]
        sla = [100 * policies[label]["slatah"]["mean"] for label in labels]
        (line,) = ax.plot(energy, sla, marker="o", linewidth=1, label=name)
        for label, x, y in zip(labels, energy, sla, strict=True):
            if "@" in label:
                target = label.partition("@")[2]
                ax.annotate(
                    target,
                    (x, y),
                    (3, 3),
                    textcoords="offset points",
                    fontsize=7,
                    color=line.get_color(),
                )
    if CHECKPOINT_SET in policies:
        energy, sla = policies[CHECKPOINT_SET]["energy_kwh"], policies[CHECKPOINT_SET]["slatah"]
        ax.errorbar(
            energy["mean"],
            100 * sla["mean"],
            xerr=_bar(energy),
            yerr=_bar(sla, 100.0),
            fmt="*",
            markersize=12,
            color="black",
            capsize=4,
            label=f"{CHECKPOINT_SET} (95% CI)",
        )
    ax.set_xlabel("energy per window (kWh)")
    ax.set_ylabel("SLATAH (%)")
    ax.set_title("energy vs SLA: heuristic sweeps (labels: packing target) and the policy")
    ax.legend(fontsize="small")
    fig.subplots_adjust(left=0.1, right=0.97, top=0.93, bottom=0.1)
    fig.savefig(path, dpi=90)


def _bar(stat: dict, scale: float = 1.0):
    if stat["ci95"] is None:
        return None
    lo, hi = stat["ci95"]
    return [[(stat["mean"] - lo) * scale], [(hi - stat["mean"]) * scale]]
