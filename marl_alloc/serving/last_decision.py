"""What the policy saw for a decision, as GET /stats shows it: the pod's inputs and the
task and context features made of them, the run time believed of it and what that belief rests
on (marl_alloc.serving.pod_durations), how much of the cluster was laid out and evaluated, and
who answered."""

from typing import Any

import numpy as np

from marl_alloc.serving.errors import shown
from marl_alloc.serving.prepared import Prepared

FORECAST_SOURCE = "none: zeros, as the simulator's before a forecaster sets one"


def last_decision(p: Prepared, answered_by: str, scores: np.ndarray | None) -> dict[str, Any]:
    """The view of one decision the policy was asked for (`scores`: per request name, for a
    prioritize call)."""
    pod, levels = p.pod, p.decision.levels
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
            "forecast_source": FORECAST_SOURCE,
        },
        "duration": p.duration.view(),
        # envs.observations.task_features and context_features of the pod, as the policy got them.
        "task_features": np.round(levels.tc.task, 6).tolist(),
        "context_features": np.round(levels.tc.context, 6).tolist(),
        "nodes": {
            "candidates": len(p.names),
            "known": len(p.layout.candidates),
            "feasible": int(p.feasible.sum()),
            "virtual_clusters": p.layout.tiling.topology.num_clusters,
        },
        "rows_evaluated": dict(p.decision.rows_evaluated),
    }
