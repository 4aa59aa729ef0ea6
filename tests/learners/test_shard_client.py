"""The learner's replay client: a slow or restarting shard does not stall sampling from the rest,
and ready shards take turns."""

import time

import pytest
import ray

from learners import ShardClient


@ray.remote(num_cpus=0)
class FakeShard:
    """A shard whose sample answers after `delay_s` with its own name."""

    def __init__(self, name: str, delay_s: float):
        self.name, self.delay_s = name, delay_s

    def sample(self, batch_size: int) -> dict:
        time.sleep(self.delay_s)
        return {"shard": self.name, "rows": batch_size}


@pytest.fixture
def shards(ray_session):
    actors = []

    def make(*delays: float) -> list:
        actors.extend(FakeShard.remote(f"s{i}", d) for i, d in enumerate(delays))
        return actors

    yield make
    for actor in actors:
        ray.kill(actor)


def test_a_slow_shard_does_not_stall_sampling_from_the_others(shards):
    client = ShardClient(shards(30.0, 0.0), batch_size=8)
    start = time.monotonic()
    served = [client.sample() for _ in range(5)]
    assert time.monotonic() - start < 10.0
    assert all(index == 1 and batch["shard"] == "s1" for index, batch in served)


def test_ready_shards_take_turns(shards):
    client = ShardClient(shards(0.0, 0.0, 0.0), batch_size=8)
    client.sample()
    # Every shard's next request has answered. A fixed sleep is too short on a loaded machine,
    # and starting three actor processes there (each imports torch) can take over 30 s.
    ready, _ = ray.wait(list(client._prefetched.values()), num_returns=3, timeout=180)
    assert len(ready) == 3
    first_rounds = [client.sample()[0] for _ in range(3)]
    assert sorted(first_rounds) == [0, 1, 2]
