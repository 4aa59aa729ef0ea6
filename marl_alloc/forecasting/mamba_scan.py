"""Mamba's selective scan in PyTorch, fast on CPU: cache-sized chunks and a recomputing backward.

The recurrence per channel d and state n is h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t and
y_t = C_t . h_t. A plain autograd loop keeps one [batch, D, N] state per step alive for the
backward and allocates it afresh each step; here the batch is cut into chunks whose
[rows, L, D, N] working set fits in cache, the recurrence runs as one in-place fused multiply-add
per step on a contiguous slice, and the backward recomputes the states chunk by chunk (as the CUDA
kernel does) and runs the adjoint recurrence backwards, so no full-size state tensor is kept.

Everything of size [rows, L, D, N] (exp(delta A), delta u B, the reductions with C) is computed in
whole-chunk ops; only the recurrence itself steps through time, one op per step. A time-parallel
two-level scan (chunks of ~sqrt(L) steps side by side, then carries) was measured as well
(`python -m marl_alloc.bench forecast-scan`): on CPU it was 1.4-5x slower, as its strided
per-step slices and extra passes cost more than the per-step calls they save.
"""

import torch
from torch import Tensor

# Working set per chunk: 2**20 float32 elements (4 MiB) per buffer stays in cache on CPU; on a GPU
# one chunk takes the whole batch.
CPU_CHUNK_ELEMENTS = 1 << 20


def _chunk_rows(batch: int, length: int, channels: int, states: int, device: torch.device) -> int:
    if device.type != "cpu":
        return batch
    return max(1, CPU_CHUNK_ELEMENTS // (length * channels * states))


def _states(delta: Tensor, A: Tensor, u: Tensor, B: Tensor, decay: Tensor, h: Tensor) -> None:
    """Fill `decay` with exp(delta A) and `h` with the scanned states, both [rows, L, D, N]."""
    torch.exp(torch.mul(delta.unsqueeze(-1), A, out=decay), out=decay)
    torch.mul((delta * u).unsqueeze(-1), B.unsqueeze(2), out=h)
    steps, decays = h.unbind(1), decay.unbind(1)
    for t in range(1, len(steps)):
        steps[t].addcmul_(decays[t], steps[t - 1])


class _SelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
        batch, length, channels = u.shape
        rows = _chunk_rows(batch, length, channels, A.shape[1], u.device)
        decay = u.new_empty(rows, length, channels, A.shape[1])
        h = torch.empty_like(decay)
        y = u.new_empty(batch, length, channels)
        for start in range(0, batch, rows):
            end = min(start + rows, batch)
            n = end - start
            _states(delta[start:end], A, u[start:end], B[start:end], decay[:n], h[:n])
            # y_t = h_t C_t as a batched matrix-vector product: no [rows, L, D, N] temporary.
            torch.matmul(h[:n], C[start:end].unsqueeze(-1), out=y[start:end].unsqueeze(-1))
        ctx.save_for_backward(u, delta, A, B, C)
        ctx.rows = rows
        return y

    @staticmethod
    def backward(ctx, grad_y: Tensor) -> tuple[Tensor, ...]:
        u, delta, A, B, C = ctx.saved_tensors
        batch, length, _ = u.shape
        grad_y = grad_y.contiguous()
        decay = u.new_empty(ctx.rows, length, *A.shape)
        h, grad_h = torch.empty_like(decay), torch.empty_like(decay)
        grad_u, grad_delta = torch.empty_like(u), torch.empty_like(delta)
        grad_B, grad_C = torch.empty_like(B), torch.empty_like(C)
        grad_A = torch.zeros_like(A)
        for start in range(0, batch, ctx.rows):
            end = min(start + ctx.rows, batch)
            n = end - start
            a, s, g = decay[:n], h[:n], grad_h[:n]
            delta_c, u_c, B_c, gy = delta[start:end], u[start:end], B[start:end], grad_y[start:end]
            _states(delta_c, A, u_c, B_c, a, s)
            # Adjoint: dL/dh_t = C_t gy_t + exp(delta_{t+1} A) dL/dh_{t+1}.
            torch.mul(gy.unsqueeze(-1), C[start:end].unsqueeze(2), out=g)
            adjoints, decays = g.unbind(1), a.unbind(1)
            for t in range(length - 2, -1, -1):
                adjoints[t].addcmul_(decays[t + 1], adjoints[t + 1])
            torch.matmul(gy.unsqueeze(2), s, out=grad_C[start:end].unsqueeze(2))
            g_dot_B = torch.matmul(g, B_c.unsqueeze(-1)).squeeze(-1)
            grad_u[start:end] = g_dot_B * delta_c
            torch.matmul((delta_c * u_c).unsqueeze(2), g, out=grad_B[start:end].unsqueeze(2))
            # dL/d(delta A)_t = dL/dh_t * exp(delta_t A) * h_{t-1}, built in place in `a`.
            a[:, 1:].mul_(s[:, :-1])
            a[:, 0].zero_()
            a.mul_(g)
            grad_delta[start:end] = g_dot_B * u_c + (a * A).sum(-1)
            grad_A += (a * delta_c.unsqueeze(-1)).sum((0, 1))
        return grad_u, grad_delta, grad_A, grad_B, grad_C


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """y [batch, L, D] of the selective scan; u, delta [batch, L, D], A [D, N], B, C [batch, L, N].

    `delta` is already positive (softplus applied); the D skip and the z gate are the caller's.
    """
    return _SelectiveScan.apply(
        u.contiguous(), delta.contiguous(), A.contiguous(), B.contiguous(), C.contiguous()
    )


def selective_scan_reference(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
    """The same scan as a plain per-step autograd loop (mamba-ssm's selective_scan_ref)."""
    h = u.new_zeros(u.shape[0], u.shape[2], A.shape[1])
    ys = []
    for t in range(u.shape[1]):
        decay = torch.exp(delta[:, t, :, None] * A)
        h = decay * h + (delta[:, t] * u[:, t])[:, :, None] * B[:, t, None, :]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, t]))
    return torch.stack(ys, dim=1)
