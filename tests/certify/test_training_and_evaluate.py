"""Certified training through advlab.train.fit (RobustBatchLoss, eps ramp) and the Table 1
evaluation (certify_model / certify_command)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from advlab.commands.certify import certify_command
from advlab.defenses.certify.evaluate import certify_model
from advlab.defenses.certify.training import RobustBatchLoss

from .conftest import small_conv_net


def test_eps_ramp_is_linear_then_flat() -> None:
    loss = RobustBatchLoss(0.1, eps_start=0.01, warmup_fraction=0.5)
    assert loss.eps_at(0.0) == pytest.approx(0.01)
    assert loss.eps_at(0.25) == pytest.approx(0.055)
    assert loss.eps_at(0.5) == pytest.approx(0.1) and loss.eps_at(0.9) == pytest.approx(0.1)
    assert RobustBatchLoss(0.1, warmup_fraction=0.0).eps_at(0.0) == 0.1
    with pytest.raises(ValueError, match="eps_start"):
        RobustBatchLoss(0.1, eps_start=0.2)


def test_robust_training_through_fit_lowers_the_robust_loss(tmp_path: Path) -> None:
    from advlab.train import BatchOutput, TrainConfig, fit

    net = small_conv_net(seed=1)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(64, 1, 12, 12, generator=gen)
    y = (x.mean(dim=(1, 2, 3)) * 3).long().clamp(0, 2)  # a learnable labelling
    batch_loss = RobustBatchLoss(0.02, eps_start=0.001, warmup_fraction=0.5)
    out = batch_loss(net, x, y, 0.0)
    assert isinstance(out, BatchOutput) and out.logits.shape == (64, 3)
    assert set(out.metrics) == {"robust_error", "eps"}
    before = float(batch_loss(net, x, y, 1.0).loss.detach())
    cfg = TrainConfig(epochs=4, batch_size=32, optimizer="adam", lr=5e-3)
    fit(net, (x, y), None, cfg, tmp_path / "run", batch_loss=batch_loss)
    after = float(batch_loss(net, x, y, 1.0).loss.detach())
    assert after < before


def test_certify_model_orders_the_table_columns(tmp_path: Path) -> None:
    net = small_conv_net(seed=2).eval()
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(12, 1, 12, 12, generator=gen)
    y = net(x).argmax(1)
    y[:3] = (y[:3] + 1) % 3  # three clean mistakes
    scores = certify_model(net, x, y, 0.02, batch_size=5, pgd_steps=5)
    assert scores["test_error"] == pytest.approx(0.25)
    assert scores["test_error"] <= scores["pgd_error"] <= scores["robust_error_bound"]
    assert scores["robust_error_bound"] + scores["certified_accuracy"] == pytest.approx(1.0)
    table, result = certify_command(net, x, y, 0.02, tmp_path / "cert", batch_size=6)
    assert json.loads((tmp_path / "cert" / "result.json").read_text()) == result
    assert len(table.rows) == 5 and net.training is False
