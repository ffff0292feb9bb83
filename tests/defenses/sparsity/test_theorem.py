"""Theorem 2 (Gopalakrishnan et al., arXiv 1810.10625 v1): across random l1-constrained
networks and random perturbations in the eps-ball, the measured ||e_j||_inf of every layer
never exceeds eps * prod_{l<=j} gamma_l; and the bound is attained at the first layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab import models
from advlab.defenses.sparsity import L1Budget, layer_perturbations, theorem2_bounds

NETWORKS = 24  # random networks
PERTURBATIONS = 64  # perturbations of each of 8 inputs per network and kind


def _random_network(seed: int) -> tuple[nn.Sequential, tuple[int, ...]]:
    """An MLP or a conv net of random widths whose rows are projected onto random l1 budgets."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if seed % 2:
        widths = [int(w) for w in torch.randint(3, 30, (3,), generator=g)]
        net = nn.Sequential(nn.Flatten(), nn.Linear(36, widths[0]), nn.ReLU(), nn.Linear(widths[0], widths[1]),
                            nn.ReLU(), nn.Linear(widths[1], widths[2]), nn.ReLU(), nn.Linear(widths[2], 4))  # fmt: skip
    else:
        net = nn.Sequential(nn.Conv2d(1, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(5, 6, 3),
                            nn.ReLU(), nn.Flatten(), nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))  # fmt: skip
    for p in net.parameters():
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g) * 2)
    gammas = tuple(float(v) for v in 0.2 + 3 * torch.rand(len(L1Budget((1.0,)).per_layer(net)), generator=g))
    net.double()
    L1Budget(gammas)(net)
    return net.double().eval(), gammas  # float64: the comparison is not about rounding


def test_measured_layer_perturbations_never_exceed_the_bound() -> None:
    trials, worst = 0, 0.0
    for seed in range(NETWORKS):
        net, gammas = _random_network(seed)
        g = torch.Generator().manual_seed(1000 + seed)
        eps = float(0.01 + torch.rand(1, generator=g))
        bounds = torch.tensor([b.bound for b in theorem2_bounds(net, eps)], dtype=torch.float64)  # (L,)
        running = torch.tensor(gammas, dtype=torch.float64).cumprod(0) * eps
        assert bool((bounds <= running * (1 + 1e-12)).all())  # measured gammas are within budget
        x = torch.randn(8, 1, 6, 6, generator=g, dtype=torch.float64).repeat_interleave(PERTURBATIONS, 0)  # (8 * P, 1, 6, 6)
        uniform = (2 * torch.rand(x.shape, generator=g, dtype=torch.float64) - 1) * eps
        corners = eps * torch.randint(0, 2, x.shape, generator=g).mul(2).sub(1).double()
        for perturbation in (uniform, corners):
            measured = layer_perturbations(net, x, x + perturbation).double()  # (L, 8 * P)
            ratio = measured / bounds[:, None]
            worst = max(worst, float(ratio.max()))
            trials += measured.numel()
    assert trials == NETWORKS * 2 * 8 * PERTURBATIONS * 4  # every network has 4 weight layers
    assert worst <= 1 + 1e-12, f"measured / bound reached {worst} in {trials} layer trials"


def test_bound_is_attained_at_the_first_layer_and_closed_form() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))
    L1Budget((1.5, 0.7))(net)
    gamma_1 = float(net[0].weight.detach().abs().sum(1).max())
    gamma_2 = float(net[2].weight.detach().abs().sum(1).max())
    bounds = theorem2_bounds(net, 0.1)
    assert [b.name for b in bounds] == ["0", "2"]
    assert bounds[0].bound == pytest.approx(0.1 * gamma_1) and bounds[1].bound == pytest.approx(0.1 * gamma_1 * gamma_2)
    row = net[0].weight.abs().sum(1).argmax()
    e = 0.1 * net[0].weight[row].sign().detach()[None]  # the worst case of that neuron
    x = torch.randn(1, 5)
    measured = layer_perturbations(net, x, x + e)
    assert float(measured[0, 0]) == pytest.approx(bounds[0].bound, rel=1e-5)


def test_registry_models_with_fixed_layers_and_refusals() -> None:
    svm = models.create("linear-svm", num_classes=2, image_size=8)
    (bound,) = theorem2_bounds(svm, 0.1)  # Normalize(0.5, 0.5) doubles the input perturbation
    assert bound.bound == pytest.approx(0.1 * 2 * float(svm[2].weight.detach().abs().sum()))
    with pytest.raises(ValueError, match="not l_inf non-expansive"):
        theorem2_bounds(models.create("sparsified", classifier="sparsity-mlp", num_classes=2), 0.1)
    with pytest.raises(ValueError, match="eps"):
        theorem2_bounds(svm, 0.0)
