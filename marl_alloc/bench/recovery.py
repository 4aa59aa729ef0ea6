"""`python -m marl_alloc.bench recovery`: how fast the Ape-X pipeline recovers from killed actors.

On a local Ray (`--num-cpus`), the pipeline runs with durable replay shards (snapshot every
`--snapshot-every-s`, every add logged before it is acknowledged), `--spare-actors` idle env
actors, and actors that hold up to `--actor-backlog-adds` adds while their shard is down (0: they
wait for it). It measures once without a kill (`no_kill`: the criterion's noise floor), then
kills an env actor, then a replay shard (`ray.kill(..., no_restart=False)`: Ray restarts them,
the shard from its snapshot and log; a spare takes over from the actor meanwhile).

For each event it reports the seconds until env steps/s is back to 90% of its rate over the
`--baseline-s` just before the kill (the first `--window` after the kill whose rate reaches it;
the rate falls as replay grows, so a baseline from the start would blame the kill for that);
where those seconds went: until the driver saw the env actor fail (a spare takes over then),
until the killed actor's new process answered (an env actor: rebuilt as the next spare; a
shard: its snapshot and log restored, `restore_s` of it); and the transitions the kill lost
(acknowledged to an actor, not applied by a shard) and duplicated (applied twice), counted apart
(transition_accounts). `--runs N` repeats it all on a fresh Ray and reports the worst recovery.
Prints one JSON line with `--json`.

    python -m marl_alloc.bench recovery --json [--runs 3] [--no-durable] [hydra overrides]
"""

import argparse
import bisect
import contextlib
import os
import shutil
import tempfile
import threading
import time
from typing import Any

from marl_alloc.bench.report import run_benchmark, start_local_ray
from marl_alloc.bench.transition_accounts import Accounts, settle
from marl_alloc.floor.command_line import CommandParser
from marl_alloc.floor.settings import Settings

RECOVERED_FRACTION = 0.9
# Events in order; "no_kill" measures the same way without a kill: how late the criterion says
# "recovered" from noise alone (other load on the machine, replay growth).
KINDS = ("no_kill", "env_actor", "shard")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench recovery")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--num-actors", type=int, default=2)
    parser.add_argument("--num-shards", type=int, default=2)
    parser.add_argument("--spare-actors", type=int, default=1, help="0: wait for the restart")
    parser.add_argument("--baseline-s", type=float, default=6.0, help="rate before each kill")
    parser.add_argument("--window", type=float, default=2.0, help="seconds a rate is taken over")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up on a recovery")
    # Snapshots cost CPU in proportion to replay size, logs cost replay time at a restart.
    parser.add_argument("--snapshot-every-s", type=float, default=5.0)
    parser.add_argument("--no-durable", action="store_true", help="no log: lose unsnapshotted")
    parser.add_argument(
        "--actor-backlog-adds", type=int, default=16, help="adds actors hold through an outage"
    )
    parser.add_argument("--runs", type=int, default=1, help="consecutive runs, each fresh")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides")
    args = parser.parse_args(argv)
    if min(args.num_cpus, args.num_actors, args.num_shards, args.runs) < 1 or args.window <= 0:
        parser.error("--num-cpus, --num-actors, --num-shards, --runs and --window must be > 0")
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
            f"replay.actor_backlog_adds={args.actor_backlog_adds}",
            "training.collect_cycles=4",
            "training.log_every_s=0.25",
            *args.overrides,
        ],
        args.num_actors,
        args.num_cpus,
        None,
        spares=args.spare_actors,
    )


def run_until(runtime, timeline: Timeline, until: float) -> None:
    """Drive training rounds until time `until`, recording harvested env steps."""
    while time.monotonic() < until:
        summary = runtime.run_round()
        timeline.add(time.monotonic(), summary["env_steps"])


def settled_accounts(runtime, acknowledged: dict[str, int]) -> Accounts:
    """Drain (every live actor's adds acknowledged), note each writer's acknowledged rows in
    `acknowledged` and settle them against the shards' ledgers."""
    import ray

    runtime.drain()
    for actor in [*runtime.actors, *runtime.spares]:
        with contextlib.suppress(ray.exceptions.RayActorError):
            writer, _, total = ray.get(actor.flush.remote())
            acknowledged[writer] = max(acknowledged.get(writer, 0), total)
    ledgers = ray.get([shard.writers.remote() for shard in runtime.shards])
    return settle(acknowledged, ledgers)


class RestartWatch(threading.Thread):
    """Kills an actor (Ray restarts it) and times, from the kill, when a new process of it
    answered a call (a shard: restored; an env actor: rebuilt, as the next spare)."""

    def __init__(self, handle, timeout: float):
        import ray

        super().__init__(daemon=True)
        self.handle, self.timeout = handle, timeout
        self.old_pid = ray.get(handle.__ray_call__.remote(_pid))
        self.kill_t = 0.0
        self.answered_s: float | None = None

    def kill(self) -> float:
        """Kill now, start watching; returns the kill's time (time.monotonic)."""
        import ray

        self.kill_t = time.monotonic()
        ray.kill(self.handle, no_restart=False)
        self.start()
        return self.kill_t

    def run(self) -> None:
        import ray

        while time.monotonic() - self.kill_t < self.timeout:
            with contextlib.suppress(ray.exceptions.RayError):
                if ray.get(self.handle.__ray_call__.remote(_pid)) != self.old_pid:
                    self.answered_s = time.monotonic() - self.kill_t
                    return
            time.sleep(0.05)


