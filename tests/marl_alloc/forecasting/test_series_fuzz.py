"""Fuzz the series CSV loader: each file loads, or is one line naming the problem; no hang."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marl_alloc.floor.errors import UserError
from marl_alloc.forecasting.series import load_csv_series
from tests.fuzz import FUZZ, loads_or_one_line_error, perturbed, rows, write_text

SERIES_LINES = [f"{300 * i},{50 + 10 * np.sin(i / 3):.3f}" for i in range(24)]


def _series_field(i: int) -> st.SearchStrategy[str]:
    if i == 0:
        return st.integers(0, 10**6).map(str)
    return st.floats(0, 100, allow_nan=False).map(repr)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(
    lines=st.one_of(perturbed(SERIES_LINES), rows(_series_field, 2)),
    header=st.sampled_from(["timestamp,cpu", "cpu", "cpu,timestamp", "", "timestamp,cpu,cpu"]),
)
def test_series_csv_lines(folder, lines, header):
    path = write_text(folder / "series.csv", [header, *lines], compress=False)
    series = loads_or_one_line_error(lambda: load_csv_series(path, "cpu", 300.0), (UserError,))
    if series is not None:
        assert np.isfinite(series.values).all() and series.resolution_s > 0
