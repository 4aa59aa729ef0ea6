"""TrainingLog: live progress on stderr, progress.jsonl, TensorBoard scalars and a PNG of curves.

progress.jsonl survives interruption: each row is one strict-JSON line appended with a single
write, a line torn by a kill is dropped when the run resumes, and a resumed run that restarts
from an older checkpoint replaces the rows past it, so env_steps only ever grow down the file.
"""

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from marl_alloc.floor import strict_json
from marl_alloc.floor.errors import UserError

PROGRESS_FILE = "progress.jsonl"
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


def read_progress(path: Path) -> list[dict[str, Any]]:
    """The rows of a progress.jsonl; a torn last line (a kill mid-write) is left out, any other
    line that is not a JSON object is a one-line UserError."""
    lines = path.read_bytes().split(b"\n")
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict) and isinstance(row.get("env_steps"), int):
            rows.append(row)
        elif number < len(lines) - (lines[-1] == b""):
            raise UserError(
                f"{path}, line {number}: not a progress row; delete that line (or the file) "
                "and resume again"
            )
    return rows


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
        self.path = run_dir / PROGRESS_FILE
        self.rows = read_progress(self.path) if append and self.path.is_file() else []
        self.start = time.monotonic()
        self.time_offset = self.rows[-1].get("time_s", 0.0) if self.rows else 0.0
        self._continue_from_last_row(self.start)
        self._fd: int | None = None
        # Rewritten whole: without the torn line a kill may have left, or empty for a new run.
        self._rewrite()
        self._tb = SummaryWriter(str(run_dir / "tensorboard"))

    def _continue_from_last_row(self, now: float) -> None:
        """Rates and the progress bar count from the last row kept."""
        last = self.rows[-1] if self.rows else {"env_steps": 0}
        self.start_env_steps = last["env_steps"]
        self._last = (now, last["env_steps"], last.get("updates", 0))

    def _rewrite(self) -> None:
        """Replace the file with `rows` (atomically) and append from there on."""
        if self._fd is not None:
            os.close(self._fd)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text("".join(strict_json.dumps(row) + "\n" for row in self.rows))
        os.replace(temporary, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def _append(self, row: dict[str, Any]) -> None:
        """One row as one line in one write(): a kill leaves at most the last line torn."""
        line = (strict_json.dumps(row) + "\n").encode()
        written = os.write(self._fd, line)
        while written < len(line):  # a regular file takes it all unless the disk is full
            written += os.write(self._fd, line[written:])

    def record(self, env_steps: int, updates: int, metrics: dict[str, float]) -> None:
        """Append one iteration's figures and refresh the progress display."""
        now = time.monotonic()
        if self.rows and env_steps <= self.rows[-1]["env_steps"]:
            # Resumed from a checkpoint older than the last rows: their work is being redone.
            self.rows = [row for row in self.rows if row["env_steps"] < env_steps]
            self._rewrite()
            self._continue_from_last_row(self._last[0])
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
        self._append(row)
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
        os.close(self._fd)
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
