"""Kubernetes-shaped requests built from a simulator state, and small saved policies."""

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from envs import VectorDatacenterEnv
from envs.hosts import BOOTING, OFF, ON
from marl_alloc.floor.settings import CONFIG_FILE, Settings
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy import build_policy_spec
from marl_alloc.policy.checkpoint import MODULE_PATH

# The simulator's capacity 1.0 as a Kubernetes machine.
CORES = 64.0
MEMORY_BYTES = 256 * 2**30
ZONE_LABEL = "topology.kubernetes.io/zone"
RACK_LABEL = "marl-alloc.io/rack"
POWER = {ON: "on", BOOTING: "booting", OFF: "off"}
# Pod priorities that map to task priority classes 0, 1, 2 with thresholds [1, 1000].
POD_PRIORITY = {0: 0, 1: 1, 2: 1000}


def small_settings(
    racks: int, leaves: int, hosts: int, clusters: int = 1, hidden: int = 32
) -> Settings:
    """The composed settings of a run with this topology and a small Q network."""
    return compose_settings(
        [
            f"env.topology.num_clusters={clusters}",
            f"env.topology.racks_per_cluster={racks}",
            f"env.topology.leaves_per_rack={leaves}",
            f"env.topology.hosts_per_leaf={hosts}",
            f"model.policy.hidden_sizes=[{hidden},{hidden}]",
        ]
    )


def save_untrained_checkpoint(root: Path, settings: Settings, seed: int = 0) -> Path:
    """A checkpoint dir load_policy reads: a freshly initialized policy and its settings."""
    import torch

    env = VectorDatacenterEnv(settings.env, num_envs=1, seed=0)
    torch.manual_seed(seed)
    spec = build_policy_spec(env.obs_dims, env.num_actions, settings.model.policy)
    module = spec.build()
    root.mkdir(parents=True, exist_ok=True)
    module.save_to_path(str(root / MODULE_PATH))
    settings.save(root / CONFIG_FILE)
    return root


def quantity(value: float) -> str:
    """A decimal Kubernetes quantity with enough digits for float32 features."""
    return f"{value:.9f}"


def node_objects(env: VectorDatacenterEnv, b: int = 0) -> list[dict[str, Any]]:
    """One v1.Node per simulated host of env b: node-0000.. in host order, rack and zone labels,
    allocatable = capacity, load in marl-alloc annotations."""
    h, top = env.hosts, env.topology
    nodes = []
    for i in range(top.num_hosts):
        rack = i // top.hosts_per_rack
        cluster = rack // top.racks_per_cluster
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"node-{i:04d}",
                    "labels": {
                        ZONE_LABEL: f"zone-{cluster:03d}",
                        RACK_LABEL: f"rack-{rack:03d}",
                        "kubernetes.io/hostname": f"node-{i:04d}",
                    },
                    "annotations": {
                        "marl-alloc.io/cpu-requested": quantity(h.cpu_requested[b, i] * CORES),
                        "marl-alloc.io/memory-requested": quantity(
                            h.mem_requested[b, i] * MEMORY_BYTES
                        ),
                        "marl-alloc.io/cpu-usage": quantity(h.cpu_usage[b, i] * CORES),
                        "marl-alloc.io/power-state": POWER[int(h.power_state[b, i])],
                    },
                },
                "spec": {"podCIDR": f"10.{i // 256}.{i % 256}.0/24"},
                "status": {
                    "capacity": {
                        "cpu": quantity(h.cpu_capacity[b, i] * CORES),
                        "memory": quantity(h.mem_capacity[b, i] * MEMORY_BYTES),
                        "pods": "110",
                    },
                    "allocatable": {
                        "cpu": quantity(h.cpu_capacity[b, i] * CORES),
                        "memory": quantity(h.mem_capacity[b, i] * MEMORY_BYTES),
                        "pods": "110",
                    },
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                },
            }
        )
    return nodes


def pod_object(env: VectorDatacenterEnv, b: int = 0, name: str = "task") -> dict[str, Any]:
    """The pending task of env b as a v1.Pod (creationTimestamp = arrival, as Unix seconds)."""
    p = {k: v[b] for k, v in env.pending.items()}
    created = dt.datetime.fromtimestamp(float(p["arrival_s"]), dt.UTC)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": "0b1c2d3e-0000-4000-8000-000000000001",
            "creationTimestamp": created.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "annotations": {
                "marl-alloc.io/deferrable": "true" if p["deferrable"] else "false",
                "marl-alloc.io/defers": str(int(p["defers"])),
            },
            "ownerReferences": [owner_reference(int(p["owner"]))],
        },
        "spec": task_spec(p),
    }


def owner_reference(owner: int) -> dict[str, Any]:
    """A simulator owner as the Job its pods belong to (workload default/Job/owner-<owner>)."""
    return {"apiVersion": "batch/v1", "kind": "Job", "name": f"owner-{owner}", "controller": True}


def task_spec(task: dict[str, Any]) -> dict[str, Any]:
    """A task's priority class and request as a v1.PodSpec."""
    requests = {
        "cpu": quantity(float(task["cpu"]) * CORES),
        "memory": quantity(float(task["mem"]) * MEMORY_BYTES),
    }
    return {
        "priority": POD_PRIORITY[int(task["priority"])],
        "containers": [
            {
                "name": "main",
                "image": "registry.example/task:1",
                "resources": {"requests": requests},
            }
        ],
    }


