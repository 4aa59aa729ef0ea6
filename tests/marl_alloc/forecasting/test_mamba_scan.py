"""The chunked selective scan equals the per-step reference, values and gradients."""

import json
from unittest.mock import patch

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from marl_alloc.bench.__main__ import main as bench_main
from marl_alloc.forecasting import mamba_scan
from marl_alloc.forecasting.mamba_scan import selective_scan, selective_scan_reference
from marl_alloc.forecasting.scan_bench import scan_inputs, two_level_scan


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 5),
    length=st.integers(1, 17),
    channels=st.integers(1, 6),
    states=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    chunk_elements=st.sampled_from([1, 64, 1 << 20]),
)
def test_scan_matches_reference(batch, length, channels, states, seed, chunk_elements):
    inputs = scan_inputs(batch, length, channels, states, seed=seed, grad=True)
    # Chunks of one row up to the whole batch must all give the same result.
    with patch.object(mamba_scan, "CPU_CHUNK_ELEMENTS", chunk_elements):
        ours = selective_scan(*inputs)
        ours_grads = torch.autograd.grad(ours.square().sum(), inputs)
    ref = selective_scan_reference(*inputs)
    ref_grads = torch.autograd.grad(ref.square().sum(), inputs)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    for got, want in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)


def test_scan_gradcheck_float64():
    inputs = [t.double().detach().requires_grad_(True) for t in scan_inputs(2, 5, 3, 2)]
    assert torch.autograd.gradcheck(selective_scan, inputs)


def test_scan_is_deterministic():
    inputs = scan_inputs(3, 20, 8, 4, grad=True)
    first, second = selective_scan(*inputs), selective_scan(*inputs)
    assert torch.equal(first, second)


@pytest.mark.parametrize("length", [1, 5, 9, 16])
def test_two_level_scan_of_the_bench_matches_reference(length):
    inputs = scan_inputs(3, length, 4, 3, seed=length)
    with torch.no_grad():
        torch.testing.assert_close(
            two_level_scan(*inputs), selective_scan_reference(*inputs), rtol=1e-4, atol=1e-5
        )


def test_bench_command_prints_json_rows(capsys):
    argv = ["forecast-scan", "--batch", "2", "--length", "6", "--d-inner", "4", "--d-state", "2"]
    assert bench_main([*argv, "--repeats", "1", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["pass"] for r in rows] == ["forward", "forward+backward"]
    assert rows[0]["chunked_ms"] > 0 and rows[0]["two_level_ms"] > 0
