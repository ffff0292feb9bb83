"""Expectation over transformation: one batched forward gives the mean per-transformation loss
and the mean of the per-transformation gradients (not the gradient of averaged logits)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks import EOT, FGSM, PGD, DeepFool, ExpectationModel
from advlab.transforms import TransformDistribution

from .helpers import assert_fgsm_signs_agree

DIST = TransformDistribution(rotation=(-15, 15), translation=(-1, 1), brightness=(-0.1, 0.1), noise=(0, 0.05))


def _draw(model: nn.Module, x: torch.Tensor, samples: int, seed: int) -> ExpectationModel:
    return ExpectationModel(model, DIST, samples, torch.Generator().manual_seed(seed), (0.0, 1.0))


def test_loss_and_gradient_are_means_over_the_sampled_transformations(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:6].clone().requires_grad_(True), digits[1][:6]
    logits, loss = _draw(trained_mlp, x, 5, seed=0).per_sample_loss(x, y)
    (grad,) = torch.autograd.grad(loss.sum(), x)
    # the same draws, replayed: parameters first, then the noise field, from one generator
    g = torch.Generator().manual_seed(0)
    params = DIST.uniform.sample(6 * 5, generator=g).view(6, 5, -1)
    seen = DIST.apply(x, params, generator=g)  # (6, 5, C, H, W)
    per_t = torch.stack([F.cross_entropy(trained_mlp(seen[:, t]), y, reduction="none") for t in range(5)], 1)
    torch.testing.assert_close(loss, per_t.mean(1))
    grads = [torch.autograd.grad(per_t[:, t].sum(), x, retain_graph=True)[0] for t in range(5)]
    torch.testing.assert_close(grad, torch.stack(grads).mean(0), atol=1e-6, rtol=1e-5)
    # logits: log of the mean predicted probabilities
    probs = torch.stack([trained_mlp(seen[:, t]).softmax(1) for t in range(5)], 1).mean(1)
    torch.testing.assert_close(logits.exp(), probs, atol=1e-6, rtol=1e-5)
    # the gradient of the loss of averaged logits (foolbox's wrapper) is a different vector
    mean_logits = torch.stack([trained_mlp(seen[:, t]) for t in range(5)], 1).mean(1)
    (averaged,) = torch.autograd.grad(F.cross_entropy(mean_logits, y, reduction="sum"), x)
    assert not torch.allclose(averaged, grad, atol=1e-4)


def test_identity_distribution_reduces_eot_to_the_inner_attack(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:20], digits[1][:20]
    pgd = PGD(eps=0.2, steps=5, random_start=False)
    plain = pgd(trained_mlp, x, y)
    wrapped = EOT(pgd, distribution=TransformDistribution(), draws=3)(trained_mlp, x, y)
    # two computations (the mean over a (20 * 3)-row batch of identical draws vs one 20-row
    # pass): a pixel whose gradient is within rounding of zero may step the other way on
    # other CPU kernels, and PGD carries that on; every other pixel agrees
    moved = (wrapped.x_adv - plain.x_adv).abs() > 1e-5
    assert moved.float().mean() < 0.01, f"{int(moved.sum())} of {moved.numel()} pixels differ"
    torch.testing.assert_close(wrapped.x_adv[~moved], plain.x_adv[~moved])
    fgsm = EOT(FGSM(eps=0.1), distribution=TransformDistribution(), draws=2)(trained_mlp, x, y)
    assert_fgsm_signs_agree(trained_mlp, x, y, fgsm.x_adv, FGSM(eps=0.1)(trained_mlp, x, y).x_adv)


def test_eot_adversarials_survive_transformations_better(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:60], digits[1][:60]
    target = (y + 3) % 10
    pgd = PGD(eps=0.3, steps=20, step_size=0.03, targeted=True)
    g = torch.Generator().manual_seed(0)
    plain = pgd(trained_mlp, x, target, generator=g).x_adv
    robust = EOT(pgd, distribution=DIST, draws=10)(trained_mlp, x, target, generator=g).x_adv
    check = _draw(trained_mlp, x, 50, seed=1)
    with torch.no_grad():
        hit = {name: (check.transformed_logits(image).argmax(2) == target[:, None]).float().mean()
               for name, image in (("plain", plain), ("eot", robust))}  # fmt: skip
    assert hit["eot"] > hit["plain"] + 0.05, hit


def test_eot_settings() -> None:
    with pytest.raises(ValueError, match="EOT wraps attacks that ascend the per-sample loss .*fgsm.*pgd"):
        EOT(DeepFool())
    with pytest.raises(ValueError, match="inner must be an Attack instance"):
        EOT("pgd")  # type: ignore[arg-type]
    inner = PGD(eps=0.1, targeted=True, bounds=(-1.0, 1.0))
    assert EOT(inner).bounds == (-1.0, 1.0) and EOT(inner).targeted and EOT(inner).radius == 0.1
    moved = EOT(inner, bounds=(0.0, 2.0))
    assert moved.inner.bounds == (0.0, 2.0) and moved.norm == "linf"
