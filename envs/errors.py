"""User-facing errors of the simulator: one line naming the problem and the fix."""


class EnvConfigError(ValueError):
    """The env config has an unknown key or a value out of range."""


class WorkloadError(ValueError):
    """A workload (trace file, table, generator setting) cannot be used as given."""


class InvalidActionError(ValueError):
    """A policy chose an action its level's action mask does not allow."""


class PolicySpecError(ValueError):
    """A heuristic named with an unknown name or a malformed packing target (NAME[@TARGET])."""
