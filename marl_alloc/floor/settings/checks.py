"""The one way a settings class rejects a value: a one-line ConfigError naming the key."""

from marl_alloc.floor.errors import ConfigError


def require(ok: bool, message: str) -> None:
    """Raise ConfigError(message) unless `ok`."""
    if not ok:
        raise ConfigError(message)


def require_all(rules: list[tuple[bool, str]]) -> None:
    """The first failing (ok, message) rule as a ConfigError."""
    for ok, message in rules:
        require(ok, message)
