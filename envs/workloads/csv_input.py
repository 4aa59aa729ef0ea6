"""Read headerless trace CSVs (plain or .gz) with pyarrow; bad input is a one-line WorkloadError.

Arrow's parse errors name no row, so on failure the file is scanned once more, line by line, to
name the first malformed row.
"""

import csv
import gzip
import io
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from envs.errors import WorkloadError


def read_headerless_csv(
    path: str | Path,
    column_names: Sequence[str],
    column_types: dict[str, pa.DataType],
) -> pa.Table:
    """The typed columns of a CSV without a header row; empty fields become nulls."""
    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"trace file {path} does not exist; check the path")
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=list(column_names)),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(column_types), column_types=column_types
            ),
        )
    except (pa.ArrowInvalid, OSError, EOFError) as err:
        row, problem = _first_bad_row(path, column_names, column_types)
        where = f"row {row}" if row else "somewhere"
        detail = problem or str(err).splitlines()[0]
        raise WorkloadError(
            f"malformed trace file {path}, {where}: {detail}; expected {len(column_names)} "
            "comma-separated columns as in the trace's schema"
        ) from None


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by caller


def _first_bad_row(
    path: Path, column_names: Sequence[str], column_types: dict[str, pa.DataType]
) -> tuple[int | None, str | None]:
    """(1-based row, what is wrong) of the first row Arrow would refuse, or (None, None)."""
    index = {name: i for i, name in enumerate(column_names)}
    try:
        with _open_text(path) as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if len(row) != len(column_names):
                    return number, f"expected {len(column_names)} columns, got {len(row)}"
                for name, kind in column_types.items():
                    value = row[index[name]]
                    if value and not _parses(value, kind):
                        return number, f"column '{name}' has non-numeric value {value!r}"
    except (OSError, EOFError, csv.Error) as err:
        return None, f"cannot read it ({str(err).splitlines()[0]})"
    return None, None


def _parses(value: str, kind: pa.DataType) -> bool:
    try:
        if pa.types.is_integer(kind):
            int(value)
        elif pa.types.is_floating(kind):
            float(value)
    except ValueError:
        return False
    return True
