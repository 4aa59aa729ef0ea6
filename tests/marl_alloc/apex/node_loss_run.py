"""Train on a 3-node local Ray cluster and remove a worker node mid-training (run as a script).

    python -m tests.marl_alloc.apex.node_loss_run RUN_DIR

Prints one JSON line: the env steps reached, the actors that lived on the removed node, and the
training's failure counts. The test in test_faults.py runs it in a subprocess, because it needs
its own Ray cluster rather than the test session's.
"""

import json
import sys
import threading
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.train import run_training
from tests.marl_alloc.tiny_run import TINY_RUN

TOTAL_ENV_STEPS = 3000
REMOVE_AFTER_ENV_STEPS = 800
OVERRIDES = [
    *TINY_RUN,
    f"training.total_env_steps={TOTAL_ENV_STEPS}",
    "training.log_every_s=1.0",
    "replay.num_shards=2",
]
APEX_CLASSES = ("EnvActor", "BlockingShard", "LearnerActor")  # BlockingShard: ReplayShard


def env_steps_so_far(run_dir: Path) -> int:
    """The latest env step count in progress.jsonl (0 before the first row)."""
    path = run_dir / "progress.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return json.loads(lines[-1])["env_steps"] if lines else 0


def actors_on(node_id: str) -> list[str]:
    """Class names of the live Ape-X actors placed on `node_id`."""
    found = []
    for info in ray._private.state.actors().values():
        name = info["ActorClassName"]
        if info["State"] == "ALIVE" and info["Address"]["NodeID"] == node_id:
            found += [c for c in APEX_CLASSES if name.endswith(c)]
    return found


def remove_when_training(cluster: Cluster, workers: list, run_dir: Path, report: dict) -> None:
    """Once training is past REMOVE_AFTER_ENV_STEPS, remove the worker node holding the most
    Ape-X actors."""
    while env_steps_so_far(run_dir) < REMOVE_AFTER_ENV_STEPS:
        time.sleep(0.2)
    node = max(workers, key=lambda n: len(actors_on(n.node_id)))
    report["removed_at_env_steps"] = env_steps_so_far(run_dir)
    report["actors_on_removed_node"] = actors_on(node.node_id)
    cluster.remove_node(node)


def main(run_dir: str) -> None:
    """Start head + 2 workers, train, remove a worker mid-way, print the report."""
    run_dir = Path(run_dir)
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False}
    )
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    ray.init(address=cluster.address, logging_level="ERROR")
    cluster.wait_for_nodes()
    report: dict = {}
    remover = threading.Thread(
        target=remove_when_training, args=(cluster, workers, run_dir, report), daemon=True
    )
    remover.start()
    try:
        run_training(compose_settings(OVERRIDES), run_dir)
        report["env_steps"] = env_steps_so_far(run_dir)
        report["nodes_alive"] = sum(n["Alive"] for n in ray.nodes())
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
