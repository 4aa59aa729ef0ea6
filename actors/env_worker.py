"""EnvWorker: steps a batch of datacenters with a local policy copy and feeds replay.

The loop it takes part in (Ape-X actor):

    worker.set_weights(learner.get_weights())  # every few seconds
    stats = worker.collect(num_cycles)        # act, build n-step transitions, push to replay
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

from actors.adder import (
    ACTING_ATTENTION,
    ACTING_COLUMNS,
    ACTING_Q,
    BEST_Q,
    NEXT_BEST_Q,
    NStepAdder,
)
from envs import VectorDatacenterEnv
from marl_alloc.floor import columns as C
from marl_alloc.policy.forecast_feed import ForecastFeed
from marl_alloc.policy.forecaster import FORECASTER_ID
from marl_alloc.policy.level_q_module import ACTION_ATTENTION, Q_VALUES, double_q_next_value
from marl_alloc.policy.team_values import level_part, mix_team_values, taken

ReplaySink = Callable[[dict[str, dict[str, np.ndarray]]], Any]


def apex_epsilon(actor_index: int, num_actors: int, base: float, alpha: float) -> float:
    """Ape-X per-actor exploration: eps_i = base ** (1 + alpha * i / (N - 1))."""
    if num_actors <= 1:
        return base
    return float(base ** (1.0 + alpha * actor_index / (num_actors - 1)))


class EnvWorker:
    """Acts in `num_envs` lockstep datacenters and writes prioritized n-step transitions."""

    def __init__(
        self,
        env_config: Mapping,
        module_spec: MultiRLModuleSpec,
        sink: ReplaySink,
        *,
        num_envs: int,
        seed: int,
        epsilon: float,
        n_step: int,
        gamma: float,
    ):
        torch.set_num_threads(1)
        self.env = VectorDatacenterEnv(env_config, num_envs=num_envs, seed=seed, continuing=True)
        self.module = module_spec.build()
        self.module.foreach_module(lambda _, m: m.eval())
        self.sink = sink
        self.epsilon = epsilon
        # With a mixer in the policy, the adder also writes per-cycle team transitions.
        self.team = C.TEAM in module_spec.rl_module_specs
        self.adder = NStepAdder(
            num_envs,
            self.env.obs_dims,
            self.env.num_actions,
            n_step=n_step,
            gamma=gamma,
            team=self.team,
            acting_values=True,
        )
        self.level_obs = self.env.reset(seed=seed)
        # With a forecaster in the policy, its forecasts fill the observations' forecast slots
        # and its training rows go to replay beside the transitions.
        self.feed = None
        if FORECASTER_ID in module_spec.rl_module_specs:
            self.feed = ForecastFeed(self.module[FORECASTER_ID], collect_rows=True)
            self.feed.attach(self.env)
        self.weights_version = -1
        self.env_steps = 0

    def set_weights(self, weights_and_version: tuple[Mapping, int]) -> None:
        """Load the learner's latest inference weights (as `LearnerWorker.get_weights` gives)."""
        weights, self.weights_version = weights_and_version
        self.module.set_state(weights)

    def collect(self, num_cycles: int) -> dict[str, float]:
        """Run `num_cycles` decision cycles in every env, push transitions, return stats."""
        self.env.reset_metrics()
        steps = 0
        rewards = []
        with torch.no_grad():
            for _ in range(num_cycles * len(self.env.LEVELS)):
                lo = self.level_obs
                actions, acting = self._act(lo.level, lo.obs, lo.action_mask)
                self.adder.add_decisions(
                    lo.level, lo.active, lo.obs, lo.action_mask, actions, lo.agent_index, acting
                )
                steps += int(lo.active.sum())
                result = self.env.step(actions)
                if result.cycle_end:
                    if result.done.any():
                        raise RuntimeError("training envs are continuing; a finite workload ended")
                    self.adder.end_cycle(result.reward, result.done)
                    rewards.append(result.reward)
                self.level_obs = result.next
                # Bins close as a cycle's end advances time: the next cycle sees their forecast.
                if result.cycle_end and self.feed is not None and self.feed.update(self.env):
                    self.level_obs = self.env.observe()
            transitions = self._with_priorities(self.adder.take())
            forecaster_rows = self.feed.take_rows() if self.feed is not None else None
            if forecaster_rows is not None:
                transitions[FORECASTER_ID] = forecaster_rows
        self.sink(transitions)
        self.env_steps += steps
        metrics = self.env.metrics()
        return {
            "env_steps": steps,
            "transitions": sum(len(b[C.TD_ABS]) for b in transitions.values()),
            "reward_mean": float(np.mean(rewards)) if rewards else 0.0,
            "sla_violation_rate": float(np.mean(metrics["sla_violation_rate"])),
            "energy_kwh": float(np.sum(metrics["energy_kwh"])),
            "tasks_rejected": float(np.sum(metrics["tasks_rejected"])),
            "weights_version": self.weights_version,
        }

    def _act(self, level: str, obs: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict]:
        """Epsilon-greedy actions, and what the pass knew of them for the initial priority."""
        mask_t = torch.from_numpy(mask)
        batch = {C.OBS: torch.from_numpy(obs), C.ACTION_MASK: mask_t}
        out = self.module[level].forward_exploration(batch, epsilon=self.epsilon, attention=True)
        actions = out[C.ACTIONS]
        acting = {
            ACTING_Q: taken(out[Q_VALUES], actions),
            ACTING_ATTENTION: taken(out[ACTION_ATTENTION], actions),
            BEST_Q: double_q_next_value(out[Q_VALUES], mask_t),
        }
        return actions.numpy(), {name: value.numpy() for name, value in acting.items()}

    def _with_priorities(self, batches: dict[str, dict[str, np.ndarray]]) -> dict:
        """Initial |td| and attention, as Ape-X actors compute them with their policy copy, from
        the values the acting passes kept (no second pass); those columns then leave the batch."""
        for level, batch in batches.items():
            if level == C.TEAM:
                self._team_priorities(batch)
                continue
            target = batch[C.REWARDS] + batch[C.DISCOUNTS] * batch.pop(NEXT_BEST_Q)
            batch[C.TD_ABS] = np.abs(target - batch.pop(ACTING_Q)).astype(np.float32)
            batch[C.ATTENTION] = batch.pop(ACTING_ATTENTION).astype(np.float32)
            batch.pop(BEST_Q)
        return batches

    def _team_priorities(self, batch: dict[str, np.ndarray]) -> None:
        """|td| of Q_tot and the mean attention of the active levels: the levels' acting values
        mixed by the policy copy's mixer."""
        tensors = {k: torch.from_numpy(v) for k, v in batch.items()}
        levels = C.TEAM_LEVELS

        def per_level(column: str) -> list[torch.Tensor]:
            return [level_part(tensors, level, column) for level in levels]

        values = mix_team_values(
            self.module[C.TEAM],
            tensors,
            per_level(ACTING_Q),
            per_level(ACTING_ATTENTION),
            per_level(NEXT_BEST_Q),
            target=False,
        )
        batch[C.TD_ABS] = (values.td_target - values.q_tot).abs().numpy().astype(np.float32)
        batch[C.ATTENTION] = values.attention.numpy().astype(np.float32)
        for level in levels:
            for column in (*ACTING_COLUMNS, NEXT_BEST_Q):
                batch.pop(C.level_column(level, column))
