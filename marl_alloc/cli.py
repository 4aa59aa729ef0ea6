"""Console scripts: `marl-alloc COMMAND ...` and an `rllib` command for evaluating checkpoints.

Ray 2.60 no longer ships RLlib's CLI; ours keeps `rllib evaluate CHECKPOINT` working for the
policies this project trains.
"""

import runpy
import sys

from marl_alloc.floor.interrupts import run_main

COMMANDS = {
    "train": ("marl_alloc.train", "train the policy (Hydra overrides)"),
    "tune": ("marl_alloc.tune", "Population Based Training of the hyperparameters -> a preset"),
    "evaluate": ("marl_alloc.evaluate", "score a checkpoint or heuristic, write metrics.json"),
    "benchmark": ("marl_alloc.benchmark", "checkpoints vs heuristic sweeps on trace windows"),
    "forecast": ("marl_alloc.forecast", "train / evaluate the workload forecaster"),
    "prepare": ("marl_alloc.prepare", "convert raw traces to Parquet"),
    "bench": ("marl_alloc.bench", "throughput benchmarks (one JSON line each)"),
    "serve": ("marl_alloc.serve", "the policy as a kube-scheduler extender on Ray Serve"),
}

RLLIB_COMMANDS = {
    "evaluate": "evaluate a saved checkpoint against the heuristic baselines",
    "train": "train with marl-alloc's Ape-X algorithm (Hydra overrides)",
}


def _usage(prog: str, commands: dict[str, str]) -> str:
    lines = [f"usage: {prog} COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, text in commands.items()]
    return "\n".join(lines)


def _run_module(module: str, prog: str, argv: list[str]) -> int:
    sys.argv = [prog, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


def marl_alloc_main(argv: list[str] | None = None) -> int:
    """`marl-alloc train|evaluate|benchmark|forecast|prepare|bench ...`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {name: text for name, (_, text) in COMMANDS.items()}
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage("marl-alloc", commands))
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"marl-alloc: unknown command '{argv[0]}'\n{_usage('marl-alloc', commands)}")
        return 2
    module, _ = COMMANDS[argv[0]]
    return _run_module(module, f"marl-alloc {argv[0]}", argv[1:])


def rllib_main(argv: list[str] | None = None) -> int:
    """`rllib evaluate CHECKPOINT [--workload W] [--episodes N] [--out DIR]` and `rllib train`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage("rllib", RLLIB_COMMANDS))
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "evaluate":
        from marl_alloc.evaluate import main as evaluate_main

        if rest and not rest[0].startswith("-"):
            rest = ["--checkpoint", rest[0], *rest[1:]]
        return run_main(lambda: evaluate_main(rest, prog="rllib evaluate"))
    if command == "train":
        return _run_module("marl_alloc.train", "rllib train", rest)
    print(f"rllib: unknown command '{command}'\n{_usage('rllib', RLLIB_COMMANDS)}")
    return 2
