"""`python -m marl_alloc.bench recovery`: how fast the Ape-X pipeline recovers from killed actors.

On a local Ray (`--num-cpus`), the pipeline runs with durable replay shards (snapshot every
`--snapshot-every-s`, every add logged before it is acknowledged) and `--spare-actors` idle env
actors. After a baseline, it kills an env actor, then a replay shard (`ray.kill(...,
no_restart=False)`: Ray restarts them, the shard from its snapshot and log; a spare takes over
from the actor meanwhile). For each kill it reports the seconds until env steps/s is back to
90% of the baseline (the first `--window` after the kill whose rate reaches it), the seconds until
the component was replaced or restored, and the transitions each kill lost: those the actors
reported sent but no shard holds (goal 0 for a shard kill when durable).
Prints one JSON line with `--json`.

    python -m marl_alloc.bench recovery --json [--no-durable] [hydra overrides]
"""

import argparse
import bisect
import os
import shutil
import tempfile
import time
from typing import Any

from marl_alloc.bench.report import run_benchmark, start_local_ray
from marl_alloc.floor.settings import Settings

RECOVERED_FRACTION = 0.9


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m marl_alloc.bench recovery")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--num-actors", type=int, default=2)
    parser.add_argument("--num-shards", type=int, default=2)
    parser.add_argument("--spare-actors", type=int, default=1, help="0: wait for the restart")
    parser.add_argument("--baseline-s", type=float, default=8.0, help="rate measured before")
    parser.add_argument("--window", type=float, default=2.0, help="seconds a rate is taken over")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up on a recovery")
    parser.add_argument("--snapshot-every-s", type=float, default=2.0)
    parser.add_argument("--no-durable", action="store_true", help="no log: lose unsnapshotted")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides")
    args = parser.parse_args(argv)
    if min(args.num_cpus, args.num_actors, args.num_shards) < 1 or args.window <= 0:
        parser.error("--num-cpus, --num-actors, --num-shards and --window must be > 0")
    return args


class Timeline:
    """Cumulative env steps over time, as the driver harvests them."""

    def __init__(self):
        self.times: list[float] = []
        self.steps: list[int] = []

    def add(self, t: float, env_steps: int) -> None:
        """Record `env_steps` more steps at time `t`."""
        self.times.append(t)
        self.steps.append((self.steps[-1] if self.steps else 0) + env_steps)

    def steps_until(self, t: float) -> int:
        """Env steps harvested up to and including time `t`."""
        i = bisect.bisect_right(self.times, t)
        return self.steps[i - 1] if i else 0

    def rate(self, start: float, end: float) -> float:
        """Env steps per second harvested in (start, end]."""
        return (self.steps_until(end) - self.steps_until(start)) / (end - start)

    def recovery_seconds(self, kill_t: float, baseline: float, window: float) -> float | None:
        """Seconds from `kill_t` to the start of the first full window at >= 90% of `baseline`
        (windows start at each harvest after the kill); None if none has yet."""
        starts = [kill_t] + [t for t in self.times if t > kill_t]
        for start in starts:
            if start + window > self.times[-1]:
                return None
            if self.rate(start, start + window) >= RECOVERED_FRACTION * baseline:
                return start - kill_t
        return None


def bench_settings(args: argparse.Namespace, snapshot_dir: str) -> Settings:
    """The pipeline config with durable snapshotting shards and short rounds."""
    from marl_alloc.bench.pipeline import bench_settings as pipeline_settings

    return pipeline_settings(
        [
            f"replay.num_shards={args.num_shards}",
            f"replay.snapshot_dir={snapshot_dir}",
            f"replay.snapshot_every_s={args.snapshot_every_s}",
            f"replay.durable={str(not args.no_durable).lower()}",
            "training.collect_cycles=4",
            "training.log_every_s=0.25",
            *args.overrides,
        ],
        args.num_actors,
        args.num_cpus,
        None,
        spares=args.spare_actors,
    )


def run_until(runtime, timeline: Timeline, until: float, reported: list[int]) -> None:
    """Drive training rounds until time `until`, recording harvested env steps."""
    while time.monotonic() < until:
        summary = runtime.run_round()
        timeline.add(time.monotonic(), summary["env_steps"])
        reported[0] += summary["transitions"]


