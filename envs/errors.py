"""User-facing errors of the simulator: one line naming the problem and the fix."""

from marl_alloc.floor.errors import ConfigError, UserError

# The env settings are the floor's typed schema, which raises ConfigError for `env.*` keys.
EnvConfigError = ConfigError


class WorkloadError(UserError, ValueError):
    """A workload (trace file, table, generator setting) cannot be used as given."""


class InvalidActionError(ValueError):
    """A policy chose an action its level's action mask does not allow."""


class PolicySpecError(UserError, ValueError):
    """A heuristic named with an unknown name or a malformed packing target (NAME[@TARGET])."""
