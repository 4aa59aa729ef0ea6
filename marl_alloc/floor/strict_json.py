"""Strict JSON for every file and line this project writes: no NaN or Infinity, which strict JSON
readers (browsers, jq, Go, most databases) reject. A value that is not a finite number (a loss
that diverged, a mean over nothing) is written as null. Imports nothing of ours.
"""

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def strict(value: Any) -> Any:
    """`value` with non-finite floats as None, numpy scalars and arrays as Python values and
    tuples as lists, recursively."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict(item) for item in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """json.dumps of `strict(value)`; anything still not JSON is a bug and raises."""
    return json.dumps(strict(value), allow_nan=False, **kwargs)


def write_json(path: str | Path, value: Any, indent: int = 2) -> Path:
    """Write `value` as strict JSON, atomically: a reader never sees half a file."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(dumps(value, indent=indent) + "\n")
    os.replace(temporary, path)
    return path
