"""`python -m marl_alloc.bench learner --json`: the learner's update rate on CPU or a GPU.

The training LearnerWorker (RLlib Learner, n-step double-Q loss, priorities sent back) trains from
a local replay shard filled with real transitions from the env workers' rollouts, so the figure is
the learner's own: no env actors or Ray hops in the loop. Compare `--device cpu` and `--device cuda`
on one machine to see what a GPU learner buys.

    python -m marl_alloc.bench learner --device cuda --updates 300 --json
"""

import argparse
import time
from typing import Any

from marl_alloc.bench.report import run_benchmark

# A local shard answers every sample at once; the rate limiter would only stall the fill.
FIXED_OVERRIDES = ["replay.samples_per_insert=null", "replay.min_size_to_sample=1000"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m marl_alloc.bench learner")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--updates", type=int, default=200, help="timed gradient updates")
    parser.add_argument("--warmup", type=int, default=20, help="untimed updates first")
    parser.add_argument("--transitions", type=int, default=20_000, help="replay fill per module")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. training.train_batch_size=512"
    )
    args = parser.parse_args(argv)
    if args.updates < 1 or args.warmup < 0 or args.transitions < 1 or args.threads < 1:
        parser.error("--updates, --transitions and --threads must be >= 1, --warmup >= 0")
    return args


def _device(requested: str) -> str:
    import torch

    from marl_alloc.floor.errors import UserError

    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible to torch")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def _synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fill a shard from rollouts, then time `--updates` learner updates."""
    import torch

    from actors.env_worker import EnvWorker
    from learners.learner_worker import LearnerWorker
    from marl_alloc.apex.builder import build_apex_config
    from marl_alloc.apex.runtime import worker_kwargs
    from marl_alloc.floor.settings.compose import compose_settings
    from replay import PrioritizedShard

    device = _device(args.device)
    torch.set_num_threads(args.threads)
    settings = compose_settings([*FIXED_OVERRIDES, *args.overrides])
    config = build_apex_config(settings).learners(num_gpus_per_learner=int(device == "cuda"))
    shard = PrioritizedShard(settings.replay, 0)
    worker = EnvWorker(settings.env, config.rl_module_spec, shard.add, **worker_kwargs(settings, 0))
    fill_start = time.perf_counter()
    while min(shard.size().values(), default=0) < args.transitions:
        worker.collect(16)
    fill_s = time.perf_counter() - fill_start
    learner = LearnerWorker(config, [shard])
    learner.train_round(args.warmup)
    _synchronize(device)
    start = time.perf_counter()
    done = learner.train_round(args.updates)["updates"]
    _synchronize(device)
    seconds = time.perf_counter() - start
    batch = int(config.train_batch_size_per_learner)
    modules = sorted(shard.size())
    return {
        "bench": "learner",
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch_threads": args.threads,
        "encoder": settings.model.policy.encoder,
        "batch_per_module": batch,
        "modules": modules,
        "updates": done,
        "seconds": seconds,
        "updates_per_s": done / seconds,
        "trained_rows_per_s": done * batch * len(modules) / seconds,
        "replay_fill_s": fill_s,
        "replay_size": shard.size(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; bad options or config give one line and exit 2."""
    return run_benchmark(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
