"""Train a forecaster on a series' training windows: L1 loss, AdamW, early stopping."""

import copy
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from marl_alloc.floor.settings.forecast import ForecastTrainConfig
from marl_alloc.forecasting.model import ForecastNet
from marl_alloc.forecasting.series import DemandSeries, WindowBatches


def normalization_stats(series: DemandSeries, end: int) -> tuple[Tensor, Tensor]:
    """Per-feature mean and std over rows [0, end) of all groups (the rows training sees)."""
    rows = torch.from_numpy(series.values[:end].reshape(-1, series.values.shape[-1])).double()
    return rows.mean(0).float(), rows.std(0).float()


@torch.no_grad()
def _mean_abs(net: torch.nn.Module, data: WindowBatches, batch_size: int, error) -> float:
    # error(x, y) -> the absolute errors of one batch, summed here over windows, steps, targets.
    net.eval()
    total = 0.0
    for index in torch.arange(len(data)).split(batch_size):
        total += float(error(*data.batch(index)).sum())
    return total / (len(data) * data.future.numel() * len(data.targets))


def mean_loss(net: torch.nn.Module, data: WindowBatches, batch_size: int) -> float:
    """Mean L1 loss in normalized units over all windows of `data`."""
    return _mean_abs(
        net,
        data,
        batch_size,
        lambda x, y: (net.forward_normalized(x) - net.normalize_targets(y)).abs(),
    )


def mean_abs_error(net: torch.nn.Module, data: WindowBatches, batch_size: int) -> float:
    """MAE in data units over all windows, steps and targets of `data` (what evaluate scores)."""
    return _mean_abs(net, data, batch_size, lambda x, y: (net(x) - y).abs())


@dataclass
class TrainResult:
    """What a training run did: best validation loss, epochs run, wall time, per-epoch losses."""

    best_val_loss: float
    best_epoch: int
    epochs: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def train(
    net: ForecastNet,
    train_data: WindowBatches,
    val_data: WindowBatches,
    cfg: ForecastTrainConfig,
    seed: int,
    label: str = "",
    progress: bool = True,
) -> TrainResult:
    """Fit `net` in place, keeping the weights of the best validation epoch (early stopping)."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # Validation and the kept weights use an exponential moving average of the weights: on noisy
    # series the raw weights jitter from step to step and early stopping would pick the jitter.
    averaged = (
        AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        if cfg.ema_decay > 0
        else None
    )
    scored = net if averaged is None else averaged.module
    per_epoch = min(len(train_data), cfg.samples_per_epoch)
    best = (float("inf"), 0, copy.deepcopy(net.state_dict()))
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    bar = tqdm(total=cfg.max_epochs, desc=label, unit="epoch", disable=not progress, leave=True)
    for epoch in range(1, cfg.max_epochs + 1):
        net.train()
        order = torch.randperm(len(train_data), generator=generator)[:per_epoch]
        train_loss = 0.0
        for index in order.split(cfg.batch_size):
            x, y = train_data.batch(index)
            loss = (net.forward_normalized(x) - net.normalize_targets(y)).abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            optimizer.step()
            if averaged is not None:
                averaged.update_parameters(net)
            train_loss += loss.item() * len(index)
        val_loss = mean_loss(scored, val_data, cfg.batch_size * 8)
        history.append({"epoch": epoch, "train_loss": train_loss / per_epoch, "val_loss": val_loss})
        if val_loss < best[0]:
            best = (val_loss, epoch, copy.deepcopy(scored.state_dict()))
        bar.set_postfix(train=f"{train_loss / per_epoch:.4f}", val=f"{val_loss:.4f}", best=best[1])
        bar.update()
        if epoch - best[1] >= cfg.patience:
            break
    bar.close()
    net.load_state_dict(best[2])
    net.eval()
    return TrainResult(best[0], best[1], len(history), time.perf_counter() - started, history)
