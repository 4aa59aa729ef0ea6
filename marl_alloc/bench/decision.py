"""`python -m marl_alloc.bench decision --json`: per-task decision latency of the policy on CPU.

One task placement is the cluster, rack and leaf agents acting in turn (a decision cycle); the
latency is the policy's time over the three, measured per task in one datacenter, as a scheduler
answering one pod at a time would see it. `p50_ms` / `p99_ms`: the acting path of evaluation and
serving (frozen Q networks, marl_alloc.policy.frozen_q, and the masked argmax);
`forward_inference_ms`: the same decisions through RLlib's `forward_inference` of the level
modules (eager PyTorch), as env runners act. Torch uses one thread: per-request inference of
small networks only loses to thread hand-offs.
"""

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from marl_alloc.floor.command_line import CommandParser
from marl_alloc.floor.settings import EnvConfig

# A callable from the env and its level's observation to that level's actions.
Act = Callable[[Any, Any], np.ndarray]


def frozen_acting(module: Any) -> Act:
    """The acting path of `python -m marl_alloc.evaluate` (marl_alloc.policy.acting_policy:
    frozen Q networks, fed forecasts when the policy has a forecaster)."""
    from marl_alloc.policy import acting_policy

    return acting_policy(module).act


def rllib_acting(module: Any) -> Act:
    """RLlib's forward_inference of the level module (eval mode)."""
    import torch

    from marl_alloc.floor import columns as C

    module.foreach_module(lambda _, m: m.eval())

    def act(env: Any, level_obs: Any) -> np.ndarray:
        batch = {
            C.OBS: torch.from_numpy(level_obs.obs),
            C.ACTION_MASK: torch.from_numpy(level_obs.action_mask),
        }
        with torch.inference_mode():
            return module[level_obs.level].forward_inference(batch)[C.ACTIONS].numpy()

    return act


def measure(act: Act, env_settings: EnvConfig, tasks: int, seed: int) -> dict[str, float]:
    """Latency percentiles (ms) over `tasks` decision cycles of a greedy policy."""
    from envs import VectorDatacenterEnv

    env = VectorDatacenterEnv(env_settings, num_envs=1, seed=seed, continuing=True)
    level_obs = env.reset(seed=seed)
    cycles: list[float] = []
    elapsed = 0.0
    while len(cycles) < tasks:
        start = time.perf_counter()
        actions = act(env, level_obs)
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
    parser = CommandParser(prog="python -m marl_alloc.bench decision")
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
    from marl_alloc.floor.errors import UserError
    from marl_alloc.floor.settings.compose import compose_settings
    from marl_alloc.policy import build_policy_spec

    torch.set_num_threads(1)
    try:
        if args.checkpoint:
            from marl_alloc.policy.checkpoint import load_policy

            module, settings = load_policy(args.checkpoint)
        else:
            settings = compose_settings(args.overrides)
            obs_dims, num_actions = env_dimensions(settings.env)
            module = build_policy_spec(obs_dims, num_actions, settings.model.policy).build()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    figures = measure(frozen_acting(module), settings.env, args.tasks, args.seed)
    eager = measure(rllib_acting(module), settings.env, args.tasks, args.seed)
    figures["forward_inference_ms"] = {k: eager[k] for k in ("p50_ms", "p99_ms", "mean_ms")}
    figures["encoder"] = settings.model.policy.encoder
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['encoder']} policy, {figures['hosts']} hosts: "
            f"p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms per task "
            f"(RLlib forward_inference: p50 {eager['p50_ms']:.3f}, p99 {eager['p99_ms']:.3f})"
        )
    return 0
