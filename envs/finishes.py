"""FinishQueue: per env, a heap of the running tasks' end times.

Finding the tasks that ended by scanning the running table costs O(running tasks) per time step,
which dominates a Google cell (~130k tasks); a heap pops exactly the ones due.
"""

import heapq

import numpy as np

from envs.slots import SlotTable


class FinishQueue:
    """(end_s, slot) heaps, one per env; `next_s[b]` is env b's earliest end (inf if none)."""

    def __init__(self, num_envs: int):
        self.heaps: list[list[tuple[float, int]]] = [[] for _ in range(num_envs)]
        self.next_s = np.full(num_envs, np.inf)

    def push(self, envs: np.ndarray, end_s: np.ndarray, slots: np.ndarray) -> None:
        """Add running tasks (envs may repeat)."""
        for env, end, slot in zip(envs.tolist(), end_s.tolist(), slots.tolist(), strict=True):
            heap = self.heaps[env]
            heapq.heappush(heap, (end, slot))
            self.next_s[env] = heap[0][0]

    def push_one(self, env: int, end_s: float, slot: int) -> None:
        """Add one running task."""
        heap = self.heaps[env]
        heapq.heappush(heap, (end_s, slot))
        self.next_s[env] = heap[0][0]

    def pop_due(self, envs: np.ndarray, now: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Remove and return (env, slot) of the tasks of `envs` (indices) ending by now[env]."""
        out_envs: list[int] = []
        out_slots: list[int] = []
        for env in envs.tolist():
            heap, t = self.heaps[env], now[env]
            count = 0
            while heap and heap[0][0] <= t:
                out_slots.append(heapq.heappop(heap)[1])
                count += 1
            out_envs += [env] * count
            self.next_s[env] = heap[0][0] if heap else np.inf
        return np.array(out_envs, np.int64), np.array(out_slots, np.int64)

    def rebuild(self, running: SlotTable) -> None:
        """Heaps of every active row of the running table (after a warm start or set_state)."""
        for env in range(len(self.heaps)):
            slots = np.flatnonzero(running.active[env])
            heap = list(zip(running["end_s"][env, slots].tolist(), slots.tolist(), strict=True))
            heapq.heapify(heap)
            self.heaps[env] = heap
            self.next_s[env] = heap[0][0] if heap else np.inf
