"""`python -m marl_alloc.bench recovery`: how fast the Ape-X pipeline recovers from killed actors.

On a local Ray (`--num-cpus`), the pipeline runs with durable replay shards (snapshot every
`--snapshot-every-s`, every add logged before it is acknowledged), `--spare-actors` idle env
actors, and actors that hold up to `--actor-backlog-adds` adds while their shard is down (0: they
wait for it). Three events in turn, each after `--baseline-s` of undisturbed running and followed
by `--horizon-s` of running: none (the control), an env actor killed, a replay shard killed
(`ray.kill(..., no_restart=False)`: Ray restarts them, the shard from its snapshot and log; a
spare takes over from the actor meanwhile).

Recovery is judged against the run's own noise (recovery_criterion): the seconds from the event
until the env steps/s smoothed over `--window` seconds is back in the band the run showed while
nothing happened. The control read the same way is the criterion's false recovery, reported
beside the kills. Each kill also reports where its seconds went (an env actor: until the driver
saw it fail and a spare took over, until its restart answered; a shard: until Ray had its new
process constructing, until it acknowledged adds again, until it had reloaded its snapshot and
log and sampled again) and the transitions it lost (acknowledged to an actor, not applied by a
shard) and duplicated (applied twice), counted apart (transition_accounts). `--runs N` repeats
it all on a fresh Ray and reports the worst of each. Prints one JSON line with `--json`.

    python -m marl_alloc.bench recovery --json [--runs 3] [--no-durable] [hydra overrides]
"""

import argparse
import contextlib
import os
import resource
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

from marl_alloc.bench import recovery_criterion as criterion
from marl_alloc.bench.report import run_benchmark, start_local_ray
from marl_alloc.bench.transition_accounts import Accounts, settle
from marl_alloc.floor.command_line import CommandParser
from marl_alloc.floor.settings import Settings

# Events in order; "no_kill" is the control: how late the criterion says "recovered" from
# noise alone (other load on the machine, replay growth).
KINDS = ("no_kill", "env_actor", "shard")
WATCH_TIMEOUT_S = 60.0  # how long a killed actor's restart is waited for


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench recovery")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--num-actors", type=int, default=2)
    parser.add_argument("--num-shards", type=int, default=2)
    parser.add_argument("--spare-actors", type=int, default=1, help="0: wait for the restart")
    parser.add_argument("--baseline-s", type=float, default=6.0, help="rate before each event")
    parser.add_argument("--horizon-s", type=float, default=12.0, help="running after each event")
    parser.add_argument("--window", type=float, default=2.0, help="seconds a rate is taken over")
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
    if args.baseline_s <= args.window or args.horizon_s <= args.window:
        parser.error("--baseline-s and --horizon-s must be longer than --window")
    return args


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


def run_until(runtime, timeline: criterion.Timeline, until: float) -> None:
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
    answered a call (an env actor: rebuilt, as the next spare; a shard: its own lifecycle
    times say more, see shard_phases)."""

    def __init__(self, handle):
        import ray

        super().__init__(daemon=True)
        self.handle = handle
        self.old_pid = ray.get(handle.__ray_call__.remote(_pid))
        self.kill_t = self.kill_wall = 0.0
        self.answered_s: float | None = None

    def kill(self) -> float:
        """Kill now, start watching; returns the kill's time (time.monotonic)."""
        import ray

        self.kill_t, self.kill_wall = time.monotonic(), time.time()
        ray.kill(self.handle, no_restart=False)
        self.start()
        return self.kill_t

    def run(self) -> None:
        import ray

        while time.monotonic() - self.kill_t < WATCH_TIMEOUT_S:
            with contextlib.suppress(ray.exceptions.RayError):
                if ray.get(self.handle.__ray_call__.remote(_pid)) != self.old_pid:
                    self.answered_s = time.monotonic() - self.kill_t
                    return
            time.sleep(0.05)


@dataclass
class Event:
    """One event's stretch of the timeline and what was measured around it."""

    kind: str
    start: float  # undisturbed running from here ...
    at: float  # ... until the event (time.monotonic)
    end: float  # the running after it ends here
    baseline: float  # env steps/s over (start, at]
    whole_s: float  # seconds from the event until the killed part was back (0: no kill)
    figures: dict[str, Any]


