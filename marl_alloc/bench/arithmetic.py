"""How much of the device's arithmetic the fused update uses: its matmul FLOPs (torch's
FlopCounterMode: mm, addmm, bmm; elementwise work is not counted) per update, the rate it runs
them at on one fixed batch, and a plain large matmul's rate on the same device and threads.

On a CPU both rates are per second of this process's CPU time, so other jobs on the machine
shift them less than the wall clock; on a GPU, per second of wall time after a synchronize.
"""

import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from learners.fused_loss import fused_loss

# Square matmul sizes for the peak: large enough to run at the BLAS / cuBLAS rate.
PEAK_SIZE = {"cpu": 1024, "cuda": 8192}


def update_flops(learner: Any, batch: dict[str, dict[str, torch.Tensor]]) -> int:
    """Matmul FLOPs of one fused update's forward and backward pass on `batch` (eager, as the
    fused path computes it; the optimizer step is elementwise)."""
    modules = {module_id: module.unwrapped() for module_id, module in learner.module.items()}
    training = learner.config.settings.training
    with FlopCounterMode(display=False) as counter:
        out = fused_loss(modules, batch, training.mixer_loss_weight, training.credit_weight)
        out.total.backward()
    return counter.get_total_flops()


def _seconds_per_call(fn: Callable[[], Any], calls: int, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - start) / calls
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def arithmetic_figures(
    learner: Any, batch: dict[str, dict[str, torch.Tensor]], device: str, rounds: int, calls: int
) -> dict[str, Any]:
    """`flops_per_update`, `achieved_gflops` of `learner.fused_update(batch)` and
    `matmul_peak_gflops`, the two timed in `rounds` alternating slices of `calls` calls."""
    flops = update_flops(learner, batch)
    size = PEAK_SIZE[device]
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    matmul_flops = 2 * size**3
    learner.fused_update(batch)
    a @ b
    update_s, matmul_s = [], []
    for _ in range(rounds):
        update_s.append(_seconds_per_call(lambda: learner.fused_update(batch), calls, device))
        matmul_s.append(_seconds_per_call(lambda: a @ b, calls, device))
    achieved = flops / (sum(update_s) / rounds) / 1e9
    peak = matmul_flops / (sum(matmul_s) / rounds) / 1e9
    return {
        "flops_per_update": flops,
        "achieved_gflops": achieved,
        "matmul_peak_gflops": peak,
        "peak_fraction": achieved / peak,
        "time_basis": "wall" if device == "cuda" else "process_cpu",
    }