def cluster_history(env: VectorDatacenterEnv, n: int = 60, seed: int = 0) -> dict[str, np.ndarray]:
    """Finished tasks (envs.duration_knowledge.FINISHED_COLUMNS) of a few owners, a third of
    them with env 0's pending task's request shape, in whole seconds (as pods report them)."""
    rng = np.random.default_rng(seed)
    same_shape = np.arange(n) % 3 == 0
    pending = {k: env.pending[k][0] for k in ("cpu", "mem", "owner")}
    owners = pending["owner"] + rng.integers(0, 3, n)
    owners[same_shape] = pending["owner"]
    return {
        "task_class": np.zeros(n, np.int16),  # Kubernetes has no scheduling class
        "priority": rng.integers(0, 3, n).astype(np.int16),
        "owner": owners.astype(np.int64),
        "cpu": np.where(same_shape, pending["cpu"], rng.uniform(0.01, 0.3, n)).astype(np.float32),
        "mem": np.where(same_shape, pending["mem"], rng.uniform(0.01, 0.3, n)).astype(np.float32),
        "run_s": np.round(rng.lognormal(6.0, 1.0, n)).astype(np.float64),
    }


def finished_pods(history: dict[str, np.ndarray]) -> list[tuple[str, str, bytes]]:
    """The finished tasks of `history` as a pod list (name, resourceVersion, v1.Pod JSON)."""
    start = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)

    def stamp(t: dt.datetime) -> str:
        return t.isoformat().replace("+00:00", "Z")

    pods = []
    for i in range(len(history["run_s"])):
        task = {k: v[i] for k, v in history.items()}
        end = start + dt.timedelta(seconds=float(task["run_s"]))
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"done-{i}",
                "namespace": "default",
                "uid": f"0b1c2d3e-0000-4000-8000-{i:012d}",
                "ownerReferences": [owner_reference(int(task["owner"]))],
            },
            "spec": task_spec(task),
            "status": {
                "phase": "Succeeded",
                "startTime": stamp(start),
                "containerStatuses": [
                    {"name": "main", "state": {"terminated": {"finishedAt": stamp(end)}}}
                ],
            },
        }
        pods.append((f"done-{i}", str(100 + i), json.dumps(pod).encode()))
    return pods


def extender_args(env: VectorDatacenterEnv, b: int = 0, names_only: bool = False) -> dict:
    """ExtenderArgs for env b's pending task over all its hosts."""
    nodes = node_objects(env, b)
    if names_only:
        return {"Pod": pod_object(env, b), "NodeNames": [n["metadata"]["name"] for n in nodes]}
    return {"Pod": pod_object(env, b), "Nodes": {"kind": "NodeList", "items": nodes}}


def env_at_decision(settings: Settings, seed: int, deferrable: bool | None = None):
    """An env (1 datacenter) at a cluster-level decision, optionally for a (non-)deferrable task."""
    env = VectorDatacenterEnv(settings.env, num_envs=1, seed=seed)
    level_obs = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(300):
        at_cluster = level_obs.level == "cluster" and level_obs.active[0]
        if at_cluster and deferrable in (None, bool(env.pending["deferrable"][0])):
            return env, as_the_cluster_knows_it(env)
        mask = level_obs.action_mask
        if level_obs.level == "cluster":
            mask = mask.copy()
            mask[:, -1] &= ~mask[:, :-1].any(axis=1)  # place rather than defer
        action = np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=1)
        level_obs = env.step(action).next
    raise AssertionError("no matching decision within 300 steps")


def as_the_cluster_knows_it(env: VectorDatacenterEnv, finished: dict | None = None):
    """Give the simulator what the extender knows: of running pods' ends nothing (a switched-on
    host then reads as held for the idle timeout, serving.level_obs.held_until), and of run
    times the `finished` tasks (a cluster_history; None: none has finished) that the extender is
    fed as finished pods; returns the observation rebuilt from that."""
    on = env.hosts.power_state != OFF
    env.commitments.until[:] = np.where(on, env.now[:, None] + env.hosts.idle_timeout_s, -np.inf)
    env.knowledge.reset()
    if finished is not None:
        env.knowledge.observe(np.zeros(len(finished["run_s"]), np.int64), finished)
    env.knowledge.believe_pending(env.pending, np.arange(env.num_envs))
    env._level_obs = None
    return env.observe()


def simulated_pick(env: VectorDatacenterEnv, policy) -> int:
    """The host the policy places env 0's pending task on, stepping cluster -> rack -> leaf in
    the simulator (the env's state is restored afterwards)."""
    state = env.get_state()
    level_obs = env._obs
    assert level_obs.level == "cluster"
    try:
        for _ in range(3):
            action = policy.act(env, level_obs)
            if level_obs.level == "cluster":
                assert action[0] < env.topology.racks_per_cluster, "the policy deferred"
            if level_obs.level == "leaf":
                return int(env._leaf[0] * env.topology.hosts_per_leaf + action[0])
            level_obs = env.step(action).next
    finally:
        env.set_state(state)
    raise AssertionError("no leaf decision")
