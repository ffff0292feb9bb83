"""Cauchy-projection estimates converge to the exact bounds (Wong et al. 2018, "Scaling provable
adversarial defenses", Section 3.2); robust_loss backpropagates exactly (gradcheck)."""

from __future__ import annotations

import torch
from torch import nn

from advlab.defenses.certify import LinfBall, dual_bounds, robust_loss

from .conftest import small_conv_net


def test_projected_bounds_converge_to_exact() -> None:
    net = small_conv_net(seed=7).double()
    x = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    ball = LinfBall(0.05, 0.0, 1.0)
    with torch.no_grad():
        exact = dual_bounds(net, x, ball)
        errors = []
        for k in (8, 128, 4096):
            errs = []
            for seed in range(3):  # average over draws so the trend is not luck
                est = dual_bounds(net, x, ball, projections=k, generator=torch.Generator().manual_seed(seed))
                rel = [(e - t).abs().max() / t.abs().max() for e, t in
                       zip(sum(est.relu_bounds, ()), sum(exact.relu_bounds, ()), strict=True)]
                errs.append(float(torch.stack(rel).max()))
            errors.append(sum(errs) / len(errs))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.05  # 4096 projections: within 5% of the exact intermediate bounds


def test_projected_first_layer_is_exact() -> None:
    """The first affine block is bounded in closed form, with or without projections."""
    net = small_conv_net(seed=8)
    x = torch.rand(2, 1, 12, 12)
    exact = dual_bounds(net, x, LinfBall(0.1))
    est = dual_bounds(net, x, LinfBall(0.1), projections=5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(est.relu_bounds[0][0], exact.relu_bounds[0][0])


def test_robust_loss_gradcheck_float64() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(2 * 3 * 3, 4), nn.ReLU(), nn.Linear(4, 3),
    ).double()  # fmt: skip
    x = torch.rand(3, 1, 5, 5, dtype=torch.float64)
    y = torch.tensor([0, 2, 1])
    names = [name for name, _ in net.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in net.parameters())

    def loss_of(*values: torch.Tensor) -> torch.Tensor:
        # Swap the parameters in, so that gradcheck perturbs them (the ReLU sets stay fixed
        # for perturbations of 1e-6 away from their boundaries).
        state = dict(zip(names, values, strict=True))
        wrapper = _Functional(net, state)
        return robust_loss(wrapper, x, y, LinfBall(0.1))[0]

    assert torch.autograd.gradcheck(loss_of, params, eps=1e-6, atol=1e-6)
    loss = loss_of(*params)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)


class _Functional(nn.Sequential):
    """The same Sequential with its parameters replaced by given tensors (for gradcheck)."""

    def __init__(self, net: nn.Sequential, state: dict[str, torch.Tensor]) -> None:
        import copy

        clone = copy.deepcopy(net)
        for name, value in state.items():
            module_name, attr = name.rsplit(".", 1)
            module = clone.get_submodule(module_name)
            delattr(module, attr)
            setattr(module, attr, value)  # a plain tensor attribute: differentiable
        super().__init__(*clone)


def test_robust_loss_matches_margin_bounds_and_error() -> None:
    net = small_conv_net(seed=9)
    x = torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(9))
    y = net(x).argmax(1)
    loss0, err0 = robust_loss(net, x, y, LinfBall(0.0))
    assert float(err0) == 0.0  # eps 0: every correctly classified point is certified
    loss1, err1 = robust_loss(net, x, y, LinfBall(0.2))
    assert float(loss1.detach()) > float(loss0.detach()) and float(err1) >= float(err0)


def test_forward_input_terms_match_the_backward_pass(monkeypatch) -> None:
    """Layers with more units than input pixels get their input terms forward (Algorithm 1's
    direction); the result equals the all-backward pass (forced here with a tiny chunk budget,
    which also exercises chunking over units)."""
    from advlab.defenses.certify import dual as dual_module

    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 5 * 5, 7), nn.ReLU(), nn.Linear(7, 3),
    ).double()  # fmt: skip
    x = torch.rand(3, 1, 5, 5, dtype=torch.float64)
    ball = LinfBall(0.1, 0.0, 1.0)
    hybrid = dual_bounds(net, x, ball)
    monkeypatch.setattr(dual_module, "_forward_input_terms", lambda pixels, units: False)
    monkeypatch.setattr(dual_module, "CHUNK_ELEMENTS", 1)
    backward = dual_bounds(net, x, ball)
    for a, b in zip(sum(hybrid.relu_bounds, ()), sum(backward.relu_bounds, ()), strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(hybrid.lower, backward.lower)


def test_robust_loss_gradcheck_through_forward_input_terms() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 10), nn.ReLU(), nn.Linear(10, 3)).double()
    x = torch.rand(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    names = [name for name, _ in net.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in net.parameters())

    def loss_of(*values: torch.Tensor) -> torch.Tensor:
        return robust_loss(_Functional(net, dict(zip(names, values, strict=True))), x, y, LinfBall(0.2))[0]

    assert torch.autograd.gradcheck(loss_of, params, eps=1e-6, atol=1e-6)
