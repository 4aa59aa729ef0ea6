"""TrainingLog: live progress on stderr, progress.jsonl, TensorBoard scalars and a PNG of curves."""

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

CURVES = ("reward_mean", "sla_violation_rate", "energy_kwh", "loss_leaf")
BAR_WIDTH = 24


def progress_line(
    env_steps: int, total: int, steps_per_s: float, updates: int, metrics: dict[str, float]
) -> str:
    """`[#####-----]  45% 27,000/60,000 env steps | 1,234 steps/s | eta 0:27 | ...`."""
    done = min(env_steps / max(total, 1), 1.0)
    filled = int(round(done * BAR_WIDTH))
    left = max(total - env_steps, 0) / steps_per_s if steps_per_s > 0 else float("inf")
    eta = "?" if left == float("inf") else f"{int(left // 60)}:{int(left % 60):02d}"
    return (
        f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done:4.0%} "
        f"{min(env_steps, total):,}/{total:,} env steps | {steps_per_s:,.0f} steps/s | "
        f"eta {eta} | updates {updates:,} | reward {metrics.get('reward_mean', float('nan')):.3f}"
        f" | sla {metrics.get('sla_violation_rate', float('nan')):.3f}"
    )


class TrainingLog:
    """Records one row per training iteration and shows progress towards the env-step budget.

    On a terminal the progress bar redraws in place; otherwise (CI, log files) each iteration
    prints one line. `append` continues a resumed run's progress.jsonl.
    """

    def __init__(
        self,
        run_dir: Path,
        total_env_steps: int,
        *,
        append: bool = False,
        stream: TextIO | None = None,
    ):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = run_dir
        self.total = total_env_steps
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        path = run_dir / "progress.jsonl"
        self.rows: list[dict[str, Any]] = []
        if append and path.is_file():
            self.rows = [json.loads(line) for line in path.read_text().splitlines() if line]
        self.start = time.monotonic()
        self.start_env_steps = self.rows[-1]["env_steps"] if self.rows else 0
        self.time_offset = self.rows[-1]["time_s"] if self.rows else 0.0
        self._last = (
            self.start,
            self.start_env_steps,
            self.rows[-1]["updates"] if self.rows else 0,
        )
        self._jsonl = open(path, "a" if append else "w")  # noqa: SIM115 - kept open for the run
        self._tb = SummaryWriter(str(run_dir / "tensorboard"))

    def record(self, env_steps: int, updates: int, metrics: dict[str, float]) -> None:
        """Append one iteration's figures and refresh the progress display."""
        now = time.monotonic()
        last_time, last_steps, last_updates = self._last
        interval = max(now - last_time, 1e-9)
        self._last = (now, env_steps, updates)
        row = {
            "env_steps": env_steps,
            "updates": updates,
            "time_s": round(self.time_offset + now - self.start, 2),
            "env_steps_per_s": round((env_steps - last_steps) / interval, 1),
            "updates_per_s": round((updates - last_updates) / interval, 2),
            **metrics,
        }
        self.rows.append(row)
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        for key, value in row.items():
            if isinstance(value, int | float):
                self._tb.add_scalar(key, value, env_steps)
        rate = (env_steps - self.start_env_steps) / max(now - self.start, 1e-9)
        line = progress_line(env_steps, self.total, rate, updates, metrics)
        if self.live:
            self.stream.write("\r" + line + "\x1b[K")  # redraw in place, clear what is left
            self.stream.flush()
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> Path:
        """Finish the progress display, flush TensorBoard and write curves.png."""
        if self.live:
            self.stream.write("\n")
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