def stored(runtime) -> int:
    """Transitions the shards have stored (added) so far."""
    import ray

    return int(sum(s["added"] for s in ray.get([s.stats.remote() for s in runtime.shards])))


def kill_and_measure(runtime, kind: str, timeline, baseline, args, reported) -> dict[str, Any]:
    """Kill the first env actor or shard (Ray restarts it), drive rounds until the rate is back
    (or the timeout) and a little longer, then count the transitions this event lost."""
    import ray

    reported[0] += runtime.drain()  # every reported transition acknowledged: a clean start
    lost_before = reported[0] - stored(runtime)
    handle = runtime.actors[0] if kind == "env_actor" else runtime.shards[0]
    failures = runtime.failures["actor"]
    old_pid = ray.get(handle.__ray_call__.remote(_pid))
    kill_t = time.monotonic()
    ray.kill(handle, no_restart=False)
    pid_ref = None
    back_s = recovered = None
    while recovered is None and time.monotonic() - kill_t < args.timeout:
        run_until(runtime, timeline, time.monotonic() + args.window / 4, reported)
        if back_s is None and kind == "env_actor" and runtime.failures["actor"] > failures:
            back_s = time.monotonic() - kill_t
        if back_s is None and kind == "shard":
            # Calls to a restarting shard wait for it (max_task_retries=-1); a new process
            # answering means it has restored its snapshot and log in __init__.
            pid_ref = pid_ref or handle.__ray_call__.remote(_pid)
            if ray.wait([pid_ref], timeout=0)[0]:
                if ray.get(pid_ref) != old_pid:
                    back_s = time.monotonic() - kill_t
                pid_ref = None
        recovered = timeline.recovery_seconds(kill_t, baseline, args.window)
    run_until(runtime, timeline, time.monotonic() + 2.0, reported)  # settle
    seconds = int(time.monotonic() - kill_t)
    reported[0] += runtime.drain()
    rates = [round(timeline.rate(kill_t + k, kill_t + k + 1)) for k in range(seconds)]
    return {
        "recovery_s": None if recovered is None else round(recovered, 2),
        # actor: until the driver saw the failure and a spare (or the restart) took over;
        # shard: until the restarted shard, restored from snapshot and log, answered.
        "back_s": None if back_s is None else round(back_s, 2),
        "rates_after_kill": rates,  # env steps/s in each second after the kill
        "transitions_lost": reported[0] - stored(runtime) - lost_before,
    }


def _pid(_actor) -> int:
    return os.getpid()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Baseline, kill an env actor, kill a shard, count what was lost."""
    import ray

    from marl_alloc.apex.builder import build_apex_config
    from marl_alloc.apex.runtime import RayRuntime

    start_local_ray(args.num_cpus)
    snapshot_dir = tempfile.mkdtemp(prefix="marl-alloc-recovery-")
    runtime = None
    try:
        settings = bench_settings(args, snapshot_dir)
        runtime = RayRuntime(build_apex_config(settings), None)
        timeline, reported = Timeline(), [0]
        warm = False
        while not warm:  # actors started, replay sampled
            summary = runtime.run_round()
            reported[0] += summary["transitions"]
            warm = summary["updates"] > 0
        run_until(runtime, timeline, time.monotonic() + args.baseline_s, reported)
        baseline = timeline.rate(timeline.times[0], timeline.times[-1])
        events = {
            kind: kill_and_measure(runtime, kind, timeline, baseline, args, reported)
            for kind in ("env_actor", "shard")
        }
        return {
            "bench": "recovery",
            "durable": not args.no_durable,
            "num_cpus": args.num_cpus,
            "num_actors": args.num_actors,
            "num_shards": args.num_shards,
            "spare_actors": args.spare_actors,
            "baseline_env_steps_per_s": round(baseline, 1),
            "window_s": args.window,
            **{f"{kind}_{k}": v for kind, event in events.items() for k, v in event.items()},
            "failures_seen": dict(runtime.failures),
            "transitions_reported": reported[0],
            # Negative would mean more stored than reported: an add retried after a restart.
            "transitions_lost": reported[0] - stored(runtime),
        }
    finally:
        if runtime is not None:
            runtime.shutdown()
        ray.shutdown()
        shutil.rmtree(snapshot_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 on a bad option or config."""
    return run_benchmark(parse_args, run, argv)
