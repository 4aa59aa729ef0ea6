"""Shared pieces of the fuzz tests: malformed fields, rows and bytes, and the one property every
input edge keeps (it loads, or raises its one-line user error; it never hangs)."""

import gzip
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.deadline import deadline

# Few examples (the machine is shared), no per-example deadline (it is loaded): hangs are caught
# by `deadline` instead.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
HANG_S = 30.0

# Fields that broke, or could break, a parser or a range check.
TRICKY = st.sampled_from(
    [
        "",
        "0",
        "1",
        "-1",
        "0.5",
        "1e308",
        "1e39",
        "-1e-320",
        "inf",
        "-inf",
        "Infinity",
        "nan",
        "NaN",
        "NA",
        "abc",
        "9" * 25,
        " 7 ",
        '"',
        '"a,b"',
        "0x10",
        "1_000",
        "+3",
        ".5",
        "5.",
        ">24",
        "é",
        "2023-06-08T00:00:00Z",
    ]
)
FIELD = st.one_of(
    TRICKY,
    st.integers(-(10**3), 10**13).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)


def rows(valid_field: Callable[[int], st.SearchStrategy[str]], columns: int):
    """Lines of `columns` fields, each valid (`valid_field(index)`) or malformed, with a field
    too many or too few now and then."""

    def line(fields: list[str]) -> str:
        return ",".join(fields)

    good = st.tuples(*(valid_field(i) for i in range(columns))).map(list)
    bad = st.lists(FIELD, min_size=max(columns - 2, 0), max_size=columns + 2)
    mixed = st.tuples(*(st.one_of(valid_field(i), FIELD) for i in range(columns))).map(list)
    return st.lists(st.one_of(good, good, mixed, bad).map(line), min_size=0, max_size=12)


def perturbed(lines: list[str]):
    """`lines` (a valid file) with up to three edits: a field replaced by a FIELD, a row dropped,
    repeated, or cut short; most load, some are errors only a little away from valid."""

    def apply(edits) -> list[str]:
        out = [line.split(",") for line in lines]
        for kind, row, column, value in edits:
            if not out:
                break
            row %= len(out)
            fields = out[row]
            if kind == "field" and fields:
                fields[column % len(fields)] = value
            elif kind == "drop":
                del out[row]
            elif kind == "repeat":
                out.insert(row, list(fields))
            else:
                out[row] = fields[: column % max(len(fields), 1)]
        return [",".join(fields) for fields in out]

    kinds = st.sampled_from(["field", "field", "field", "drop", "repeat", "cut"])
    edit = st.tuples(kinds, st.integers(0, 10**6), st.integers(0, 20), FIELD)
    return st.lists(edit, max_size=3).map(apply)


def write_text(path: Path, lines: list[str], compress: bool) -> Path:
    """The lines as a file, gzipped when `compress`."""
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def mutations(data: bytes):
    """`data` truncated, with a byte changed, with bytes inserted, or replaced outright."""
    size = max(len(data), 1)
    at = st.integers(0, size - 1)
    return st.one_of(
        at.map(lambda i: data[:i]),
        st.tuples(at, st.integers(0, 255)).map(
            lambda a: data[: a[0]] + bytes([a[1]]) + data[a[0] + 1 :]
        ),
        st.tuples(at, st.binary(min_size=1, max_size=16)).map(
            lambda a: data[: a[0]] + a[1] + data[a[0] :]
        ),
        st.binary(max_size=64),
    )


def loads_or_one_line_error(load: Callable[[], object], errors: tuple[type[Exception], ...]):
    """`load()` within HANG_S; its result, or None when it raised one of `errors` in one line
    (any other exception propagates: the fuzz test fails on it)."""
    with deadline(HANG_S):
        try:
            return load()
        except errors as err:
            assert "\n" not in str(err), f"not one line: {err!r}"
            assert str(err), "an empty message"
            return None
