"""Row checks on a trace file's typed columns: present, finite and in range, in time order.

Each check takes the table read from one file. Strict (the default): the first bad row is a
one-line WorkloadError naming the file, the row (1-based, as in the file) and the column.
Lenient: bad rows are dropped and added to the table's rows_dropped count, never lost silently.
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from envs.errors import WorkloadError
from envs.workloads.csv_input import rows_dropped, with_rows_dropped

# (low, high) bounds per column; a null passes (require_values decides about empty fields).
Limits = Mapping[str, tuple[float, float]]


def reject_rows(
    table: pa.Table,
    bad: np.ndarray,
    path: str | Path,
    lenient: bool,
    what: str,
    describe: Callable[[int], str],
) -> pa.Table:
    """The table without the rows marked `bad`: strict, an error naming the first of them (what
    `describe(row)` says is wrong with it); lenient, dropped and counted."""
    if not bad.any():
        return table
    if not lenient:
        row = int(np.flatnonzero(bad)[0])
        raise WorkloadError(
            f"malformed {what} file {path}, row {row + 1}: {describe(row)}; "
            "fix the row or pass --lenient to skip such rows"
        )
    return with_rows_dropped(table.filter(pa.array(~bad)), rows_dropped(table) + int(bad.sum()))


def _present(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).is_valid().to_numpy(zero_copy_only=False), bool)


def require_values(
    table: pa.Table, names: Sequence[str], path: str | Path, lenient: bool, what: str
) -> pa.Table:
    """Rows with an empty mandatory field."""
    missing = np.zeros(table.num_rows, bool)
    for name in names:
        missing |= ~_present(table, name)

    def describe(row: int) -> str:
        empty = next(n for n in names if table.column(n)[row].as_py() is None)
        return f"empty '{empty}' field, which the trace schema requires"

    return reject_rows(table, missing, path, lenient, what, describe)


def _bounds(low: float, high: float) -> str:
    return f">= {low:g}" if high == np.inf else f"in [{low:g}, {high:g}]"


def require_in_range(
    table: pa.Table, limits: Limits, path: str | Path, lenient: bool, what: str
) -> pa.Table:
    """Rows with a value that is not finite (inf, nan, or beyond float32 range when read) or
    outside its column's bounds."""
    bad = np.zeros(table.num_rows, bool)
    out_of_range = {}
    for name, (low, high) in limits.items():
        kind = table.column(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise WorkloadError(f"{what} file {path}: column '{name}' holds {kind}, not numbers")
        values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        with np.errstate(invalid="ignore"):
            inside = (values >= low) & (values <= high) & np.isfinite(values)
        out_of_range[name] = _present(table, name) & ~inside
        bad |= out_of_range[name]

    def describe(row: int) -> str:
        name = next(n for n, out in out_of_range.items() if out[row])
        value = table.column(name)[row].as_py()
        return f"column '{name}' is {value}, not a finite number {_bounds(*limits[name])}"

    return reject_rows(table, bad, path, lenient, what, describe)


def require_time_order(
    table: pa.Table, name: str, path: str | Path, lenient: bool, what: str
) -> pa.Table:
    """Rows whose time in column `name` is earlier than a row above them: a trace file is written
    in time order, so such a row is damage (re-sorting would move it, and shift the window)."""
    times = table.column(name).to_numpy(zero_copy_only=False)
    latest = np.maximum.accumulate(times) if len(times) else times
    bad = np.zeros(len(times), bool)
    bad[1:] = times[1:] < latest[:-1]

    def describe(row: int) -> str:
        return (
            f"column '{name}' goes back in time ({times[row]} after {latest[row - 1]}); "
            "trace rows must be in time order"
        )

    return reject_rows(table, bad, path, lenient, what, describe)
