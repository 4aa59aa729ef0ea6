"""`python -m marl_alloc.bench learner --json`: the learner's update rate on CPU or a GPU.

The training LearnerWorker (fused update, n-step double-Q and team losses, priorities sent back)
trains from a local replay shard filled with real transitions from the env workers' rollouts, so
the figure is the learner's own: no env actors or Ray hops in the loop. In the same run, on the
same shard, the previous update path (`training.learner_path=rllib_update`) is timed as the
`reference`, the two interleaved in `--rounds` slices so a machine's changing load hits both alike.
`arithmetic` puts the fused update's matmul FLOPs and rate beside a large matmul's rate on the
same device and threads (marl_alloc/bench/arithmetic.py): how far the update is from FLOP-bound.
`--forecaster` turns the policy's forecaster on, interleaves the same update with it off, and
splits the on path's time into the policy update's and the forecaster steps' (their cadence is
model.forecaster.train_every / train_batch_size), with the forecaster's error on held-out rows
(marl_alloc/bench/learner_forecaster.py).

    python -m marl_alloc.bench learner --device cuda --updates 300 --json \\
        training.train_batch_size=1024
    python -m marl_alloc.bench learner --forecaster --json model.forecaster.train_every=16
"""

import argparse
import time
from typing import Any

from marl_alloc.bench.report import run_benchmark
from marl_alloc.floor.command_line import CommandParser

# A local shard answers every sample at once; the rate limiter would only stall the fill.
FIXED_OVERRIDES = ["replay.samples_per_insert=null", "replay.min_size_to_sample=1000"]
# The previous path runs as it was: none of the fused path's options apply to it.
REFERENCE_OVERRIDES = [
    "training.learner_path=rllib_update",
    "training.batches_per_sample=1",
    "training.precision=fp32",
    "training.compile=false",
    "training.cuda_graphs=false",
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench learner")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--updates", type=int, default=200, help="timed gradient updates")
    parser.add_argument("--warmup", type=int, default=20, help="untimed updates first")
    parser.add_argument("--transitions", type=int, default=20_000, help="replay fill per module")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved timing slices")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip timing the previous update path"
    )
    parser.add_argument(
        "--forecaster",
        action="store_true",
        help="with the policy's forecaster: time the update with it off and on, and its steps",
    )
    parser.add_argument(
        "--heldout-rows",
        type=int,
        default=2000,
        help="forecaster rows from unseen seeds its error is measured on (--forecaster)",
    )
    parser.add_argument(
        "--arithmetic-calls",
        type=int,
        default=10,
        help="fused updates (and peak matmuls) per slice when timing the FLOP rate; 0 skips it",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. training.train_batch_size=512"
    )
    args = parser.parse_args(argv)
    if min(args.updates, args.transitions, args.threads, args.rounds, args.heldout_rows) < 1:
        parser.error(
            "--updates, --transitions, --threads, --rounds and --heldout-rows must be >= 1"
        )
    if min(args.warmup, args.arithmetic_calls) < 0:
        parser.error("--warmup and --arithmetic-calls must be >= 0")
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


