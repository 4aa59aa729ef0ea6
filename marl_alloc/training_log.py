"""TrainingLog: progress line on stderr, progress.jsonl, TensorBoard scalars and a PNG of curves."""

import json
import sys
import time
from pathlib import Path
from typing import Any

CURVES = ("reward_mean", "sla_violation_rate", "energy_kwh", "loss_leaf")


class TrainingLog:
    """Records one row per training iteration and shows progress towards the env-step budget."""

    def __init__(self, run_dir: Path, total_env_steps: int):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = run_dir
        self.total = total_env_steps
        self.rows: list[dict[str, Any]] = []
        self.start = time.monotonic()
        self._jsonl = open(run_dir / "progress.jsonl", "w")  # noqa: SIM115 - kept open for the run
        self._tb = SummaryWriter(str(run_dir / "tensorboard"))

    def record(self, env_steps: int, updates: int, metrics: dict[str, float]) -> None:
        """Append one iteration's figures and refresh the progress line."""
        elapsed = time.monotonic() - self.start
        row = {"env_steps": env_steps, "updates": updates, "time_s": round(elapsed, 2), **metrics}
        self.rows.append(row)
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        for key, value in row.items():
            if isinstance(value, int | float):
                self._tb.add_scalar(key, value, env_steps)
        rate = env_steps / max(elapsed, 1e-9)
        line = (
            f"[{min(env_steps, self.total)}/{self.total} env steps] {rate:,.0f} steps/s "
            f"updates {updates} reward {metrics.get('reward_mean', float('nan')):.3f} "
            f"sla {metrics.get('sla_violation_rate', float('nan')):.3f}"
        )
        print(line, file=sys.stderr, flush=True)

    def close(self) -> Path:
        """Flush TensorBoard and write curves.png; return the PNG path."""
        self._jsonl.close()
        self._tb.close()
        return self._plot()

    def _plot(self) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        fig, axes = plt.subplots(1, len(CURVES), figsize=(4 * len(CURVES), 3))
        steps = [r["env_steps"] for r in self.rows]
        for ax, key in zip(axes, CURVES, strict=True):
            ax.plot(steps, [r.get(key, float("nan")) for r in self.rows])
            ax.set_title(key)
            ax.set_xlabel("env steps")
        fig.tight_layout()
        path = self.run_dir / "curves.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        return path
