"""What the policy saw for a decision, as GET /stats shows it: the pod's inputs and the
task and context features made of them, the run time believed of it and what that belief rests
on (marl_alloc.serving.pod_durations), where its forecast features came from and how many bins
old they were (marl_alloc.serving.forecasts), how much of the cluster was laid out and
evaluated, and who answered."""

from typing import Any

import numpy as np

from marl_alloc.serving.errors import shown
from marl_alloc.serving.forecasts import SOURCE
from marl_alloc.serving.prepared import Prepared

NO_FORECASTER = "none: the policy has no forecaster; zeros, as the simulator's without one"
NO_FORWARD_YET = "none yet: zeros until the forecaster's first forward (a demand bin must close)"


def last_decision(
    p: Prepared, answered_by: str, scores: np.ndarray | None, forecast_age_bins: int | None
) -> dict[str, Any]:
    """The view of one decision the policy was asked for (`scores`: per request name, for a
    prioritize call; `forecast_age_bins`: bins ended since the forecast's last one)."""
    pod, levels = p.pod, p.decision.levels
    if levels.forecast is None:
        source = NO_FORECASTER
    else:
        source = NO_FORWARD_YET if levels.forecast.source is None else SOURCE
    top = None
    if scores is not None and len(scores) and scores.max() > 0:
        top = shown(p.names[int(scores.argmax())])
    return {
        "verb": p.verb,
        "pod": f"{shown(pod.namespace)}/{shown(pod.name)}",
        "at_s": p.now_s,
        "answered_by": answered_by,
        "top_node": top,
        "pod_inputs": {
            "cpu_cores": pod.cpu,
            "memory_bytes": pod.mem,
            "workload": shown(pod.workload),
            "priority_class": pod.priority,
            "deferrable": pod.deferrable,
            "defers": pod.defers,
            "carbon_g_per_kwh": round(p.g_per_kwh, 2),
            "forecast_source": source,
            "forecast_age_bins": forecast_age_bins,
        },
        "duration": p.duration.view(),
        # envs.observations.task_features and context_features of the pod, as the policy got them.
        "task_features": np.round(levels.tc.task, 6).tolist(),
        # Those of the first virtual cluster's row (with a forecaster, each row has its own).
        "context_features": np.round(
            levels.context("cluster", np.zeros(1, np.int64), 1)[0], 6
        ).tolist(),
        "nodes": {
            "candidates": len(p.names),
            "known": len(p.layout.candidates),
            "feasible": int(p.feasible.sum()),
            "virtual_clusters": p.layout.tiling.topology.num_clusters,
        },
        "rows_evaluated": dict(p.decision.rows_evaluated),
    }
