"""Errors replay raises for users: one line that names the problem and the fix."""

from marl_alloc.settings import UserError


class ReplayError(UserError):
    """A replay problem caused by input or config (bad batch, bad setting), not by a bug."""


class SnapshotError(ReplayError):
    """A replay snapshot or durable log that cannot be read back."""
