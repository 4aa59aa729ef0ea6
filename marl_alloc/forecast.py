"""`python -m marl_alloc.forecast train|evaluate`: the workload forecaster (issue #5).

  train     --workload synthetic|series|google2011 ... --out DIR [overrides]
  evaluate  --model DIR --workload ... --out OUT [overrides]  (OUT/metrics.json, forecast.png)

Overrides are Hydra-style `key=value` on conf/forecast/config.yaml, e.g. `train.max_epochs=10`.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

from marl_alloc.floor.command_line import CommandParser
from marl_alloc.floor.errors import UserError
from marl_alloc.floor.interrupts import run_main

PROG = "python -m marl_alloc.forecast"


def _add_workload_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", default="synthetic", help="synthetic | series | google2011")
    parser.add_argument(
        "--series", help="utilization CSV: one column per metric, optional timestamp"
    )
    parser.add_argument("--column", help="the CSV column to forecast")
    parser.add_argument(
        "--resolution-s", type=float, help="seconds per row (CSV without timestamp)"
    )
    parser.add_argument("--task-events", nargs="+", default=[], help="Google 2011 task_events")
    parser.add_argument("--machine-events", help="Google 2011 machine_events")
    parser.add_argument("--horizon", type=int, help="forecast steps k (data.horizon, default 12)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)


def build_parser() -> argparse.ArgumentParser:
    """The two subcommands and their options (overrides are split off before parsing)."""
    parser = CommandParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train the hybrid and its ablations, save them")
    _add_workload_args(train)
    train.add_argument("--out", required=True, help="directory for the saved models")
    train.add_argument("--train-fraction", type=float, help="leading share of rows trained on")
    evaluate = commands.add_parser("evaluate", help="score models and baselines on the test split")
    evaluate.add_argument("--model", required=True, help="directory written by train")
    _add_workload_args(evaluate)
    evaluate.add_argument("--out", required=True, help="directory for metrics.json and the plot")
    evaluate.add_argument("--test-fraction", type=float, help="trailing share of rows scored")
    return parser


def _split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    # `key=value` words are Hydra overrides; separating them first lets `--task-events` take
    # several files without swallowing the overrides that follow.
    overrides = [a for a in argv if "=" in a and not a.startswith("-")]
    return [a for a in argv if a not in overrides], overrides


def _spec(args: argparse.Namespace):
    from marl_alloc.forecasting.workloads import WorkloadSpec

    return WorkloadSpec(
        kind=args.workload,
        series=args.series,
        column=args.column,
        resolution_s=args.resolution_s,
        task_events=tuple(args.task_events),
        machine_events=args.machine_events,
    )


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    flags = {
        "horizon": "data.horizon",
        "train_fraction": "data.train_fraction",
        "test_fraction": "data.test_fraction",
    }
    return [
        f"{key}={getattr(args, name)}"
        for name, key in flags.items()
        if getattr(args, name, None) is not None
    ]


def run_train(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    """Train and save; print one summary line per model and the model directory last."""
    from marl_alloc.floor.settings.compose import compose_forecast_settings
    from marl_alloc.forecasting.pipeline import train_all

    cfg = compose_forecast_settings([*overrides, *_flag_overrides(args)])
    Path(args.out).mkdir(parents=True, exist_ok=True)  # an unwritable --out fails before training
    meta = train_all(_spec(args), cfg, args.out, progress=args.progress)
    for name, result in meta["training"].items():
        runs = zip(result["best_epochs"], result["epochs"], strict=True)
        epochs = ", ".join(f"{best}/{ran}" for best, ran in runs)
        print(
            f"{name:<11} val MAE {result['val_mae']:.5g} (L1 {result['best_val_loss']:.4f}), "
            f"best epoch {epochs}, {result['train_seconds']:.0f} s"
        )
    print(f"model: {Path(args.out).resolve()}")
    return meta


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def run_evaluate(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    """Evaluate with the series and sizes the models were trained with; print the table (MAE,
    RMSE, MAPE and skill against persistence and seasonal naive per row) and skipped rows."""
    from marl_alloc.floor.settings import ForecastSettings, from_mapping
    from marl_alloc.floor.settings.compose import compose_forecast_settings
    from marl_alloc.forecasting.evaluation import evaluate_models
    from marl_alloc.forecasting.store import load_models
    from marl_alloc.forecasting.workloads import build_series

    nets, meta = load_models(args.model)
    cfg = from_mapping(ForecastSettings, meta["config"])
    current = compose_forecast_settings([*overrides, *_flag_overrides(args)])
    if args.horizon is not None and args.horizon != cfg.data.horizon:
        raise UserError(
            f"{args.model} forecasts {cfg.data.horizon} steps; --horizon "
            f"{args.horizon} needs a model trained with --horizon {args.horizon}"
        )
    # The series and windows are the training ones; what to score and how comes from now.
    cfg.evaluate = current.evaluate
    cfg.data.test_fraction = current.data.test_fraction
    series = build_series(_spec(args), cfg, seasonal_lags=meta["seasonal_lags"])
    if list(series.feature_names) != meta["feature_names"]:
        raise UserError(
            f"the workload's features {list(series.feature_names)} differ from the model's "
            f"{meta['feature_names']}; evaluate on the kind of series it was trained on"
        )
    metrics = evaluate_models(nets, series, cfg, args.out)
    header = ("model", "MAE", "RMSE", "MAPE %", "skill/pers", "skill/snaive")
    print("{:<15}{:>12}{:>12}{:>9}{:>12}{:>13}".format(*header))
    for name in metrics["rows"]:
        row = metrics[name]
        print(
            f"{name:<15}{row['mae']:>12.5g}{row['rmse']:>12.5g}{_cell(row['mape'], '.2f'):>9}"
            f"{_cell(row['skill_vs_persistence'], '+.3f'):>12}"
            f"{_cell(row['skill_vs_seasonal_naive'], '+.3f'):>13}"
        )
    for name, reason in metrics["skipped"].items():
        print(f"skipped {name}: {reason}")
    print(f"metrics: {(Path(args.out) / 'metrics.json').resolve()}")
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Parse, run the subcommand; user errors print one line and exit 2."""
    words, overrides = _split_overrides(list(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(words)
    except SystemExit as done:  # --help (0) or a usage error (2), already printed
        return int(done.code or 0)
    try:
        if args.command == "train":
            run_train(args, overrides)
        else:
            run_evaluate(args, overrides)
    except (UserError, OSError) as err:  # OSError: --out not writable, a file unreadable
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
