"""`python -m marl_alloc.bench decision --json`: per-task decision latency of the policy on CPU.

One task placement is the cluster, rack and leaf agents acting in turn (a decision cycle); the
latency is the policy's time over the three, measured per task in one datacenter, as a scheduler
answering one pod at a time would see it. Torch uses one thread: per-request inference of small
networks only loses to thread hand-offs.
"""

import argparse
import json
import sys
import time
from typing import Any

import numpy as np


def measure(module: Any, env_settings: dict, tasks: int, seed: int) -> dict[str, float]:
    """Latency percentiles (ms) over `tasks` decision cycles of a greedy policy."""
    import torch

    from envs import VectorDatacenterEnv
    from marl_alloc import columns as C

    env = VectorDatacenterEnv(env_settings, num_envs=1, seed=seed, continuing=True)
    level_obs = env.reset(seed=seed)
    cycles: list[float] = []
    elapsed = 0.0
    with torch.inference_mode():
        while len(cycles) < tasks:
            start = time.perf_counter()
            batch = {
                C.OBS: torch.from_numpy(level_obs.obs),
                C.ACTION_MASK: torch.from_numpy(level_obs.action_mask),
            }
            actions = module[level_obs.level].forward_inference(batch)[C.ACTIONS].numpy()
            elapsed += time.perf_counter() - start
            result = env.step(actions)
            level_obs = result.next
            if result.cycle_end:
                cycles.append(elapsed * 1e3)
                elapsed = 0.0
    # The first cycles pay for lazy allocations; a serving process is warm.
    ms = np.asarray(cycles[min(50, tasks // 10) :])
    return {
        "hosts": int(env.topology.num_hosts),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "tasks": int(len(ms)),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse flags, build (or load) the policy, print the latency figures."""
    parser = argparse.ArgumentParser(prog="python -m marl_alloc.bench decision")
    parser.add_argument("--checkpoint", help="a trained checkpoint (default: untrained policy)")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. model.policy.encoder=mlp"
    )
    args = parser.parse_args(argv)

    import torch

    from marl_alloc.apex.builder import env_dimensions
    from marl_alloc.compose import compose_settings
    from marl_alloc.policy import build_policy_spec
    from marl_alloc.settings import UserError

    torch.set_num_threads(1)
    try:
        if args.checkpoint:
            from marl_alloc.checkpoints import load_policy

            module, settings = load_policy(args.checkpoint)
        else:
            settings = compose_settings(args.overrides)
            obs_dims, num_actions = env_dimensions(settings["env"])
            module = build_policy_spec(obs_dims, num_actions, settings["model"]["policy"]).build()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    module.foreach_module(lambda _, m: m.eval())
    figures = measure(module, settings["env"], args.tasks, args.seed)
    figures["encoder"] = settings["model"]["policy"].get("encoder", "mlp")
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['encoder']} policy, {figures['hosts']} hosts: "
            f"p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms per task"
        )
    return 0
