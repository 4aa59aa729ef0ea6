"""The tuning run's outputs: a table of trials and the best trial's hyperparameters as a preset."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.paths import PROJECT_ROOT

PRESET_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class TrialRow:
    """One trial's final hyperparameters ({dotted key: value}), progress and score."""

    name: str
    values: dict[str, Any]
    env_steps: int
    score: float


def rounded(value: Any) -> Any:
    """Floats to 4 significant digits (a range's bounds stay fixed points); others as they are."""
    return float(f"{value:.4g}") if isinstance(value, float) else value


def format_table(rows: Sequence[TrialRow], metric: str) -> str:
    """Fixed-width text table, one trial per line, in the order given."""
    keys = list(rows[0].values) if rows else []
    header = ["trial", *keys, "env_steps", metric]
    lines = [
        [row.name, *(str(rounded(row.values[k])) for k in keys), str(row.env_steps)]
        + [f"{row.score:.2f}"]
        for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *lines]
    )


def preset_path(preset_dir: str, name: str) -> Path:
    """conf/experiment/NAME.yaml (or NAME.yaml in another dir); the name must be a plain word."""
    if not PRESET_NAME.match(name):
        raise UserError(f"tune.preset_name must be letters, digits, - or _, got '{name}'")
    directory = Path(preset_dir)
    return (directory if directory.is_absolute() else PROJECT_ROOT / directory) / f"{name}.yaml"


def write_preset(path: Path, values: Mapping[str, Any], comment: Sequence[str]) -> Path:
    """A `# @package _global_` experiment preset setting {dotted key: value}, with a comment."""
    tree = OmegaConf.create({})
    for key, value in values.items():
        OmegaConf.update(tree, key, rounded(value), force_add=True)
    lines = ["# @package _global_", *(f"# {line}".rstrip() for line in comment)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n" + OmegaConf.to_yaml(tree))
    return path
