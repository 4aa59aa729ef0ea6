"""Timeline: the metrics' integrals sampled every period_s of simulated time, per env.

Differences between consecutive samples give interval averages (utilization, power, SLATAH)
for plots, at the cost of one comparison per integration step while sampling is on.
"""

import numpy as np

from envs.metrics import EnvMetrics

SAMPLED = (
    "elapsed_s",
    "energy_kwh",
    "active_host_s",
    "overloaded_host_s",
    "utilization_host_s",
    "migrations",
)


class Timeline:
    """Snapshots (time, integrals) of each env whenever its clock passes a sample point."""

    def __init__(self, now: np.ndarray, metrics: EnvMetrics, period_s: float = 60.0):
        self.period_s = float(period_s)
        self.next_s = now + self.period_s
        self.rows: list[tuple[int, float, tuple[float, ...]]] = []
        for env in range(len(now)):
            self._append(env, now, metrics)

    def _append(self, env: int, now: np.ndarray, metrics: EnvMetrics) -> None:
        self.rows.append((env, float(now[env]), tuple(float(metrics[k][env]) for k in SAMPLED)))

    def record(self, now: np.ndarray, metrics: EnvMetrics) -> None:
        """Take a snapshot of every env whose clock reached its next sample point."""
        due = now >= self.next_s
        if not due.any():
            return
        for env in np.flatnonzero(due).tolist():
            self._append(env, now, metrics)
        self.next_s[due] = now[due] + self.period_s

    def series(self, env: int = 0) -> dict[str, np.ndarray]:
        """Interval averages of one env: t_s (interval end), utilization (mean over active
        hosts), power_kw, slatah (overloaded share of active host-time), active_hosts,
        migrations (in the interval)."""
        rows = [(t, values) for e, t, values in self.rows if e == env]
        t = np.array([r[0] for r in rows])
        values = {k: np.array([r[1][i] for r in rows]) for i, k in enumerate(SAMPLED)}
        d = {k: np.diff(v) for k, v in values.items()}
        elapsed = np.maximum(d["elapsed_s"], 1e-12)
        active = np.maximum(d["active_host_s"], 1e-12)
        return {
            "t_s": t[1:],
            "utilization": d["utilization_host_s"] / active,
            "power_kw": d["energy_kwh"] * 3600.0 / elapsed,
            "slatah": d["overloaded_host_s"] / active,
            "active_hosts": d["active_host_s"] / elapsed,
            "migrations": d["migrations"],
        }
