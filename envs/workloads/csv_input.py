"""Read headerless trace CSVs (plain or .gz) with pyarrow; bad input is a one-line WorkloadError.

Strict (the default): a truncated or corrupt gzip, a row with the wrong number of fields or a
non-numeric value stops the read with the file and row named (row_checks then checks the values).
Lenient: every intact row is read and the rest are counted; the count travels with the table as
schema metadata (`rows_dropped`), so nothing is dropped silently.
Arrow's parse errors name no row, so on a strict failure the text is scanned once more, line by
line, to name the first malformed row.
"""

import csv
import io
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from envs.errors import WorkloadError
from marl_alloc.floor.errors import first_line

DROPPED_KEY = b"rows_dropped"
# ASCII digits and blanks only: Python's \d and \s also match characters (other scripts' digits,
# control characters such as \x1f) that neither Arrow nor int() reads as part of a number. Python
# matches them with fullmatch (its $ also matches before a final newline); Arrow's RE2 as is.
INTEGER = r"^[ \t]*-?[0-9]+[ \t]*$"  # Arrow reads "+3" as a float, not as an integer
# As Arrow parses floats: "nan", "inf" and "infinity" in any case (the range checks reject them).
FLOAT = (
    r"(?i)^[ \t]*[-+]?([0-9]+\.?[0-9]*(e[-+]?[0-9]+)?|\.[0-9]+(e[-+]?[0-9]+)?"
    r"|nan|inf|infinity)[ \t]*$"
)
CHUNK = 1 << 20


def rows_dropped(table: pa.Table) -> int:
    """Rows a lenient read left out (0 for a strict read or a table from elsewhere)."""
    metadata = table.schema.metadata or {}
    return int(metadata.get(DROPPED_KEY, b"0"))


def with_rows_dropped(table: pa.Table, count: int) -> pa.Table:
    """The table carrying `count` as its rows_dropped metadata."""
    metadata = dict(table.schema.metadata or {})
    metadata[DROPPED_KEY] = str(int(count)).encode()
    return table.replace_schema_metadata(metadata)


def _gunzip(path: Path, data: bytes, lenient: bool) -> tuple[bytes, int]:
    """Decompressed text; a truncated or corrupt stream keeps its intact rows when lenient
    (returns the count of rows lost: the partial last one) and raises otherwise."""
    out: list[bytes] = []
    view, problem = memoryview(data), None
    while view:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            for start in range(0, len(view), CHUNK):
                out.append(inflater.decompress(view[start : start + CHUNK]))
                if inflater.eof:
                    break
            out.append(inflater.flush())
        except zlib.error as err:
            problem = f"corrupt gzip data ({err})"
            break
        if not inflater.eof:
            problem = "truncated gzip stream"
            break
        # Concatenated gzip members are one file (as gzip -c a b > c writes).
        view = memoryview(inflater.unused_data)
    text = b"".join(out)
    if problem is None:
        return text, 0
    intact = text[: text.rfind(b"\n") + 1]
    if not lenient:
        row = intact.count(b"\n") + 1
        raise WorkloadError(
            f"malformed trace file {path}, row {row}: {problem} after {row - 1} intact rows; "
            "fetch the file again or pass --lenient to read the intact rows"
        )
    return intact, int(len(intact) < len(text))


