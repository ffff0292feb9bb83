"""Optimiser and learning-rate schedule from a `TrainConfig`."""

from __future__ import annotations

import math

import torch
from torch import nn

from advlab.train.config import TrainConfig


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum or Adam over the model's trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Multiplier of the base learning rate after `step` of `total_steps` optimiser steps:
    the schedule, times a linear warm-up over the first ``cfg.warmup_steps`` steps (Goyal et
    al. 2017, Sec. 2.2: from lr / warmup_steps up to lr), which keeps a high base rate from
    blowing up an untrained network in its first batches."""
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    return warm * _schedule_factor(cfg, step, total_steps)


def _schedule_factor(cfg: TrainConfig, step: int, total_steps: int) -> float:
    if cfg.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
    if cfg.schedule == "step":
        return 0.1 ** sum(step >= total_steps * f for f in (0.5, 0.75))
    return 1.0


def set_lr(optimizer: torch.optim.Optimizer, cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Set every group's lr for `step` (a pure function of the step, so resume needs no
    scheduler state) and return it."""
    lr = cfg.lr * lr_factor(cfg, step, total_steps)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