def kill_and_measure(runtime, kind: str, timeline, args, acknowledged) -> dict:
    """Measure the rate for `--baseline-s`, kill the first env actor or shard (Ray restarts it;
    `no_kill`: nothing, the criterion's noise floor), drive rounds until the rate is back (or
    the timeout) and a little longer, then settle what the kill lost or duplicated."""
    import ray

    before = settled_accounts(runtime, acknowledged)  # a clean start: all acknowledged
    start = time.monotonic()
    run_until(runtime, timeline, start + args.baseline_s)  # collecting again since the drain
    baseline = timeline.rate(start, time.monotonic())
    failures = runtime.failures["actor"]
    watch = None
    if kind == "no_kill":
        kill_t = time.monotonic()
    else:
        handle = runtime.actors[0] if kind == "env_actor" else runtime.shards[0]
        watch = RestartWatch(handle, args.timeout)
        kill_t = watch.kill()
    recovered = failure_seen_s = None
    while recovered is None and time.monotonic() - kill_t < args.timeout:
        summary = runtime.run_round()
        timeline.add(time.monotonic(), summary["env_steps"])
        if failure_seen_s is None and runtime.failures["actor"] > failures:
            failure_seen_s = time.monotonic() - kill_t  # a spare took over from then on
        recovered = timeline.recovery_seconds(kill_t, baseline, args.window)
    run_until(runtime, timeline, time.monotonic() + 2.0)  # settle
    seconds = range(int(time.monotonic() - kill_t))
    event = settled_accounts(runtime, acknowledged) - before
    figures = {
        "baseline_env_steps_per_s": round(baseline, 1),
        "recovery_s": _rounded(recovered),
        "rates_after_kill": [round(timeline.rate(kill_t + k, kill_t + k + 1)) for k in seconds],
        "transitions_lost": event.lost,
        "transitions_duplicated": event.duplicated,
    }
    if watch is not None:
        watch.join(timeout=args.timeout)
        figures["answered_s"] = _rounded(watch.answered_s)
    if kind == "env_actor":
        figures["failure_seen_s"] = _rounded(failure_seen_s)
    if kind == "shard":  # what the restarted shard spent restoring its snapshot and log
        stats = ray.get(runtime.shards[0].stats.remote())
        figures.update(restore_s=_rounded(stats["restore_s"]), replayed_adds=stats["replayed_adds"])
    return figures


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 2)


def _pid(_actor) -> int:
    return os.getpid()


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    """Baseline, kill an env actor, kill a shard, settle what was lost or duplicated."""
    import ray

    from marl_alloc.apex.builder import build_apex_config
    from marl_alloc.apex.runtime import RayRuntime

    start_local_ray(args.num_cpus)
    snapshot_dir = tempfile.mkdtemp(prefix="marl-alloc-recovery-")
    runtime = None
    try:
        runtime = RayRuntime(build_apex_config(bench_settings(args, snapshot_dir)), None)
        timeline, acknowledged = Timeline(), {}
        while runtime.run_round()["updates"] == 0:  # actors started, replay sampled
            pass
        events = {
            kind: kill_and_measure(runtime, kind, timeline, args, acknowledged) for kind in KINDS
        }
        shards = ray.get([shard.stats.remote() for shard in runtime.shards])
        total = settled_accounts(runtime, acknowledged)
        return {
            **{f"{kind}_{k}": v for kind, event in events.items() for k, v in event.items()},
            "failures_seen": dict(runtime.failures),
            "transitions_acknowledged": total.acknowledged,
            "transitions_lost": total.lost,
            "transitions_duplicated": total.duplicated,
            # Retried adds the shards recognised by their number and did not apply again.
            "duplicate_adds_skipped": int(sum(s["duplicate_adds"] for s in shards)),
        }
    finally:
        if runtime is not None:
            runtime.shutdown()
        ray.shutdown()
        shutil.rmtree(snapshot_dir, ignore_errors=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """`--runs` consecutive runs, each on a fresh Ray; the worst recovery of each kind."""
    runs = [run_once(args) for _ in range(args.runs)]

    def worst(key: str) -> float | None:
        values = [r[key] for r in runs]
        return None if None in values else max(values)

    return {
        "bench": "recovery",
        "durable": not args.no_durable,
        "num_cpus": args.num_cpus,
        "num_actors": args.num_actors,
        "num_shards": args.num_shards,
        "spare_actors": args.spare_actors,
        "actor_backlog_adds": args.actor_backlog_adds,
        "snapshot_every_s": args.snapshot_every_s,
        "window_s": args.window,
        **{f"worst_{kind}_recovery_s": worst(f"{kind}_recovery_s") for kind in KINDS},
        "transitions_lost": sum(r["transitions_lost"] for r in runs),
        "transitions_duplicated": sum(r["transitions_duplicated"] for r in runs),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 on a bad option or config."""
    return run_benchmark(parse_args, run, argv)
