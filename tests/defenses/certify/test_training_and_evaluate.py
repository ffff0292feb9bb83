"""Certified training through advlab.train.fit (RobustBatchLoss, eps ramp) and the Table 1
evaluation (certify_model / certify_command)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from advlab.commands.certify import certify_command
from advlab.defenses.certify.evaluate import certify_model, certify_samples
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


def _briefly_trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """small_conv_net after 60 Adam steps on 96 images labelled by their brightness."""
    net = small_conv_net(seed=2)
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(96, 1, 12, 12, generator=gen) * torch.rand(96, 1, 1, 1, generator=gen)
    y = (x.mean(dim=(1, 2, 3)) * 6).long().clamp(0, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval().requires_grad_(False), x, y


def test_certified_samples_are_correct_and_survive_attacks(tmp_path: Path) -> None:
    """The certificate is checked against the attacks, sample by sample: a certified sample is
    correctly classified and neither FGSM, the table's PGD nor a stronger PGD (100 steps, 5
    restarts) moves it; so certified accuracy <= 1 - PGD error <= 1 - test error."""
    from advlab.attacks import PGD

    net, x, y = _briefly_trained()
    x, y = x[:24], y[:24].clone()
    y[:4] = (y[:4] + 1) % 3  # four clean mistakes
    eps = 0.05
    outcome = certify_samples(net, x, y, eps, batch_size=10, pgd_steps=10)
    sure = outcome.certified
    assert 5 <= int(sure.sum()) <= 15  # some certified, some not: the checks can bite
    assert not bool((sure & outcome.wrong).any())
    assert not bool((sure & outcome.fgsm_wrong).any()) and not bool((sure & outcome.pgd_wrong).any())
    strong = PGD(eps, steps=100, restarts=5, bounds=(0.0, 1.0))
    fooled = strong(net, x[sure], y[sure], generator=torch.Generator().manual_seed(0)).success
    assert not bool(fooled.any())
    scores = outcome.metrics(eps)
    assert scores["test_error"] == pytest.approx(4 / 24)
    assert scores["robust_error_bound"] == pytest.approx(1 - int(sure.sum()) / 24)
    assert scores["certified_accuracy"] <= 1 - scores["pgd_error"] <= 1 - scores["test_error"]
    assert scores["test_error"] <= scores["fgsm_error"] <= scores["robust_error_bound"]
    assert scores["pgd_error"] <= scores["robust_error_bound"]
    deterministic = ("n", "eps", "test_error", "fgsm_error", "robust_error_bound", "certified_accuracy")
    rebatched = certify_model(net, x, y, eps, batch_size=7, pgd_steps=10)  # PGD starts differ
    assert {k: rebatched[k] for k in deterministic} == {k: scores[k] for k in deterministic}
    progress = _RecordingProgress()
    table, result = certify_command(net, x, y, eps, tmp_path / "cert", batch_size=6, pgd_steps=10,
                                    progress=progress)  # fmt: skip
    assert json.loads((tmp_path / "cert" / "result.json").read_text()) == result
    assert {k: result[k] for k in deterministic} == {k: scores[k] for k in deterministic}
    assert len(table.rows) == 5 and "24 samples" in table.caption
    assert progress.advances == {"certify eps=0.05": [6, 6, 6, 6]}  # one bar, advanced per batch


class _RecordingProgress:
    """A Progress that records how far each task advanced."""

    def __init__(self) -> None:
        self.advances: dict[str, list[int]] = {}

    def task(self, description: str, total: int | None):  # noqa: ARG002
        import contextlib

        steps = self.advances.setdefault(description, [])

        class _Task:
            def advance(self, n: int = 1, **fields: object) -> None:  # noqa: ARG002
                steps.append(n)

        return contextlib.nullcontext(_Task())


def test_certify_model_never_touches_a_train_mode_model(monkeypatch) -> None:
    """BatchNorm and Dropout in train mode: certification runs on an inference view (running
    statistics folded, no dropout), and the caller's module keeps its mode (never toggled),
    parameters and buffers."""
    import copy

    torch.manual_seed(5)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(4 * 6 * 6, 3),
    )  # fmt: skip
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 1.5)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.rand(10, 1, 12, 12, generator=torch.Generator().manual_seed(5))
    y = torch.randint(0, 3, (10,), generator=torch.Generator().manual_seed(6))
    expected = certify_model(copy.deepcopy(net).eval(), x, y, 0.01, pgd_steps=5)
    callers = {id(m) for m in net.modules()}
    toggled: list[str] = []
    original_train = nn.Module.train

    def spy(self: nn.Module, mode: bool = True) -> nn.Module:
        if id(self) in callers:
            toggled.append(f"{type(self).__name__}.train({mode})")
        return original_train(self, mode)

    monkeypatch.setattr(nn.Module, "train", spy)
    scores = certify_model(net, x, y, 0.01, pgd_steps=5)
    assert toggled == []
    assert all(m.training for m in net.modules())
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # same process: bit for bit
    assert scores == expected
