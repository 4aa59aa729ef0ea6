"""The PyTorch Mamba keeps mamba-ssm's parameter names and shapes and is causal."""

import pytest
import torch

from marl_alloc.forecasting import mamba_block
from marl_alloc.forecasting.mamba_block import Mamba
from marl_alloc.forecasting.parity import parity_check


def expected_shapes(d_model: int, d_state: int, d_conv: int, expand: int) -> dict[str, tuple]:
    """mamba_ssm.Mamba's state dict (mamba_ssm/modules/mamba_simple.py, bias=False)."""
    d_inner, dt_rank = expand * d_model, -(-d_model // 16)
    return {
        "A_log": (d_inner, d_state),
        "D": (d_inner,),
        "in_proj.weight": (2 * d_inner, d_model),
        "conv1d.weight": (d_inner, 1, d_conv),
        "conv1d.bias": (d_inner,),
        "x_proj.weight": (dt_rank + 2 * d_state, d_inner),
        "dt_proj.weight": (d_inner, dt_rank),
        "dt_proj.bias": (d_inner,),
        "out_proj.weight": (d_model, d_inner),
    }


@pytest.mark.parametrize("sizes", [(64, 64, 4, 2), (16, 16, 4, 2), (40, 8, 3, 1)])
def test_state_dict_names_and_shapes_match_mamba_ssm(sizes):
    state = Mamba(*sizes).state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == expected_shapes(*sizes)


def test_state_dict_loads_into_mamba_ssm_when_installed():
    kernel_cls = pytest.importorskip("mamba_ssm").Mamba
    ours = Mamba(32, 16, 4, 2)
    kernel_cls(d_model=32, d_state=16, d_conv=4, expand=2).load_state_dict(ours.state_dict())


def test_init_follows_mamba_ssm():
    m = Mamba(32, 8)
    assert torch.allclose(m.A_log[0].exp(), torch.arange(1.0, 9.0))
    dt = torch.nn.functional.softplus(m.dt_proj.bias)
    assert dt.min() >= 1e-4 and dt.max() <= 0.1 + 1e-6
    assert torch.equal(m.D, torch.ones(64))


def test_output_is_causal():
    torch.manual_seed(0)
    m = Mamba(8, 4).eval()
    x = torch.randn(2, 10, 8)
    changed = x.clone()
    changed[:, 6:] += 1.0
    y, y_changed = m(x), m(changed)
    torch.testing.assert_close(y[:, :6], y_changed[:, :6])
    assert not torch.allclose(y[:, 6:], y_changed[:, 6:])


def test_cpu_input_never_uses_the_kernels(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("CUDA kernel path taken for a CPU tensor")

    monkeypatch.setattr(mamba_block, "kernel_class", lambda: fail)
    assert Mamba(8, 4)(torch.randn(1, 5, 8)).shape == (1, 5, 8)


def test_parity_check_says_why_it_skips_without_cuda_or_mamba_ssm():
    if torch.cuda.is_available() and mamba_block.kernel_class() is not None:
        pytest.skip("a GPU with mamba-ssm is here: the check runs instead")
    result = parity_check()
    assert result["check"] == "mamba_parity" and "not available" in result["skipped"]