class _Timed:
    """One update path's LearnerWorker and the updates and seconds timed on it."""

    def __init__(self, settings: Any, device: str, shard: Any):
        from learners.learner_worker import LearnerWorker
        from marl_alloc.apex.builder import build_apex_config

        config = build_apex_config(settings).learners(num_gpus_per_learner=int(device == "cuda"))
        self.worker = LearnerWorker(config, [shard])
        self.batch = int(config.train_batch_size_per_learner)
        self.device = device
        self.updates = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        # The forecaster's steps in the timed updates: steps, rows, CPU seconds.
        self.forecaster_steps = {"steps": 0, "rows": 0, "cpu_s": 0.0}

    def run(self, updates: int, timed: bool = True) -> None:
        stream = self.worker.forecaster
        before = stream.counters() if stream is not None else {}
        _synchronize(self.device)
        start, cpu_start = time.perf_counter(), time.process_time()
        done = self.worker.train_round(updates)["updates"]
        _synchronize(self.device)
        if timed:
            self.updates += done
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.process_time() - cpu_start
            for key, value in before.items():
                self.forecaster_steps[key] += stream.counters()[key] - value

    def figures(self, modules: int) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "seconds": self.seconds,
            "updates_per_s": self.updates / self.seconds,
            "rows_per_s": self.updates * self.batch * modules / self.seconds,
            # This process's CPU time (all threads) per update: on a machine other jobs load,
            # a steadier comparison than the wall-clock rate.
            "cpu_ms_per_update": 1e3 * self.cpu_seconds / self.updates,
        }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fill a shard from rollouts, then time `--updates` updates of each path, interleaved."""
    import torch

    from actors.env_worker import EnvWorker
    from learners.batch_prefetcher import as_tensors
    from marl_alloc.apex.builder import build_apex_config
    from marl_alloc.apex.runtime import worker_kwargs
    from marl_alloc.bench import learner_forecaster as lf
    from marl_alloc.bench.arithmetic import arithmetic_figures
    from marl_alloc.floor.settings.compose import compose_settings
    from marl_alloc.policy.forecaster import FORECAST_TARGETS, FORECASTER_ID
    from replay import PrioritizedShard

    device = _device(args.device)
    forecaster = ["model.forecaster.enabled=true"] if args.forecaster else []
    settings = compose_settings([*FIXED_OVERRIDES, *args.overrides, *forecaster])
    # Initial weights (acting and trained) follow the run's seed, so runs see the same rows.
    torch.manual_seed(settings.seed)
    config = build_apex_config(settings)
    shard = PrioritizedShard(settings.replay, 0)

    def env_worker(sink, index: int) -> EnvWorker:
        kwargs = worker_kwargs(settings, index)
        return EnvWorker(settings.env, config.rl_module_spec, sink, **kwargs)

    def filled(sizes: dict[str, int]) -> bool:
        # Forecaster rows come later and fewer (once their targets' bins close): enough that
        # replay samples them from the first update.
        forecaster_rows = sizes.pop(FORECASTER_ID, 0)
        if args.forecaster and forecaster_rows < settings.replay.min_size_to_sample:
            return False
        return min(sizes.values(), default=0) >= args.transitions

    worker = env_worker(shard.add, 0)
    fill_start = time.perf_counter()
    while not filled(shard.size()):
        worker.collect(16)
    fill_s = time.perf_counter() - fill_start
    if args.forecaster:
        held_out = lf.held_out_rows(lambda sink: env_worker(sink, 1), args.heldout_rows)
    # After the rollouts: an env worker pins its process to one torch thread.
    torch.set_num_threads(args.threads)
    paths = {"fused": _Timed(settings, device, shard)}
    if args.forecaster:
        off = compose_settings(
            [*FIXED_OVERRIDES, *args.overrides, "model.forecaster.enabled=false"]
        )
        paths["off"] = _Timed(off, device, lf.WithoutForecaster(shard))
        untrained_mae = lf.forecast_mae(
            paths["fused"].worker.learner.module[FORECASTER_ID], held_out
        )
    if not args.no_reference:
        reference = compose_settings(
            [*FIXED_OVERRIDES, *args.overrides, *forecaster, *REFERENCE_OVERRIDES]
        )
        paths["reference"] = _Timed(reference, device, shard)
    for path in paths.values():
        path.run(args.warmup, timed=False)
    for i in range(args.rounds):
        share = args.updates // args.rounds + (i < args.updates % args.rounds)
        for path in paths.values():
            path.run(share)
    # The modules the policy update trains (the forecaster trains apart).
    modules = sorted(m for m in shard.size() if m != FORECASTER_ID)
    fused = paths["fused"]
    training = settings.training
    result = {
        "bench": "learner",
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "encoder": settings.model.policy.encoder,
        "mixer": settings.model.mixer.kind,
        "learner_path": training.learner_path,
        "precision": training.precision,
        "compile": training.compile,
        "cuda_graphs": training.cuda_graphs,
        "batches_per_sample": training.batches_per_sample,
        "batch_per_module": fused.batch,
        "modules": modules,
        **fused.figures(len(modules)),
        "replay_fill_s": fill_s,
        "replay_size": shard.size(),
    }
    if args.forecaster:
        cadence = settings.model.forecaster
        stream = fused.worker.forecaster
        result["forecaster"] = {
            "train_every": cadence.train_every,
            "train_batch_size": cadence.train_batch_size,
            **lf.forecaster_figures(
                result, paths["off"].figures(len(modules)), fused.forecaster_steps, fused.seconds
            ),
            "held_out": {
                "rows": len(held_out[FORECAST_TARGETS]),
                "steps_trained": stream.steps,  # warmup's too
                "mae": lf.forecast_mae(fused.worker.learner.module[FORECASTER_ID], held_out),
                "mae_untrained": untrained_mae,
                "persistence_mae": lf.persistence_mae(held_out),
            },
        }
    if args.arithmetic_calls:
        learner = fused.worker.learner
        sampled = shard.sample(fused.batch)
        sampled.pop(FORECASTER_ID, None)
        (batch,) = as_tensors(sampled, pin_memory=False).to_device(learner.device)
        result["arithmetic"] = arithmetic_figures(
            learner, batch, device, args.rounds, args.arithmetic_calls
        )
    if "reference" in paths:
        ref = paths["reference"].figures(len(modules))
        result["reference"] = {"learner_path": "rllib_update", **ref}
        result["speedup"] = result["updates_per_s"] / ref["updates_per_s"]
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; bad options or config give one line and exit 2."""
    return run_benchmark(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
