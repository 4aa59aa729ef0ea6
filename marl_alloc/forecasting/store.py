"""Save and load trained forecasters: one `<name>.pt` per model plus `forecaster.json`."""

import json
from pathlib import Path
from typing import Any

import torch

from marl_alloc.floor.errors import UserError
from marl_alloc.forecasting.ensemble import Forecaster, build_forecaster, member_count
from marl_alloc.forecasting.model import NetConfig

META_FILE = "forecaster.json"
# What evaluate needs from the meta besides the models: a directory without them is stale.
META_KEYS = ("config", "models", "feature_names", "seasonal_lags")


def save_models(out_dir: str | Path, nets: dict[str, Forecaster], meta: dict[str, Any]) -> Path:
    """Write each forecaster's config, member count and state dict, and `meta` (config, data,
    training) as JSON."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, net in nets.items():
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        saved = {"net_config": net.cfg.to_dict(), "members": member_count(net), "state_dict": state}
        torch.save(saved, out / f"{name}.pt")
    (out / META_FILE).write_text(json.dumps({**meta, "models": list(nets)}, indent=2) + "\n")
    return out


def load_net(path: str | Path) -> Forecaster:
    """One saved model (a net or a seed ensemble), on CPU, in eval mode."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    net = build_forecaster(NetConfig.from_dict(saved["net_config"]), saved.get("members", 1))
    net.load_state_dict(saved["state_dict"])
    return net.eval()


def load_models(model_dir: str | Path) -> tuple[dict[str, Forecaster], dict[str, Any]]:
    """All models of a directory written by `save_models`, and its meta."""
    model_dir = Path(model_dir)
    meta_path = model_dir / META_FILE
    if not meta_path.is_file():
        raise UserError(f"{model_dir} holds no {META_FILE}; pass a directory written by train")
    try:
        meta = json.loads(meta_path.read_text())
        missing = [key for key in META_KEYS if key not in meta]
        if missing:
            raise UserError(f"{meta_path} lacks {missing}; retrain with this version")
        nets = {name: load_net(model_dir / f"{name}.pt") for name in meta["models"]}
    except (OSError, KeyError, RuntimeError, TypeError, ValueError) as err:
        raise UserError(f"cannot load the forecaster in {model_dir}: {err}") from None
    return nets, meta
