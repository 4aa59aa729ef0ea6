"""Hydra overrides for the smallest real Ape-X run the integration tests train."""

TINY_RUN = [
    "training.num_actors=2",
    "training.collect_cycles=8",
    "training.updates_per_round=4",
    "training.train_batch_size=32",
    "env.num_envs_per_actor=4",
    "replay.min_size_to_sample=64",
    "replay.capacity=20000",
]