def measure_event(runtime, kind: str, timeline, args, acknowledged) -> Event:
    """Run `--baseline-s`, kill the first env actor or shard (Ray restarts it; `no_kill`:
    nothing), run `--horizon-s` more, then settle what the kill lost or duplicated."""
    before = settled_accounts(runtime, acknowledged)  # a clean start: all acknowledged
    spares_before = _usage(runtime.spares)
    start = time.monotonic()
    run_until(runtime, timeline, start + args.baseline_s)  # collecting again since the drain
    failures = runtime.failures["actor"]
    watch = None
    if kind == "no_kill":
        at = time.monotonic()
    else:
        watch = RestartWatch(runtime.actors[0] if kind == "env_actor" else runtime.shards[0])
        at = watch.kill()
    failure_seen_s = None
    while time.monotonic() < at + args.horizon_s:
        summary = runtime.run_round()
        timeline.add(time.monotonic(), summary["env_steps"])
        if failure_seen_s is None and runtime.failures["actor"] > failures:
            failure_seen_s = time.monotonic() - at  # a spare took over from then on
    end = timeline.times[-1]
    event = settled_accounts(runtime, acknowledged) - before
    figures: dict[str, Any] = {
        "transitions_lost": event.lost,
        "transitions_duplicated": event.duplicated,
    }
    if kind == "no_kill" and runtime.spares:  # what the idle spares cost while nothing happens
        spares_after = _usage(runtime.spares)
        cpu_s = sum(cpu for _, cpu in spares_after) - sum(cpu for _, cpu in spares_before)
        figures["idle_spares_cpu_share"] = round(cpu_s / (time.monotonic() - start), 4)
        figures["idle_spares_peak_rss_mb"] = round(sum(rss for rss, _ in spares_after))
    if watch is not None:
        watch.join(timeout=WATCH_TIMEOUT_S)
        figures["answered_s"] = _rounded(watch.answered_s)
    whole_s = 0.0
    if kind == "env_actor":
        figures["failure_seen_s"] = _rounded(failure_seen_s)
        # A spare collects from the moment the failure is seen; without one, from the restart.
        whole_s = failure_seen_s if args.spare_actors else watch.answered_s
    if kind == "shard":
        figures.update(shard_phases(runtime.shards[0], watch))
        # Writers are whole once it acknowledges adds again, the learner once it samples.
        whole_s = figures["restored_s"]
    # Never back within the run: judge the whole horizon as the outage.
    whole_s = args.horizon_s if whole_s is None else whole_s
    return Event(kind, start, at, end, timeline.rate(start, at), whole_s, figures)


def shard_phases(shard, watch: RestartWatch) -> dict[str, Any]:
    """Where a shard restart's seconds went, from the kill: until the new process began
    constructing the shard (Ray noticed the death, found a worker process, imported the shard's
    code; `process_started_s` < 0: Ray reused a worker started before the kill), until it
    acknowledged adds again (`ready_s`), and until its snapshot and log were reloaded
    (`restored_s`, of which `restore_s` reading and loading them) and it sampled again."""
    import ray

    stats = ray.get(shard.stats.remote())
    process = stats["process_started_at"]
    return {
        "process_started_s": None if process is None else _rounded(process - watch.kill_wall),
        "constructing_s": _rounded(stats["init_started_at"] - watch.kill_wall),
        "ready_s": _rounded(stats["ready_at"] - watch.kill_wall),
        "restore_s": _rounded(stats["restore_s"]),
        "replayed_adds": stats["replayed_adds"],
        "restored_s": _rounded(stats["restored_at"] - watch.kill_wall),
    }


def judged(timeline, events: list[Event], window: float) -> dict[str, Any]:
    """Each event's recovery against the band of the run's undisturbed stretches, with its
    relative rates after the event (per second, each over `window`). The control is read over
    the longest span a kill was judged over: how late noise alone makes a recovery there."""
    low = criterion.band(timeline, [(e.start, e.at) for e in events], window)
    span = max(e.whole_s for e in events)
    out: dict[str, Any] = {
        "band": round(low, 3),
        "resolution_s": round((1.0 - low) * window, 2),
    }
    for e in events:
        whole_s = span if e.kind == "no_kill" else e.whole_s
        lost = criterion.lost_seconds(timeline, e.at, e.end, e.baseline)
        _, relative = timeline.relative_rates(e.at, e.end, window, e.baseline)
        per_second = relative[:: int(round(1.0 / criterion.GRID_S))]
        figures = {
            "baseline_env_steps_per_s": round(e.baseline, 1),
            "recovery_s": _rounded(
                criterion.recovery_seconds(timeline, e.at, e.end, e.baseline, window, low, whole_s)
            ),
            "judged_until_s": round(whole_s, 2),
            "lost_throughput_s": round(lost, 2),
            "relative_rates_after": [round(float(r), 2) for r in per_second],
            **e.figures,
        }
        out.update({f"{e.kind}_{k}": v for k, v in figures.items()})
    return out


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 2)


def _pid(_actor) -> int:
    return os.getpid()


def _usage(handles) -> list[tuple[float, float]]:
    """(peak resident MB, CPU seconds used) of each actor's process."""
    import ray

    return ray.get([handle.__ray_call__.remote(_process_usage) for handle in handles])


def _process_usage(_actor) -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # ru_maxrss: KB on Linux


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
        timeline, acknowledged = criterion.Timeline(), {}
        while runtime.run_round()["updates"] == 0:  # actors started, replay sampled
            pass
        load_before = os.getloadavg()[0]
        events = [measure_event(runtime, kind, timeline, args, acknowledged) for kind in KINDS]
        shards = ray.get([shard.stats.remote() for shard in runtime.shards])
        total = settled_accounts(runtime, acknowledged)
        return {
            # The machine's 1-minute load average as the events began and as they ended.
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            **judged(timeline, events, args.window),
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
        "baseline_s": args.baseline_s,
        "horizon_s": args.horizon_s,
        # The control's false recovery beside the kills' recoveries; None: not within the horizon.
        **{f"worst_{kind}_recovery_s": worst(f"{kind}_recovery_s") for kind in KINDS},
        "worst_shard_ready_s": worst("shard_ready_s"),
        "worst_shard_restored_s": worst("shard_restored_s"),
        "lowest_band": min(r["band"] for r in runs),
        "transitions_lost": sum(r["transitions_lost"] for r in runs),
        "transitions_duplicated": sum(r["transitions_duplicated"] for r in runs),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 on a bad option or config."""
    return run_benchmark(parse_args, run, argv)
