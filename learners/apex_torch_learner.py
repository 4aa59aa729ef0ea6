"""RLlib TorchLearner for Ape-X: n-step double Q-learning with IS weights; exposes |td| and the
attention on the taken action per item, the two halves of the replay priority.

Two update paths over the same losses (learners/losses.py):
- `fused_update` (the default, `training.learner_path=fused`): one pass of each network over all
  rows that need it (learners/fused_loss.py), one backward, one optimizer step per module. It
  drives this Learner's modules and optimizers directly: RLlib's `Learner.update` converts the
  batch, logs metrics and checks gradients for NaN with a host sync per parameter on every call,
  which cost more than the arithmetic of a small batch. Clipping and NaN handling match RLlib's
  defaults (per-module global-norm clip, non-finite gradients zeroed) without reading the device.
- `update` (RLlib's, `training.learner_path=rllib_update`): `compute_loss_for_module` per module,
  the team loss running the level networks again on the team rows. Kept to compare against.

With a `team` module (the mixer) the team rows get the credit-assignment loss, which trains the
level modules as well as the mixer. A `forecaster` module is no part of either update:
`forecaster_update` is one step of it alone (the L1 loss of `forecast train`, in normalized
units, its own optimizer), on the cadence of learners/forecaster_stream.py.
"""

import contextlib
from typing import Any, NamedTuple

import numpy as np
import torch
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.learner.utils import update_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI

from learners.fused_loss import fused_loss
from learners.losses import forecast_loss, q_loss, team_loss
from marl_alloc.floor import columns as C
from marl_alloc.policy.forecaster import FORECASTER_ID, warm_start
from marl_alloc.policy.level_q_module import (
    ACTION_ATTENTION,
    NEXT_Q_VALUES,
    Q_VALUES,
    double_q_next_value,
)
from marl_alloc.policy.team_values import taken, team_values

# Gradient norms are read with these in place of inf, as RLlib's clip does.
_NORM_LIMIT = 10e8


class UpdateResult(NamedTuple):
    """One fused update's outputs, still on the device."""

    losses: dict[str, torch.Tensor]  # per module, scalar
    credit: dict[str, torch.Tensor]  # team_loss, credit_variance (with team rows)
    priorities: torch.Tensor  # [2, rows]: |td| then attention, modules in `rows` order
    rows: dict[str, int]


def clip_global_norm_(grads: list[torch.Tensor], max_norm: float) -> None:
    """RLlib's global-norm clip in place, without a host sync: scale by
    min(1, max_norm / max(norm + 1e-6, max_norm)), norms with inf read as 1e9."""
    norms = torch.stack(torch._foreach_norm(grads)).nan_to_num(
        neginf=-_NORM_LIMIT, posinf=_NORM_LIMIT
    )
    total = torch.linalg.vector_norm(norms).nan_to_num(neginf=-_NORM_LIMIT, posinf=_NORM_LIMIT)
    coefficient = (max_norm / torch.clamp(total + 1e-6, min=max_norm)).clamp(max=1.0)
    torch._foreach_mul_(grads, coefficient)


