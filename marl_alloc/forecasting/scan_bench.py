"""`python -m marl_alloc.bench forecast-scan [--json]`: our chunked selective scan against the
plain per-step autograd loop (mamba-ssm's selective_scan_ref), forward and forward+backward, and
against a two-level time-parallel scan (forward), the design it was chosen over."""

import json
import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from marl_alloc.floor.command_line import CommandParser
from marl_alloc.forecasting.mamba_scan import selective_scan, selective_scan_reference


def scan_inputs(
    batch: int, length: int, channels: int, states: int, seed: int = 0, grad: bool = False
) -> list[torch.Tensor]:
    """Random u, delta, A, B, C shaped as Mamba's scan sees them (delta > 0, A < 0)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, length, channels, generator=g)
    delta = F.softplus(torch.randn(batch, length, channels, generator=g) - 2)
    A = -torch.exp(torch.randn(channels, states, generator=g))
    B = torch.randn(batch, length, states, generator=g)
    C = torch.randn(batch, length, states, generator=g)
    return [t.requires_grad_(grad) for t in (u, delta, A, B, C)]


def two_level_scan(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor
) -> torch.Tensor:
    """The scan time-parallel in two levels (forward only): chunks of ~sqrt(L) steps scanned
    side by side, then each chunk's carry-in added through the chunk's cumulative decay."""
    batch, length, channels = u.shape
    chunk = max(1, math.isqrt(length))
    chunks = -(-length // chunk)
    padded = chunks * chunk
    # Padding steps decay by exp(0) = 1 and add 0, so they leave the states unchanged.
    decay = u.new_zeros(batch, padded, channels, A.shape[1])
    h = torch.zeros_like(decay)
    torch.exp(delta.unsqueeze(-1) * A, out=decay[:, :length])
    torch.mul((delta * u).unsqueeze(-1), B.unsqueeze(2), out=h[:, :length])
    shape = (batch, chunks, chunk, channels, A.shape[1])
    a, s = decay.view(shape), h.view(shape)
    for t in range(1, chunk):  # all chunks at once, each from a zero state
        s[:, :, t].addcmul_(a[:, :, t], s[:, :, t - 1])
    if chunks > 1:
        carry = torch.cumprod(a, dim=2)
        for k in range(1, chunks):  # the true last state of each chunk, in order
            s[:, k, -1].addcmul_(carry[:, k, -1], s[:, k - 1, -1])
        s[:, 1:, :-1].addcmul_(carry[:, 1:, :-1], s[:, :-1, -1:])
    return torch.matmul(h[:, :length], C.unsqueeze(-1)).squeeze(-1)


def time_scan(scan: Callable, inputs: list[torch.Tensor], backward: bool, repeats: int) -> float:
    """Best-of-`repeats` seconds of a call (and its backward): best-of resists noisy neighbours."""
    best = float("inf")
    for _ in range(repeats + 1):  # the first call warms up allocator and caches
        start = time.perf_counter()
        with torch.set_grad_enabled(backward):
            y = scan(*inputs)
            if backward:
                y.sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def run(batch: int, length: int, channels: int, states: int, repeats: int) -> list[dict]:
    """One row per (pass, implementation): milliseconds and the speed-up over the loop."""
    rows = []
    for backward in (False, True):
        inputs = scan_inputs(batch, length, channels, states, grad=backward)
        loop_s = time_scan(selective_scan_reference, inputs, backward, repeats)
        ours_s = time_scan(selective_scan, inputs, backward, repeats)
        two_level_s = None if backward else time_scan(two_level_scan, inputs, False, repeats)
        rows.append(
            {
                "bench": "selective_scan",
                "pass": "forward+backward" if backward else "forward",
                "batch": batch,
                "length": length,
                "d_inner": channels,
                "d_state": states,
                "threads": torch.get_num_threads(),
                "per_step_loop_ms": round(loop_s * 1e3, 2),
                "chunked_ms": round(ours_s * 1e3, 2),
                "speedup": round(loop_s / ours_s, 2),
                "two_level_ms": None if two_level_s is None else round(two_level_s * 1e3, 2),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print one line per measurement (JSON with --json)."""
    parser = CommandParser(prog="python -m marl_alloc.bench forecast-scan")
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 13])
    parser.add_argument("--length", type=int, default=48)
    parser.add_argument("--d-inner", type=int, default=128)
    parser.add_argument("--d-state", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    for batch in args.batch:
        for row in run(batch, args.length, args.d_inner, args.d_state, args.repeats):
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                two_level = row["two_level_ms"]
                print(
                    f"batch {batch:>4} {row['pass']:<17} loop {row['per_step_loop_ms']:>9.2f} ms"
                    f"  chunked {row['chunked_ms']:>8.2f} ms  x{row['speedup']}"
                    + ("" if two_level is None else f"  two-level {two_level:.2f} ms"),
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
