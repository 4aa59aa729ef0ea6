"""`python -m marl_alloc.bench replay`: add / sample / priority-update throughput of one shard.

One PrioritizedShard (plain class, no Ray) built from the default `replay` config, with
`--set key=value` overrides. Adds come in batches as env actors send them; samples and priority
updates use the learner's batch size. Prints one JSON line with `--json`.

    python -m marl_alloc.bench replay --obs-dim 64 --batch 256 --capacity 1000000 \
        --transitions 200000 --json [--obs-kind env] [--set compress=false]
"""

import argparse
import time
from typing import Any

import numpy as np

from marl_alloc.bench.report import run_benchmark
from marl_alloc.floor import columns as C
from marl_alloc.floor.command_line import CommandParser

MODULE_ID = "leaf"


def random_obs(rng: np.random.Generator, n: int, obs_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent uniform float32 observations: the worst case for compression."""
    return (
        rng.random((n, obs_dim), dtype=np.float32),
        rng.random((n, obs_dim), dtype=np.float32),
    )


def env_like_obs(rng: np.random.Generator, n: int, obs_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Observations shaped like a datacenter env's: a stream whose next obs is a later obs.

    Per feature group: zero padding (hosts absent or off), utilization fractions to 1/100 that
    drift from step to step, on/off flags, capacities fixed per host, repeated features, and an
    hour-of-day encoding.
    """
    steps = n + 3  # n-step transitions: next obs is the obs 3 steps later in the same stream
    groups = np.array_split(np.arange(obs_dim), 6)
    obs = np.zeros((steps, obs_dim), np.float32)
    zero, util, flags, capacity, repeated, hour = groups
    drift = rng.normal(0, 0.02, (steps, len(util))).cumsum(axis=0)
    obs[:, util] = np.round(np.clip(0.5 + drift, 0, 1) * 100) / 100
    obs[:, flags] = rng.random((steps, len(flags))) < 0.8
    obs[:, capacity] = rng.choice([0.25, 0.5, 1.0], len(capacity))
    obs[:, repeated] = obs[:, util[: len(repeated)]] if len(util) >= len(repeated) else 0
    hours = (np.arange(steps) // 16) % 24
    obs[:, hour] = np.sin(2 * np.pi * hours[:, None] / 24 + np.arange(len(hour)))
    obs[:, zero] = 0
    return obs[:n], obs[3:]


OBS_KINDS = {"random": random_obs, "env": env_like_obs}


def make_batches(args: argparse.Namespace, rng: np.random.Generator) -> list[dict]:
    """The add calls of the run, generated before timing."""
    obs, next_obs = OBS_KINDS[args.obs_kind](rng, args.transitions, args.obs_dim)
    n, num_actions = args.transitions, args.num_actions
    columns = {
        C.OBS: obs,
        C.NEXT_OBS: next_obs,
        C.ACTION_MASK: rng.random((n, num_actions)) < 0.9,
        C.NEXT_ACTION_MASK: rng.random((n, num_actions)) < 0.9,
        C.ACTIONS: rng.integers(0, num_actions, n),
        C.REWARDS: rng.standard_normal(n).astype(np.float32),
        C.DISCOUNTS: np.full(n, 0.99**3, np.float32),
        C.AGENT_INDEX: rng.integers(0, 12, n),
        C.TD_ABS: rng.exponential(1.0, n).astype(np.float32),
        C.ATTENTION: rng.random(n).astype(np.float32),
    }
    return [
        {MODULE_ID: {k: v[start : start + args.add_batch] for k, v in columns.items()}}
        for start in range(0, n, args.add_batch)
    ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Time adds, samples and priority updates; return the figures."""
    from marl_alloc.floor.settings.compose import compose_settings
    from replay import PrioritizedShard

    overrides = [f"replay.capacity={args.capacity}", *(f"replay.{kv}" for kv in args.set)]
    config = compose_settings(overrides).replay
    rng = np.random.default_rng(args.seed)
    batches = make_batches(args, rng)
    shard = PrioritizedShard(config)

    start = time.perf_counter()
    for batch in batches:
        shard.add(batch)
    add_s = time.perf_counter() - start

    start = time.perf_counter()
    sampled = [shard.sample(args.batch)[MODULE_ID] for _ in range(args.sample_calls)]
    sample_s = time.perf_counter() - start

    updates = [
        {
            MODULE_ID: {
                C.INDICES: s[C.INDICES],
                C.GENERATIONS: s[C.GENERATIONS],
                C.TD_ABS: rng.exponential(1.0, args.batch),
                C.ATTENTION: rng.random(args.batch),
            }
        }
        for s in sampled
    ]
    start = time.perf_counter()
    for update in updates:
        shard.update_priorities(update)
    update_s = time.perf_counter() - start

    stats = shard.stats()
    module = stats["modules"][MODULE_ID]
    return {
        "bench": "replay",
        "obs_kind": args.obs_kind,
        "obs_dim": args.obs_dim,
        "batch": args.batch,
        "add_batch": args.add_batch,
        "capacity": args.capacity,
        "transitions": args.transitions,
        "compress": shard.config.compress,
        "chunk_size": shard.config.chunk_size,
        "add_per_s": round(args.transitions / add_s),
        "sample_per_s": round(args.sample_calls * args.batch / sample_s),
        "update_per_s": round(args.sample_calls * args.batch / update_s),
        "bytes_per_transition": round(stats["bytes_per_transition"], 1),
        "raw_bytes_per_transition": module["raw_bytes_per_transition"],
        "compression_ratio": round(stats["compression_ratio"], 3),
        "obs_compression_ratio": round(module["obs_compression_ratio"], 3),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench replay", description=__doc__)
    parser.add_argument("--obs-dim", type=int, default=64)
    parser.add_argument("--obs-kind", choices=sorted(OBS_KINDS), default="random")
    parser.add_argument("--num-actions", type=int, default=16)
    parser.add_argument("--batch", type=int, default=256, help="rows per sample / update call")
    parser.add_argument("--add-batch", type=int, default=512, help="rows per add call")
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--transitions", type=int, default=200_000)
    parser.add_argument("--sample-calls", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="replay config override"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    for name in ("obs_dim", "num_actions", "batch", "add_batch", "capacity", "transitions"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 on a bad option or config."""
    return run_benchmark(parse_args, run, argv)
