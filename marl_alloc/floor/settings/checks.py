"""The one way a settings class rejects a value: a one-line ConfigError naming the key."""

import dataclasses
import math
from typing import Any

from marl_alloc.floor.errors import ConfigError


def require(ok: bool, message: str) -> None:
    """Raise ConfigError(message) unless `ok`."""
    if not ok:
        raise ConfigError(message)


def require_all(rules: list[tuple[bool, str]]) -> None:
    """The first failing (ok, message) rule as a ConfigError."""
    for ok, message in rules:
        require(ok, message)


def require_finite(value: Any, key: str = "") -> None:
    """Every float in a settings tree (dataclasses, lists, dicts) finite: `inf` passes every
    `> 0` rule and `nan` every rule nobody wrote, and neither means anything as a setting."""
    if isinstance(value, float):
        require(math.isfinite(value), f"{key} must be a finite number, got {value}")
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            require_finite(getattr(value, field.name), f"{key}.{field.name}".lstrip("."))
    elif isinstance(value, dict):
        for name, item in value.items():
            require_finite(item, f"{key}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            require_finite(item, f"{key}[{index}]")