class ApexTorchLearner(TorchLearner):
    """Double-Q loss over replayed n-step transitions; target nets synced every K updates."""

    def build(self) -> None:
        """Build modules, then their target networks, then the fused update's loss function."""
        super().build()
        self.module.foreach_module(
            lambda mid, mod: (
                mod.make_target_networks() if isinstance(mod, TargetNetworkAPI) else None
            )
        )
        self.num_gradient_updates = 0
        # The previous path's outputs of its last update, as numpy / floats.
        self.last_td_abs: dict[str, np.ndarray] = {}
        self.last_attention: dict[str, np.ndarray] = {}
        self.last_loss: dict[str, float] = {}
        self.last_credit: dict[str, float] = {}
        self.training = self.config.settings.training
        init = self.config.settings.model.forecaster.init
        if init and FORECASTER_ID in self.module:
            warm_start(self.module[FORECASTER_ID].unwrapped(), init)
        self._loss_fn = self._make_loss_fn()
        self._grad_clips: dict[str, float | None] = {}
        self.policy_ids = [mid for mid, _ in self.module.items() if mid != FORECASTER_ID]

    def _make_loss_fn(self):
        if not self.training.compile and not self.training.cuda_graphs:
            return fused_loss
        if self.training.cuda_graphs and self._device.type == "cuda":
            # Inductor's CUDA graph trees: static shapes replay one captured graph per step.
            return torch.compile(fused_loss, mode="reduce-overhead", dynamic=False)
        if self.training.compile:
            return torch.compile(fused_loss, dynamic=False)
        return fused_loss  # cuda_graphs alone on a CPU learner: nothing to capture

    def _autocast(self):
        if self.training.precision == "bf16":
            return torch.autocast(device_type=self._device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        """Adam per module at the module's learning rate, as RLlib's, but stepping each module
        in one fused kernel (a third of the per-parameter loop's time at our sizes); none for a
        module without parameters (the VDN mixer)."""
        params = self.get_parameters(self._module[module_id])
        if params:
            self.register_optimizer(
                module_id=module_id,
                optimizer=torch.optim.Adam(params, fused=True),
                params=params,
                lr_or_lr_schedule=config.lr,
            )

    def _set_optimizer_state(self, state: dict[str, Any]) -> None:
        """Load optimizer buffers, keeping this learner's configured learning rates: a loaded
        state carries the saver's lr, and the fused update never runs RLlib's lr scheduler."""
        super()._set_optimizer_state(state)
        for optimizer, schedule in self._optimizer_lr_schedules.items():
            self._set_optimizer_lr(optimizer, lr=float(schedule.get_current_value()))

    def fused_update(self, batch: dict[str, dict[str, torch.Tensor]]) -> UpdateResult:
        """One gradient step of every policy module on `batch` (module id -> device tensors;
        replay indices removed): one forward pass, one backward, each module's optimizer
        stepped."""
        modules = {mid: self.module[mid].unwrapped() for mid in self.policy_ids}
        self._zero_grad(self.policy_ids)
        with self._autocast():
            out = self._loss_fn(
                modules, batch, self.training.mixer_loss_weight, self.training.credit_weight
            )
        out.total.backward()
        self._clip_and_step(self.policy_ids)
        self._count_update()
        order = list(out.td_abs)
        priorities = torch.stack(
            [
                torch.cat([out.td_abs[m].float() for m in order]),
                torch.cat([out.attention[m].float() for m in order]),
            ]
        )
        rows = {m: len(out.td_abs[m]) for m in order}
        return UpdateResult(out.losses, out.credit, priorities, rows)

    def forecaster_update(self, rows: dict[str, torch.Tensor]) -> torch.Tensor:
        """One gradient step of the forecaster alone on `rows` (device tensors: OBS windows and
        their FORECAST_TARGETS); its L1 loss, detached, still on the device."""
        net = self.module[FORECASTER_ID].unwrapped().net
        self._zero_grad([FORECASTER_ID])
        with self._autocast():
            loss = forecast_loss(net, rows, net.forward_normalized(rows[C.OBS]))
        loss.backward()
        self._clip_and_step([FORECASTER_ID])
        return loss.detach()

    def _zero_grad(self, module_ids: list[str]) -> None:
        for module_id in module_ids:
            for _, optimizer in self.get_optimizers_for_module(module_id):
                optimizer.zero_grad(set_to_none=True)

    def _clip_and_step(self, module_ids: list[str]) -> None:
        for module_id in module_ids:
            if module_id not in self._grad_clips:
                # A module with its own settings gets a config copy per call: read it once.
                config = self.config.get_config_for_module(module_id)
                self._grad_clips[module_id] = config.grad_clip
            clip = self._grad_clips[module_id]
            for _, optimizer in self.get_optimizers_for_module(module_id):
                grads = [
                    p.grad
                    for group in optimizer.param_groups
                    for p in group["params"]
                    if p.grad is not None
                ]
                if not grads:
                    continue
                if clip:
                    clip_global_norm_(grads, float(clip))
                for grad in grads:
                    grad.nan_to_num_()
                optimizer.step()

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        """The previous path's per-module loss (RLlib's `update`): a level module's double-Q
        loss on its stream, or the team loss."""
        if module_id == C.TEAM:
            return self._team_loss(batch)
        module = self.module[module_id].unwrapped()
        with torch.no_grad():
            target_q = module.forward_target({C.OBS: batch[C.NEXT_OBS]})[Q_VALUES]
            next_value = double_q_next_value(
                fwd_out[NEXT_Q_VALUES], batch[C.NEXT_ACTION_MASK], target_q
            )
        loss, td_error = q_loss(fwd_out[Q_VALUES], batch, next_value)
        self.last_td_abs[module_id] = td_error.detach().abs().cpu().numpy()
        attention = taken(fwd_out[ACTION_ATTENTION], batch[C.ACTIONS])
        self.last_attention[module_id] = attention.detach().cpu().numpy()
        self.last_loss[module_id] = float(loss.detach())
        self.metrics.log_dict(
            {
                "q_loss": loss.item(),
                "q_mean": taken(fwd_out[Q_VALUES], batch[C.ACTIONS]).mean().item(),
                "td_abs_mean": td_error.abs().mean().item(),
            },
            key=module_id,
            window=1,
        )
        return loss

    def _team_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """The previous path's team loss: the level networks run again on the team rows."""
        levels = {level: self.module[level].unwrapped() for level in C.TEAM_LEVELS}
        values = team_values(levels, self.module[C.TEAM].unwrapped(), batch, target=True)
        parts = team_loss(
            values, batch, self.training.mixer_loss_weight, self.training.credit_weight
        )
        self.last_td_abs[C.TEAM] = parts.td_error.detach().abs().cpu().numpy()
        self.last_attention[C.TEAM] = values.attention.cpu().numpy()
        self.last_loss[C.TEAM] = float(parts.loss.detach())
        self.last_credit = {
            "team_loss": parts.team_loss.item(),
            "credit_variance": parts.credit_variance.item(),
        }
        self.metrics.log_dict(
            {
                **self.last_credit,
                "q_tot_mean": values.q_tot.mean().item(),
                "td_abs_mean": parts.td_error.abs().mean().item(),
            },
            key=C.TEAM,
            window=1,
        )
        return parts.loss

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        """RLlib's bookkeeping, then the target networks' sync (previous path)."""
        super().after_gradient_based_update(timesteps=timesteps)
        self._count_update()

    def _count_update(self) -> None:
        """Sync target networks every `target_update_every` gradient updates."""
        self.num_gradient_updates += 1
        if self.num_gradient_updates % self.training.target_update_every:
            return
        for module in self.module._rl_modules.values():
            if isinstance(module.unwrapped(), TargetNetworkAPI):
                for online, target in module.unwrapped().get_target_network_pairs():
                    update_target_network(main_net=online, target_net=target, tau=self.training.tau)
