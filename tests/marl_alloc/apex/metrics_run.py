"""Train briefly on a local Ray head with the dashboard and Prometheus export on (a script).

    python -m tests.marl_alloc.apex.metrics_run RUN_DIR PORT

Scrapes http://127.0.0.1:PORT/metrics while it trains, until every pipeline metric has been
exported (or a timeout), then prints one JSON line {metric name: largest summed value seen}.
test_pipeline_metrics.py runs it in a subprocess: the test session's own Ray has no dashboard
and there is one Ray per process.
"""

import json
import re
import sys
import threading
import time
import urllib.request
from pathlib import Path

import ray

from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.train import run_training
from tests.marl_alloc.tiny_run import TINY_RUN

OVERRIDES = [*TINY_RUN, "training.total_env_steps=1500", "training.log_every_s=1.0"]
EXPECTED = (
    "ray_marl_alloc_env_steps_total",
    "ray_marl_alloc_env_steps_per_s",
    "ray_marl_alloc_transitions_added_total",
    "ray_marl_alloc_transitions_sampled_total",
    "ray_marl_alloc_replay_size",
    "ray_marl_alloc_learner_updates_total",
    "ray_marl_alloc_learner_updates_per_s",
    "ray_marl_alloc_learner_loss",
    "ray_marl_alloc_weight_sync_lag_versions_count",
    "ray_marl_alloc_energy_kwh",
)
# Exported, but zero is a legitimate value (a short window may see no SLA violation).
PRESENT = ("ray_marl_alloc_sla_violation_rate", "ray_marl_alloc_weight_sync_lag")
SAMPLE = re.compile(r"^(ray_marl_alloc_\w+)(?:\{[^}]*\})? (\S+)$")


def scrape(port: int) -> dict[str, float]:
    """Our metrics on the Prometheus endpoint, each summed over its label sets."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            values[match[1]] = values.get(match[1], 0.0) + float(match[2])
    return values


def exported(values: dict[str, float]) -> bool:
    """Every expected metric is there, positive where it must be."""
    return all(values.get(n, 0) > 0 for n in EXPECTED) and all(n in values for n in PRESENT)


class Scraper(threading.Thread):
    """Scrapes the endpoint every half second, keeping each metric's largest value seen: the
    dashboard shows gauges live, and Ray drops those of processes that have ended."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                values = scrape(self.port)
            except OSError:  # the metrics agent is still starting
                continue
            for name, value in values.items():
                self.seen[name] = max(value, self.seen.get(name, value))


def main(run_dir: str, port: str) -> None:
    """Start the head, train while scraping, then wait for the rest and print what was seen."""
    ray.init(
        address="local",  # a fresh head even when another Ray cluster runs here
        num_cpus=2,
        include_dashboard=True,
        _metrics_export_port=int(port),
        logging_level="ERROR",
        # Export every half second instead of every 10 s, so the test need not wait.
        _system_config={"metrics_report_interval_ms": 500},
    )
    scraper = Scraper(int(port))
    scraper.start()
    try:
        run_training(compose_settings(OVERRIDES), Path(run_dir))
        deadline = time.monotonic() + 30
        while not exported(scraper.seen) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        scraper.stop.set()
        scraper.join()
        ray.shutdown()
    print(json.dumps(scraper.seen), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
