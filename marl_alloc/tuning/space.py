"""The PBT search space: `tune.space` in the config, a tree that mirrors the config tree.

Each leaf names a config key and how to draw it, e.g. under `tune.space`:

    training:
      lr_leaf: {distribution: loguniform, low: 1.0e-4, high: 3.0e-3}
      n_step: {distribution: choice, values: [1, 3, 5]}
    replay:
      alpha: {distribution: uniform, low: 0.3, high: 1.0}

`loguniform` / `uniform` values are perturbed by PBT's factors and clipped back into
[low, high]; `choice` values move to a neighbouring entry. Either is resampled with PBT's
resample probability.
"""

import copy
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import Settings

DISTRIBUTIONS = ("loguniform", "uniform", "choice")


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """One searched config key (`path`, e.g. ("replay", "alpha")) and its distribution."""

    path: tuple[str, ...]
    distribution: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()

    @property
    def key(self) -> str:
        """The dotted config key, as in a Hydra override."""
        return ".".join(self.path)

    def domain(self) -> Any:
        """The Ray Tune domain that draws the initial value."""
        from ray import tune

        if self.distribution == "loguniform":
            return tune.loguniform(self.low, self.high)
        if self.distribution == "uniform":
            return tune.uniform(self.low, self.high)
        return tune.choice(list(self.values))

    def mutation(self) -> Any:
        """What PBT's explore step resamples from (a list shifts to a neighbour instead)."""
        return list(self.values) if self.distribution == "choice" else self.domain()

    def clip(self, value: Any) -> Any:
        """The value brought back into [low, high] after PBT multiplied it by a factor."""
        if self.distribution == "choice":
            return value
        return min(max(float(value), self.low), self.high)


def parse_space(space: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[Hyperparameter]:
    """The hyperparameters of a `tune.space` tree; a malformed leaf is a UserError."""
    params = []
    for name, node in space.items():
        path = (*prefix, str(name))
        if not isinstance(node, Mapping):
            raise UserError(f"tune.space.{'.'.join(path)}: expected {{distribution: ...}}")
        if "distribution" in node:
            params.append(_leaf(path, node))
        else:
            params += parse_space(node, path)
    if not prefix and not params:
        raise UserError("tune.space is empty: name at least one config key to search")
    return params


def _leaf(path: tuple[str, ...], node: Mapping[str, Any]) -> Hyperparameter:
    where = "tune.space." + ".".join(path)
    kind = node["distribution"]
    if kind not in DISTRIBUTIONS:
        raise UserError(f"{where}: distribution must be one of {', '.join(DISTRIBUTIONS)}")
    if kind == "choice":
        values = tuple(node.get("values") or ())
        if not values:
            raise UserError(f"{where}: choice needs a non-empty `values` list")
        return Hyperparameter(path, kind, values=values)
    try:
        low, high = float(node["low"]), float(node["high"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{where}: {kind} needs numbers `low` and `high`") from None
    if not low < high or not (math.isfinite(low) and math.isfinite(high)):
        raise UserError(f"{where}: needs finite low < high, got {low}, {high}")
    if kind == "loguniform" and low <= 0:
        raise UserError(f"{where}: loguniform needs low > 0, got {low}")
    return Hyperparameter(path, kind, low=low, high=high)


def check_keys_exist(params: list[Hyperparameter], settings: Settings) -> None:
    """Every searched key must be a setting (a typo must not tune nothing)."""
    for param in params:
        node: Any = settings
        for part in param.path:
            known = {f.name for f in dataclasses.fields(node)} if _is_settings(node) else ()
            if part not in known:
                raise UserError(
                    f"tune.space searches {param.key}, which is not a config key"
                    f" (remove it with ~tune.space.{param.key})"
                )
            node = getattr(node, part)


def _is_settings(node: Any) -> bool:
    return dataclasses.is_dataclass(node) and not isinstance(node, type)


def _nested(params: list[Hyperparameter], leaf) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for param in params:
        node = tree
        for part in param.path[:-1]:
            node = node.setdefault(part, {})
        node[param.path[-1]] = leaf(param)
    return tree


def param_space(params: list[Hyperparameter]) -> dict[str, Any]:
    """Tune's param_space: the searched keys as a nested dict of domains."""
    return _nested(params, Hyperparameter.domain)


def hyperparam_mutations(params: list[Hyperparameter]) -> dict[str, Any]:
    """PBT's hyperparam_mutations, nested like param_space."""
    return _nested(params, Hyperparameter.mutation)


def flatten(params: list[Hyperparameter], config: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's nested hyperparameter config as {dotted key: value}."""
    out = {}
    for param in params:
        node: Any = config
        for part in param.path:
            node = node[part]
        out[param.key] = node
    return out


def clip_config(params: list[Hyperparameter], config: dict[str, Any]) -> dict[str, Any]:
    """The explored config with every value back inside its declared range."""
    config = copy.deepcopy(config)
    for param in params:
        node = config
        for part in param.path[:-1]:
            node = node[part]
        node[param.path[-1]] = param.clip(node[param.path[-1]])
    return config
