"""When a pipeline's throughput is back after an event, judged against the run's own noise.

The driver records the env steps it harvests over time (Timeline). Each event (a kill, or none
for the control) has a baseline: the rate over the seconds just before it. The smoothed rate at
time t is the rate over (t, t + window]; divided by the baseline it is the *relative rate*.

The *band* is the lowest relative rate the run showed while nothing happened (the baselines of
all its events, each against its own mean), capped at RECOVERED_FRACTION: on a quiet machine
"recovered" means back to 90% of the baseline (the issue's definition); on a noisy one it means
back where noise alone takes the rate. An event recovered at the first t from the event whose
relative rate over (t, t + window] is in the band, and over (t, the moment the killed part was
whole again] too (a restarted shard answering, a spare collecting for a killed actor): a stall
can begin seconds after a kill, once what the actors hold back fills up. A window that starts
inside an outage can still reach the band, so the criterion can call a recovery up to
(1 - band) * window early: the resolution it states (for a full stall; 1 / (1 - share) times
that for a stall that keeps `share` of the rate). The control (no kill), read the same way over
the same span and over stretches the band was not taken from, says how late noise alone makes a
recovery: its false recovery.
"""

from collections.abc import Iterable

import numpy as np

RECOVERED_FRACTION = 0.9
GRID_S = 0.05  # where smoothed rates are read: windows start every GRID_S seconds


class Timeline:
    """Cumulative env steps over time, as the driver harvests them."""

    def __init__(self):
        self.times: list[float] = []
        self.steps: list[int] = []

    def add(self, t: float, env_steps: int) -> None:
        """Record `env_steps` more steps at time `t`."""
        self.times.append(t)
        self.steps.append((self.steps[-1] if self.steps else 0) + env_steps)

    def steps_until(self, t: float | np.ndarray) -> np.ndarray:
        """Env steps harvested up to and including time `t` (each of them, for an array)."""
        return np.r_[0, self.steps][np.searchsorted(self.times, t, side="right")]

    def rate(self, start: float, end: float) -> float:
        """Env steps per second harvested in (start, end]."""
        return (self.steps_until(end) - self.steps_until(start)) / (end - start)

    def relative_rates(
        self, start: float, end: float, window: float, baseline: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(window starts, rate over each window / `baseline`) for windows starting every
        GRID_S seconds from `start` and ending by `end`."""
        starts = np.arange(start, end - window + 1e-9, GRID_S)
        rates = (self.steps_until(starts + window) - self.steps_until(starts)) / window
        return starts, rates / baseline


def band(timeline: Timeline, baselines: Iterable[tuple[float, float]], window: float) -> float:
    """The lowest relative rate over the undisturbed `baselines` ((start, end) each, read
    against its own mean rate), capped at RECOVERED_FRACTION."""
    lowest = RECOVERED_FRACTION
    for start, end in baselines:
        mean = timeline.rate(start, end)
        _, relative = timeline.relative_rates(start, end, window, mean if mean > 0 else 1.0)
        if len(relative):
            lowest = min(lowest, float(relative.min()))
    return lowest


def recovery_seconds(
    timeline: Timeline,
    event_t: float,
    end: float,
    baseline: float,
    window: float,
    low: float,
    whole_s: float = 0.0,
) -> float | None:
    """Seconds from `event_t` to the first t whose rates over (t, t + window] (ending by `end`)
    and over (t, event_t + whole_s] are at least `low` of `baseline`: back in the band, and so
    on average until the killed part was whole again (a stall can begin late, once what actors
    hold back fills up). None if there is no such t."""
    starts, relative = timeline.relative_rates(event_t, end, window, baseline)
    whole = min(event_t + whole_s, end)  # a part not back by the end: judged up to it
    for start, in_window in zip(starts, relative, strict=True):
        rest = timeline.rate(start, whole) / baseline if start + window < whole else in_window
        if min(in_window, rest) >= low:
            return float(start - event_t)
    return None


def lost_seconds(timeline: Timeline, event_t: float, end: float, baseline: float) -> float:
    """Seconds of baseline throughput the event cost over (event_t, end]: the steps short of
    the baseline over that stretch, divided by it (noise makes it negative as often as not)."""
    return (end - event_t) * (1.0 - timeline.rate(event_t, end) / baseline)