def read_headerless_csv(
    path: str | Path,
    column_names: Sequence[str],
    column_types: dict[str, pa.DataType],
    lenient: bool = False,
) -> pa.Table:
    """The typed columns of a CSV without a header row; empty fields become nulls."""
    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"trace file {path} does not exist; check the path")
    bad_rows = [0]

    def skip_row(row) -> str:
        bad_rows[0] += 1
        return "skip"

    def read(source, types: dict[str, pa.DataType], skip: bool = True) -> pa.Table:
        return pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=list(column_names)),
            parse_options=pacsv.ParseOptions(invalid_row_handler=skip_row if skip else None),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(column_types),
                column_types=types,
                # Only an empty field is missing: "nan" or "NA" must not pass as an empty request.
                null_values=[""],
                strings_can_be_null=True,
            ),
        )

    try:
        # Arrow streams the gzip while it parses: the fast path for intact files. (A row with
        # the wrong field count goes the slow way: Arrow hands the skip handler the row as
        # UTF-8, which fails, off our stack, on other bytes.)
        return with_rows_dropped(read(path, column_types, skip=False), 0)
    except (pa.ArrowInvalid, OSError, EOFError) as err:
        first_error = err
    try:
        data = path.read_bytes()
    except OSError as err:
        raise WorkloadError(f"cannot read trace file {path}: {err.strerror}") from None
    dropped = 0
    if data[:2] == b"\x1f\x8b":
        data, dropped = _gunzip(path, data, lenient)
    if not data.strip():
        raise WorkloadError(f"trace file {path} holds no rows; check the path")
    data = data.decode("utf-8", "replace").encode()
    if not lenient:
        _raise_first_bad_row(path, data, column_names, column_types, first_error)
    bad_rows[0] = 0
    try:
        table = read(pa.BufferReader(data), column_types)
        return with_rows_dropped(table, dropped + bad_rows[0])
    except (pa.ArrowInvalid, OSError):
        bad_rows[0] = 0
    try:
        text = read(pa.BufferReader(data), {k: pa.string() for k in column_types})
    except (pa.ArrowInvalid, OSError) as err:  # not even text in columns: nothing to keep
        raise WorkloadError(f"cannot read trace file {path}: {first_line(err)}") from None
    table, invalid = _read_valid(text, column_types)
    return with_rows_dropped(table, dropped + bad_rows[0] + invalid)


def _fits(value: str, kind: pa.DataType) -> bool:
    """True if `value` is an integer that `kind` (an Arrow integer type) can hold."""
    if not re.fullmatch(INTEGER, value):
        return False
    bounds = np.iinfo(kind.to_pandas_dtype())
    return bounds.min <= int(value) <= bounds.max


def _read_valid(text: pa.Table, column_types: dict[str, pa.DataType]) -> tuple[pa.Table, int]:
    """Cast string columns to their types, dropping rows with a value that does not parse."""
    keep = np.ones(text.num_rows, bool)
    for name, kind in column_types.items():
        if pa.types.is_string(kind):
            continue
        column = text.column(name)
        if pa.types.is_integer(kind):  # the slow path only: a row at a time is fine
            ok = [value is None or _fits(value, kind) for value in column.to_pylist()]
        else:
            found = pc.fill_null(pc.match_substring_regex(column, FLOAT), True)  # empty is fine
            ok = found.to_numpy(zero_copy_only=False)
        keep &= np.asarray(ok, bool)
    table = text.filter(pa.array(keep))
    # Arrow's CSV reader takes " 7 " for 7; its cast does not, so trim first.
    columns = {
        name: table.column(name)
        if pa.types.is_string(kind)
        else pc.cast(pc.utf8_trim_whitespace(table.column(name)), kind)
        for name, kind in column_types.items()
    }
    return pa.table(columns), int((~keep).sum())


def _raise_first_bad_row(
    path: Path,
    data: bytes,
    column_names: Sequence[str],
    column_types: dict[str, pa.DataType],
    err: Exception,
) -> None:
    row, problem = _first_bad_row(data, column_names, column_types)
    where = f"row {row}" if row else "somewhere"
    detail = problem or first_line(err)
    raise WorkloadError(
        f"malformed trace file {path}, {where}: {detail}; expected {len(column_names)} "
        "comma-separated columns as in the trace's schema (--lenient skips bad rows)"
    ) from None


def _first_bad_row(
    data: bytes, column_names: Sequence[str], column_types: dict[str, pa.DataType]
) -> tuple[int | None, str | None]:
    """(1-based row, what is wrong) of the first row Arrow would refuse, or (None, None)."""
    index = {name: i for i, name in enumerate(column_names)}
    patterns = {
        name: re.compile(INTEGER if pa.types.is_integer(kind) else FLOAT)
        for name, kind in column_types.items()
        if not pa.types.is_string(kind)
    }
    handle = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace")
    try:
        for number, row in enumerate(csv.reader(handle), start=1):
            if len(row) != len(column_names):
                return number, f"expected {len(column_names)} columns, got {len(row)}"
            for name, pattern in patterns.items():
                value = row[index[name]]
                if value and not pattern.fullmatch(value):
                    return number, f"column '{name}' has non-numeric value {value!r}"
                kind = column_types[name]
                if value and pa.types.is_integer(kind) and not _fits(value, kind):
                    return number, f"column '{name}' value {value.strip()} is beyond {kind}"
    except csv.Error as err:
        return None, f"cannot parse it ({first_line(err)})"
    return None, None
