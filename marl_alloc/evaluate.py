"""`python -m marl_alloc.evaluate`: score a checkpoint or a heuristic; write OUT/metrics.json.

With a checkpoint, every heuristic baseline runs on the same workload and seeds, under `baselines`.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from marl_alloc.settings import UserError


def build_parser(prog: str = "python -m marl_alloc.evaluate") -> argparse.ArgumentParser:
    """Command-line options of the evaluate command."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="an RLlib checkpoint dir written by marl_alloc.train")
    source.add_argument("--policy", help="a heuristic: random, round-robin, first-fit, best-fit, ...")
    parser.add_argument("--workload", default="synthetic", help="an env config (conf/env/NAME)")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--episode-tasks", type=int, default=None, help="tasks per episode")
    parser.add_argument("--seed", type=int, default=12345, help="first episode's seed")
    parser.add_argument("--out", default="eval", help="output directory")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. env.max_defers=2")
    return parser


def _env_settings(workload: str, overrides: list[str], trained: dict | None) -> dict[str, Any]:
    from marl_alloc.compose import available_workloads, compose_settings

    if workload not in available_workloads():
        names = ", ".join(available_workloads())
        raise UserError(f"unknown workload '{workload}' (choose one of: {names})")
    env = compose_settings([f"env={workload}", *overrides])["env"]
    if trained is not None:
        # The policy's input sizes follow the topology it was trained on.
        env["topology"] = trained["env"]["topology"]
        env["forecast_horizon"] = trained["env"]["forecast_horizon"]
    return env


def _plot(metrics: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = {"policy": metrics, **metrics.get("baselines", {})}
    keys = ("sla_violation_rate", "energy_kwh", "tasks_rejected")
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5))
    for ax, key in zip(axes, keys, strict=True):
        ax.bar(list(rows), [rows[name][key] for name in rows])
        ax.set_title(key)
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(out / "comparison.png", dpi=80)
    plt.close(fig)


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Run the evaluation the arguments describe and write its outputs."""
    from envs import HEURISTICS
    from marl_alloc.scoring import ModulePolicy, score

    if args.episodes <= 0:
        raise UserError("--episodes must be > 0")
    trained = None
    if args.checkpoint:
        from marl_alloc.checkpoints import load_policy

        module, trained = load_policy(args.checkpoint)
        policy = ModulePolicy(module)
    elif args.policy in HEURISTICS:
        policy = HEURISTICS[args.policy](seed=args.seed)
    else:
        raise UserError(f"unknown policy '{args.policy}' (choose one of: {', '.join(HEURISTICS)})")
    overrides = list(args.overrides)
    if args.episode_tasks is not None:
        overrides.append(f"env.episode_tasks={args.episode_tasks}")
    env_settings = _env_settings(args.workload, overrides, trained)
    metrics = score(policy, env_settings, args.episodes, args.seed)
    metrics["policy"] = "checkpoint" if args.checkpoint else args.policy
    metrics["workload"] = args.workload
    if args.checkpoint:
        metrics["checkpoint"] = str(Path(args.checkpoint).resolve())
        metrics["baselines"] = {
            name: score(cls(seed=args.seed), env_settings, args.episodes, args.seed)
            for name, cls in HEURISTICS.items()
        }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _plot(metrics, out)
    return metrics


def main(argv: list[str] | None = None, prog: str = "python -m marl_alloc.evaluate") -> int:
    """Parse arguments, evaluate, print where metrics.json went; user errors exit 2."""
    args = build_parser(prog).parse_args(argv)
    try:
        evaluate(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"metrics: {(Path(args.out) / 'metrics.json').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
