"""Small configs and series that keep the forecaster tests fast."""

import numpy as np
import pytest

from marl_alloc.forecasting.model import NetConfig

TINY_OVERRIDES = [
    "model.lstm_hidden=8",
    "model.d_model=8",
    "model.d_state=4",
    "model.fusion_dim=8",
    "model.head_hidden=8",
    "data.window=12",
    "data.horizon=4",
    "train.max_epochs=2",
    "train.samples_per_epoch=128",
    "train.batch_size=32",
    "synthetic.days=3",
    "synthetic.arrival_rate_per_s=0.02",
    "groups.leaf_groups=2",
]


# Evaluate without the established peers: they train for minutes (tests/.../test_peers.py).
NO_PEERS = ["evaluate.peers=[]"]


def tiny_net_config(**changes) -> NetConfig:
    """A NetConfig small enough to build and run in milliseconds."""
    values = dict(
        num_features=3,
        target_features=(0,),
        horizon=4,
        pathways=("lstm", "mamba"),
        lstm_hidden=8,
        lstm_layers=1,
        d_model=8,
        d_state=4,
        d_conv=4,
        expand=2,
        mamba_layers=1,
        fusion_dim=8,
        head_hidden=8,
        dropout=0.0,
    )
    return NetConfig(**(values | changes))


@pytest.fixture
def sine_csv(tmp_path):
    """A 3-day utilization CSV at 5 min: daily sine plus noise, with a timestamp column."""
    rng = np.random.default_rng(0)
    steps = 3 * 288
    t = np.arange(steps) * 300
    cpu = 50 + 20 * np.sin(2 * np.pi * t / 86_400) + rng.normal(0, 2, steps)
    path = tmp_path / "util.csv"
    rows = "\n".join(f"{ts},{c:.4f},{c / 2:.4f}" for ts, c in zip(t, cpu, strict=True))
    path.write_text("timestamp,cpu,mem\n" + rows + "\n")
    return path


@pytest.fixture
def google_files(tmp_path):
    """Tiny Google 2011 task_events / machine_events csv.gz: 40 min of tasks on 8 machines."""
    from tests.envs.trace_files import write_machine_events, write_task_events

    # (time s, job, task, event, priority, cpu, mem): one task running since before the window
    # (t = 0), then a task a minute, each finishing after 400 s, and one never scheduled.
    rows = [(0, 1, 0, 0, 9, "0.125", "0.07"), (0, 1, 0, 1, 9, "", "")]
    for i in range(40):
        t = 600 + 60 * i
        cpu, mem = f"{0.01 * (1 + i % 3):.2f}", "0.01"
        rows += [(t, 10 + i, 0, 0, 0, cpu, mem), (t + 5, 10 + i, 0, 1, 0, "", "")]
        rows.append((t + 405, 10 + i, 0, 4, 0, "", ""))
    rows.append((1800, 99, 0, 0, 0, "0.3", "0.2"))
    machines = [(0, m, 0, "0.5", "0.5") for m in range(1, 9)]
    return (
        write_task_events(tmp_path / "task_events-part-00000-of-00500.csv.gz", rows),
        write_machine_events(tmp_path / "machine_events-part-00000-of-00001.csv.gz", machines),
    )
