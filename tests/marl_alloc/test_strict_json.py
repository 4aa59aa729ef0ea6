"""Everything the project writes as JSON parses in a strict reader."""

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from marl_alloc.floor import strict_json

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def reject(constant):
    raise ValueError(f"not strict JSON: {constant}")


@given(values)
def test_any_value_is_written_as_strict_json(value):
    text = strict_json.dumps(value)
    json.loads(text, parse_constant=reject)


def test_non_finite_numbers_become_null_and_numpy_plain_values():
    value = {
        "nan": math.nan,
        "inf": -math.inf,
        "f32": np.float32(0.5),
        "array": np.array([1.0, np.nan]),
        "count": np.int64(3),
        "pair": (1, math.inf),
    }
    assert json.loads(strict_json.dumps(value)) == {
        "nan": None,
        "inf": None,
        "f32": 0.5,
        "array": [1.0, None],
        "count": 3,
        "pair": [1, None],
    }


def test_write_json_replaces_the_file_whole(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    strict_json.write_json(path, {"mae": math.nan})
    assert json.loads(path.read_text(), parse_constant=reject) == {"mae": None}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
