"""Kubernetes quantity strings."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marl_alloc.serving.quantities import QuantityError, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", 2.0),
        ("500m", 0.5),
        ("1500m", 1.5),
        ("0.25", 0.25),
        (".5", 0.5),
        ("1.", 1.0),
        ("+3", 3.0),
        ("100n", 1e-7),
        ("250u", 2.5e-4),
        ("4k", 4000.0),
        ("2M", 2e6),
        ("3G", 3e9),
        ("1T", 1e12),
        ("1P", 1e15),
        ("1E", 1e18),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("5e-1", 0.5),
        ("1Ki", 1024.0),
        ("512Mi", 512 * 2**20),
        ("4Gi", 4 * 2**30),
        ("1.5Gi", 1.5 * 2**30),
        ("1Ti", 2.0**40),
        ("1Pi", 2.0**50),
        ("1Ei", 2.0**60),
        (" 8Gi ", 8 * 2**30),
        (3, 3.0),
        (0.5, 0.5),
    ],
)
def test_quantities_parse_to_base_units(text, value):
    assert parse_quantity(text) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    "text", ["", "Gi", "1GB", "1 Gi", "1KiB", "m", "1.2.3", "0x10", "1e", True, None]
)
def test_non_quantities_are_rejected(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


@given(st.integers(0, 10**6), st.sampled_from(["", "m", "k", "Ki", "Mi", "Gi", "M", "G"]))
def test_integer_quantities_scale_by_their_suffix(number, suffix):
    scale = {"": 1, "m": 1e-3, "k": 1e3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "M": 1e6, "G": 1e9}
    assert parse_quantity(f"{number}{suffix}") == pytest.approx(number * scale[suffix])
