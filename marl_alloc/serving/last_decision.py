"""What the policy saw for a decision, as GET /stats shows it: the pod's inputs and the
task and context features made of them, where its duration came from, the run times seen of its
workload's finished pods (what a duration estimate learns from), how much of the cluster was
laid out and evaluated, and who answered."""

from typing import Any

import numpy as np

from marl_alloc.serving.errors import shown
from marl_alloc.serving.prepared import Prepared
from marl_alloc.serving.run_times import PodRunTimes

FORECAST_SOURCE = "none: zeros, as the simulator's before a forecaster sets one"


def last_decision(
    p: Prepared, answered_by: str, scores: np.ndarray | None, run_times: PodRunTimes
) -> dict[str, Any]:
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
            "duration_s": pod.duration_s,
            "duration_source": pod.duration_source,
            "priority_class": pod.priority,
            "deferrable": pod.deferrable,
            "defers": pod.defers,
            "carbon_g_per_kwh": round(p.g_per_kwh, 2),
            "forecast_source": FORECAST_SOURCE,
        },
        # envs.observations.task_features and context_features of the pod, as the policy got them.
        "task_features": np.round(levels.tc.task, 6).tolist(),
        "context_features": np.round(levels.tc.context, 6).tolist(),
        "observed_run_times": run_times.summary((pod.workload, pod.priority)),
        "nodes": {
            "candidates": len(p.names),
            "known": len(p.layout.candidates),
            "feasible": int(p.feasible.sum()),
            "virtual_clusters": p.layout.tiling.topology.num_clusters,
        },
        "rows_evaluated": dict(p.decision.rows_evaluated),
    }
