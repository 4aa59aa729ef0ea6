"""One rule for a numeric column read from a CSV with Arrow: every value a number that passes a
check, or one error naming the file's line, the column and the value found there."""

from collections.abc import Callable

import numpy as np
import pyarrow as pa

LINE_OF_ROW = 2  # data row 0 is the file's line 2, below the header


def checked_numbers(
    column: pa.ChunkedArray,
    where: str,
    name: str,
    valid: Callable[[np.ndarray], np.ndarray],
    expected: str,
    error: type[Exception],
) -> np.ndarray:
    """`column` as float64 where `valid(values)` holds for every row; otherwise `error` with
    `where`, the line and `expected` (e.g. "a finite number") in one line."""
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        row = _first_non_number(column)
        raise error(
            f"{where}, line {row + LINE_OF_ROW}: column {name!r} holds"
            f" {column[row].as_py()!r}, not a number"
        )
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        bad = np.flatnonzero(~valid(values))
    if len(bad):
        row = int(bad[0])
        value = column[row].as_py()
        raise error(
            f"{where}, line {row + LINE_OF_ROW}: column {name!r} is"
            f" {'empty' if value is None else value}, not {expected}"
        )
    return values


def _first_non_number(column: pa.ChunkedArray) -> int:
    """The first row Arrow cannot read as a number (row 0 for a column of another type, such
    as timestamps), for a column Arrow did not read as numbers."""
    for row, value in enumerate(column.to_pylist()):
        try:
            pa.scalar(value, pa.string()).cast(pa.float64())
        except (pa.ArrowException, TypeError):
            return row
    return 0
