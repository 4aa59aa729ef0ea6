"""The forecaster's Hydra config composed with overrides and checked: conf/forecast/config.yaml,
with the network sizes from conf/model/forecaster.yaml."""

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from marl_alloc.floor.errors import UserError
from marl_alloc.forecasting.model import PATHWAYS

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
CONFIG_NAME = "forecast/config"
ABLATIONS = {"lstm_only": ("lstm",), "mamba_only": ("mamba",)}

_POSITIVE = {
    "data": ("window", "horizon", "resolution_s"),
    "groups": ("leaf_groups",),
    "model": (
        "lstm_hidden",
        "lstm_layers",
        "d_model",
        "d_state",
        "d_conv",
        "expand",
        "mamba_layers",
        "fusion_dim",
        "head_hidden",
    ),
    "train": ("batch_size", "lr", "max_epochs", "patience", "samples_per_epoch", "ensemble"),
    "evaluate": ("moving_average_steps", "eval_batch_size", "plot_steps"),
}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def load_config(overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The composed config as a plain dict; a bad override or value is a one-line UserError."""
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = compose(config_name=CONFIG_NAME, overrides=list(overrides))
        settings = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException) as err:
        first_line = str(err).strip().splitlines()[0]
        raise UserError(f"bad config override: {first_line}") from None
    for section, keys in _POSITIVE.items():
        for key in keys:
            value = settings[section][key]
            _check(
                isinstance(value, int | float) and value > 0,
                f"{section}.{key} must be a number > 0, got {value!r}",
            )
    data = settings["data"]
    for key in ("train_fraction", "test_fraction"):
        _check(0 < data[key] < 1, f"data.{key} must be in (0, 1), got {data[key]}")
    _check(0 < data["val_fraction"] < 1, "data.val_fraction must be in (0, 1)")
    seasons = data["seasons_s"]
    _check(
        bool(seasons) and all(isinstance(s, int | float) and s > 0 for s in seasons),
        f"data.seasons_s must be a non-empty list of seconds > 0, got {seasons}",
    )
    level_steps = settings["model"]["level_steps"]
    _check(
        isinstance(level_steps, int) and 0 <= level_steps <= data["window"],
        f"model.level_steps must be an integer in [0, data.window], got {level_steps!r}",
    )
    pathways = settings["model"]["pathways"]
    _check(
        bool(pathways) and set(pathways) <= set(PATHWAYS),
        f"model.pathways must be a non-empty subset of {list(PATHWAYS)}, got {pathways}",
    )
    unknown = set(settings["train"]["ablations"]) - set(ABLATIONS)
    _check(not unknown, f"train.ablations: unknown {sorted(unknown)} (choose {list(ABLATIONS)})")
    return settings
