"""RateLimiter: Reverb's SampleToInsertRatio for batched inserts and samples.

The learner should sample about `samples_per_insert` transitions per inserted one. With
diff = samples_per_insert * inserted - sampled (counted from the moment replay can be sampled),
inserts wait while diff > error_buffer and samples wait while diff < -error_buffer. A call is
checked before it runs, whatever its size, so when one side waits the other can always proceed:
no deadlock for any batch sizes. The waiting itself is the caller's (a condition variable).
"""


class RateLimiter:
    """Counts inserted and sampled transitions and says which side may proceed."""

    def __init__(self, samples_per_insert: float | None, tolerance: float, min_size_to_sample: int):
        self.samples_per_insert = samples_per_insert
        # Acme's choice: the slack is `tolerance` of the samples owed for a min-size buffer.
        self.error_buffer = (
            0.0
            if samples_per_insert is None
            else max(1.0, tolerance * samples_per_insert * min_size_to_sample)
        )
        self.inserted = 0
        self.sampled = 0

    @property
    def enabled(self) -> bool:
        """False when samples_per_insert is null: nothing ever waits."""
        return self.samples_per_insert is not None

    def diff(self) -> float:
        """Samples owed to the inserts so far (negative: the learner is ahead)."""
        return self.samples_per_insert * self.inserted - self.sampled if self.enabled else 0.0

    def can_insert(self, ready: bool) -> bool:
        """Inserts run until replay is ready, then while the learner keeps up."""
        return not self.enabled or not ready or self.diff() <= self.error_buffer

    def can_sample(self) -> bool:
        """Samples run while they are not too far ahead of inserts."""
        return not self.enabled or self.diff() >= -self.error_buffer

    def record_insert(self, count: int, ready: bool) -> None:
        """Count inserted transitions (only once replay is ready: warm-up inserts are free)."""
        if ready:
            self.inserted += count

    def record_sample(self, count: int) -> None:
        """Count sampled transitions."""
        self.sampled += count

    def get_state(self) -> dict:
        """Counters."""
        return {"inserted": self.inserted, "sampled": self.sampled}

    def set_state(self, state: dict) -> None:
        """Restore counters."""
        self.inserted, self.sampled = int(state["inserted"]), int(state["sampled"])
