"""A benchmark's report files: report.json (statistics and settings), report.md (the same for a
person) and frontier.png (marl_alloc.scoring.figure)."""

import json
from pathlib import Path
from typing import Any

from marl_alloc.scoring.contenders import CHECKPOINT_SET
from marl_alloc.scoring.figure import plot_frontier

# report.md's policy table: report metric, header, scale.
COLUMNS = (
    ("total_cost", "total cost", 1.0),
    ("energy_kwh", "energy kWh", 1.0),
    ("carbon_kg", "carbon kg", 1.0),
    ("slatah", "SLATAH %", 100.0),
    ("slav", "SLAV", 1.0),
    ("slo_misses", "SLO misses", 1.0),
    ("tasks_rejected", "rejected", 1.0),
)


def write_report(out: Path, report: dict[str, Any]) -> list[Path]:
    """Write report.json, report.md and frontier.png under `out`; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md", out / "frontier.png"]
    paths[0].write_text(json.dumps(report, indent=2) + "\n")
    paths[1].write_text(markdown(report))
    plot_frontier(report, paths[2])
    return paths


def _stat(stat: dict, scale: float = 1.0, unit: str = "") -> str:
    if stat["mean"] is None:
        return "n/a (outside the frontier)"
    text = f"{stat['mean'] * scale:.4g}"
    if stat["ci95"] is not None:
        lo, hi = stat["ci95"]
        text += f" [{lo * scale:.4g}, {hi * scale:.4g}]"
    return text + unit


def policy_table(policies: dict[str, dict]) -> str:
    """The policies as a markdown table, lowest mean total cost first."""
    order = sorted(policies, key=lambda label: policies[label]["total_cost"]["mean"])
    lines = [
        "| policy | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for label in order:
        cells = [_stat(policies[label][key], scale) for key, _, scale in COLUMNS]
        shown = f"**{label}**" if label == CHECKPOINT_SET else label
        lines.append(f"| {shown} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """report.md: what ran, the policy table, the paired and frontier comparisons."""
    s = report["settings"]
    loads = ", ".join(f"{load:g}" for load in s["loads"])
    lines = [
        "# Benchmark",
        "",
        f"Workload `{s['workload']}` ({', '.join(s['task_events']) or 'generated'}); "
        f"{len(s['windows'])} windows of {s['window_tasks']} tasks x loads {loads}; "
        f"duration knowledge `{s['env']['knowledge']['durations']}`; --seed {s['seed']}; "
        f"code {s['code_version']}.",
        "",
        f"Means over windows x loads x seeds with 95% bootstrap intervals ({s['bootstrap_reps']} "
        "draws); SLATAH in percent. Energy, carbon, cost and counts per window.",
        "",
        policy_table(report["policies"]),
        "",
    ]
    if report["paired"] is None:
        lines += ["No checkpoints: heuristics only.", ""]
    else:
        paired, frontier = report["paired"], report["frontier"]
        ratio = {"mean": paired["mean_ratio"], "ci95": paired["ci95"]}
        sla = frontier["sla_reduction_at_equal_energy"]
        energy = frontier["energy_reduction_at_equal_sla"]
        lines += [
            f"Checkpoint set ({len(s['checkpoints'])} checkpoints) against the best heuristic, "
            f"`{paired['best_heuristic']}`:",
            "",
            f"- total cost ratio, paired per window and load: {_stat(ratio)}; per checkpoint "
            + ", ".join(f"{r:.3f}" for r in paired["per_checkpoint"]),
            f"- SLATAH reduction at equal energy on its frontier: {_stat(sla, 100.0, ' %')}",
            f"- energy reduction at equal SLATAH on its frontier: {_stat(energy, 100.0, ' %')}",
            "",
        ]
    lines += [
        "![energy vs SLATAH](frontier.png)",
        "",
        "| window | seed | start row | trace time s |",
        "|---|---|---|---|",
    ]
    for w in s["windows"]:
        start = "" if w["start_s"] is None else f"{w['start_s']:.0f}"
        row = "" if w["start_row"] is None else w["start_row"]
        lines.append(f"| {w['index']} | {w['seed']} | {row} | {start} |")
    return "\n".join(lines) + "\n"
