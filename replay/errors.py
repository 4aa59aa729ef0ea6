"""Errors replay raises for users: one line that names the problem and the fix."""

from marl_alloc.floor.errors import UserError


class ReplayError(UserError):
    """A replay problem caused by input (a bad batch, an unreadable snapshot), not by a bug."""


class SnapshotError(ReplayError):
    """A replay snapshot or durable log that cannot be read back."""
