"""A pending pod's run-time belief is the simulator's DurationKnowledge of the same finished tasks,
per the checkpoint's env.knowledge.durations; oracle is refused; memory stays bounded."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.duration_knowledge import DurationKnowledge
from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings.env import KnowledgeConfig
from marl_alloc.serving.pod_durations import PodDurations, task_columns

SHAPES = [(1.0, 2.0**31), (2.0, 2.0**32), (0.5, 2.0**30)]


def finished(rows: list[tuple[int, int, int, float]]) -> dict[str, np.ndarray]:
    """Finished pods (owner, priority class, shape index, run time) as task columns."""
    tasks = task_columns(
        [f"ns/Job/owner-{owner}" for owner, _, _, _ in rows],
        [priority for _, priority, _, _ in rows],
        [SHAPES[shape][0] for _, _, shape, _ in rows],
        [SHAPES[shape][1] for _, _, shape, _ in rows],
    )
    tasks["run_s"] = np.array([run for _, _, _, run in rows], np.float64)
    return tasks


def as_simulator_tasks(rows: list[tuple[int, int, int, float]]) -> dict[str, np.ndarray]:
    """The same tasks as the simulator's columns (owners as their ids, shapes as capacities)."""
    return {
        "task_class": np.zeros(len(rows), np.int16),
        "priority": np.array([r[1] for r in rows], np.int16),
        "owner": np.array([r[0] for r in rows], np.int64),
        "cpu": np.array([SHAPES[r[2]][0] / 64 for r in rows], np.float32),
        "mem": np.array([SHAPES[r[2]][1] / 2.0**38 for r in rows], np.float32),
        "run_s": np.array([r[3] for r in rows], np.float64),
    }


finished_rows = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 2),
        st.integers(0, 2),
        st.floats(0.0, 1e6, allow_nan=False),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    history=finished_rows, query=st.tuples(st.integers(0, 4), st.integers(0, 2), st.integers(0, 2))
)
def test_a_belief_is_the_simulators_estimate_from_the_same_finished_tasks(history, query):
    durations = PodDurations(KnowledgeConfig(), kept=1000)
    if history:
        durations.learn(finished(history))
    simulator = DurationKnowledge(KnowledgeConfig())
    if history:
        simulator.observe(np.zeros(len(history), np.int64), as_simulator_tasks(history))
    owner, priority, shape = query
    belief = durations.believe(f"ns/Job/owner-{owner}", priority, *SHAPES[shape])
    pending = as_simulator_tasks([(owner, priority, shape, 0.0)])
    seconds, sigma = simulator.believed(np.zeros(1, np.int64), pending)
    assert belief.seconds == pytest.approx(seconds[0], rel=1e-12)
    assert belief.uncertainty == pytest.approx(sigma[0], rel=1e-12)
    assert belief.finished_pods["datacenter"] == len(history)


def test_without_duration_knowledge_no_run_time_is_assumed_or_learnt():
    durations = PodDurations(KnowledgeConfig(durations="none"), kept=10)
    durations.learn(finished([(0, 0, 0, 600.0)]))
    belief = durations.believe("ns/Job/owner-0", 0, *SHAPES[0])
    assert (belief.seconds, belief.uncertainty) == (0.0, 0.0)
    assert belief.source == "none: env.knowledge.durations=none"
    assert durations.snapshot()["finished_pods_learnt"] == 0


def test_an_oracle_trained_policy_is_refused_with_one_line():
    with pytest.raises(UserError, match="durations=oracle") as err:
        PodDurations(KnowledgeConfig(durations="oracle"), kept=10)
    assert "\n" not in str(err.value)


def test_the_estimate_rests_on_the_recent_pods_only_once_as_many_more_have_finished():
    rows = [(i % 2, 0, 0, 100.0 * (i + 1)) for i in range(10)]
    durations = PodDurations(KnowledgeConfig(), kept=4)
    for row in rows:
        durations.learn(finished([row]))
    # Rebuilt from the last 4 after the 8th pod, then two more learnt: pods 5..10.
    recent = PodDurations(KnowledgeConfig(), kept=100)
    recent.learn(finished(rows[4:]))
    for owner in (0, 1):
        kept = durations.believe(f"ns/Job/owner-{owner}", 0, *SHAPES[0])
        assert kept == recent.believe(f"ns/Job/owner-{owner}", 0, *SHAPES[0])
        assert kept.finished_pods["datacenter"] == 6
    assert durations.snapshot() == {"knowledge": "estimate", "finished_pods_learnt": 10, "kept": 4}


def test_a_list_longer_than_the_window_keeps_its_last_pods():
    rows = [(0, 0, 0, 10.0 * (i + 1)) for i in range(7)]
    durations = PodDurations(KnowledgeConfig(), kept=3)
    durations.learn(finished(rows))
    recent = PodDurations(KnowledgeConfig(), kept=100)
    recent.learn(finished(rows[4:]))
    assert durations.believe("ns/Job/owner-0", 0, *SHAPES[0]) == recent.believe(
        "ns/Job/owner-0", 0, *SHAPES[0]
    )
