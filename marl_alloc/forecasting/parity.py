"""`python -m marl_alloc.forecasting.parity [--json]`: mamba-ssm's CUDA Mamba against our PyTorch
scan with identical weights: max abs difference of outputs and input gradients, and timings.
Without CUDA or mamba-ssm it prints one line saying the check was skipped."""

import json
import time
from collections.abc import Callable
from typing import Any

import torch

from marl_alloc.floor.command_line import CommandParser
from marl_alloc.forecasting.mamba_block import Mamba, kernel_class


def _timed(fn: Callable[[], torch.Tensor], repeats: int) -> float:
    # Best of `repeats` after a warm-up, each synchronized so GPU work is inside the clock.
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def _forward_backward(module: Callable, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_(True)
    y = module(x)
    y.square().mean().backward()
    return y.detach(), x.grad


def parity_check(
    batch: int = 8,
    length: int = 256,
    d_model: int = 64,
    d_state: int = 64,
    d_conv: int = 4,
    expand: int = 2,
    seed: int = 0,
    repeats: int = 10,
) -> dict[str, Any]:
    """Compare the two implementations on one random input; a dict with `skipped` if impossible."""
    kernel_cls = kernel_class()
    if not torch.cuda.is_available() or kernel_cls is None:
        missing = "CUDA" if not torch.cuda.is_available() else "mamba-ssm (pip install .[gpu])"
        return {"check": "mamba_parity", "skipped": f"{missing} not available"}
    torch.manual_seed(seed)
    ours = Mamba(d_model, d_state, d_conv, expand).cuda()
    kernel = kernel_cls(d_model=d_model, d_state=d_state, d_conv=d_conv, expand=expand).cuda()
    kernel.load_state_dict(ours.state_dict())  # strict: same names and shapes, or it raises
    x = torch.randn(batch, length, d_model, device="cuda")
    y_kernel, gx_kernel = _forward_backward(kernel, x)
    y_torch, gx_torch = _forward_backward(ours.torch_forward, x)
    y_cpu, gx_cpu = _forward_backward(ours.cpu().torch_forward, x.cpu())
    ours.cuda()
    y_dispatch = ours(x).detach()
    return {
        "check": "mamba_parity",
        "device": torch.cuda.get_device_name(),
        "shape": [batch, length, d_model],
        "d_state": d_state,
        "output_scale": float(y_kernel.abs().max()),
        "max_abs_diff_output_torch_gpu": float((y_kernel - y_torch).abs().max()),
        "max_abs_diff_output_torch_cpu": float((y_kernel.cpu() - y_cpu).abs().max()),
        "max_abs_diff_input_grad_torch_gpu": float((gx_kernel - gx_torch).abs().max()),
        "max_abs_diff_input_grad_torch_cpu": float((gx_kernel.cpu() - gx_cpu).abs().max()),
        "max_abs_diff_output_dispatch": float((y_kernel - y_dispatch).abs().max()),
        "kernel_forward_ms": 1e3 * _timed(lambda: kernel(x), repeats),
        "torch_forward_ms": 1e3 * _timed(lambda: ours.torch_forward(x), repeats),
        "kernel_fwd_bwd_ms": 1e3 * _timed(lambda: _forward_backward(kernel, x), repeats),
        "torch_fwd_bwd_ms": 1e3 * _timed(lambda: _forward_backward(ours.torch_forward, x), repeats),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the check and print its result (one JSON line with --json)."""
    parser = CommandParser(prog="python -m marl_alloc.forecasting.parity")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    result = parity_check(batch=args.batch, length=args.length)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
