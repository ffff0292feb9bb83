"""The memory guard of the dual bounds: with the chunk budget patched small, no tensor created by
`dual_bounds` / `robust_loss` holds more than the budget, on every path (units backward, input
terms forward with the ReLU terms backward, projections, specifications, tighten, gradients),
and the bounds do not depend on the budget."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from advlab.defenses.certify import LinfBall, dual_bounds, margin_spec, robust_loss
from advlab.defenses.certify import dual as dual_module


class LargestNewTensor(TorchDispatchMode):
    """Records the largest storage (in elements) that any aten op creates while active.

    Outputs that are views of an input's storage (reshape, expand, slicing) are not new
    allocations and are skipped; everything else counts with its whole storage."""

    def __init__(self) -> None:
        super().__init__()
        self.elements, self.where = 0, ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ARG002
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0]
                  if isinstance(t, torch.Tensor)}  # fmt: skip
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs:
                size = t.untyped_storage().nbytes() // t.element_size()
                if size > self.elements:
                    self.elements, self.where = size, f"{func} -> {tuple(t.shape)}"
        return out


def three_conv_net() -> nn.Sequential:
    """The issue's case: three 16@8x8 convolutions (1,024 units each, more than the 64 pixels:
    input terms forward, ReLU terms backward through two ReLUs)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 10),
    )  # fmt: skip


def small_three_conv_net() -> nn.Sequential:
    """The same shape of network, smaller (8@6x6: 288 units, 36 pixels), for tight budgets."""
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(288, 10),
    ).double()  # fmt: skip


def narrowing_mlp() -> nn.Sequential:
    """Fewer units than input pixels at every layer: everything backward."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 40), nn.ReLU(),
        nn.Linear(40, 32), nn.ReLU(), nn.Linear(32, 10),
    ).double()  # fmt: skip


def inputs(size: int, n: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(size), dtype=torch.float64)


Y = torch.arange(8) % 10
BALL = LinfBall(0.05, 0.0, 1.0)
# (name, net, input size, budget in elements, keyword arguments). A budget must hold one block
# of (8 samples x widest activation), or (1 sample x 10 projections x widest) with projections,
# and the largest weight (interval arithmetic takes |W|).
CASES = [
    ("forward input terms", small_three_conv_net, 6, 2**17, {}),
    ("forward input terms, tight", small_three_conv_net, 6, 2**13, {}),
    ("all backward", narrowing_mlp, 8, 2**12, {}),
    ("margin specs and tighten", small_three_conv_net, 6, 2**13,
     {"spec": margin_spec(Y, 10, torch.float64), "tighten": True}),
    ("projections", small_three_conv_net, 6, 2**12, {"projections": 10}),
]  # fmt: skip


@pytest.mark.parametrize("name,make_net,size,budget,kwargs", CASES, ids=[c[0] for c in CASES])
def test_no_tensor_exceeds_the_chunk_budget(monkeypatch, name, make_net, size, budget, kwargs) -> None:
    net, X = make_net(), inputs(size)
    if "projections" in kwargs:
        kwargs = {**kwargs, "generator": torch.Generator().manual_seed(0)}
    with torch.no_grad():
        reference = dual_bounds(net, X, BALL, **kwargs)
    monkeypatch.setattr(dual_module, "CHUNK_ELEMENTS", budget)
    if "projections" in kwargs:
        kwargs["generator"] = torch.Generator().manual_seed(0)
    with torch.no_grad(), LargestNewTensor() as largest:
        chunked = dual_bounds(net, X, BALL, **kwargs)
    assert largest.elements <= budget, f"{name}: {largest.elements} > {budget} at {largest.where}"
    if "projections" not in kwargs:  # projections draw different numbers per block of samples
        torch.testing.assert_close(chunked.lower, reference.lower)
        torch.testing.assert_close(chunked.upper, reference.upper)
        for (a, b), (c, d) in zip(chunked.relu_bounds, reference.relu_bounds, strict=True):
            torch.testing.assert_close(a, c)
            torch.testing.assert_close(b, d)
    else:  # the exact final J given the estimated layers stays ordered and finite
        assert bool(torch.isfinite(chunked.lower).all()) and bool((chunked.lower <= chunked.upper).all())


def test_the_issue_case_stays_within_the_budget(monkeypatch) -> None:
    """Issue 9: a batch of 8 through three 16@8x8 convolutions at a budget of 2**19 elements made
    an (8, 1024, 16, 8, 8) tensor of ReLU terms (16x the budget) and a 1024 x 1024 identity."""
    net, X = three_conv_net(), inputs(8).float()
    monkeypatch.setattr(dual_module, "CHUNK_ELEMENTS", 2**19)
    with torch.no_grad(), LargestNewTensor() as largest:
        bounds = dual_bounds(net, X, BALL)
    assert largest.elements <= 2**19, f"{largest.elements} > {2**19} at {largest.where}"
    assert bool((bounds.lower <= bounds.upper).all())


def test_robust_loss_with_gradients_stays_within_the_budget(monkeypatch) -> None:
    """Training path: forward and backward of the robust loss (autograd keeps the blocks'
    intermediates, but none of them exceeds the budget)."""
    net, X = small_three_conv_net(), inputs(6)
    budget = 2**14
    expected = robust_loss(net, X, Y, BALL)[0]
    monkeypatch.setattr(dual_module, "CHUNK_ELEMENTS", budget)
    with LargestNewTensor() as largest:
        loss, _ = robust_loss(net, X, Y, BALL)
        loss.backward()
    assert largest.elements <= budget, f"{largest.elements} > {budget} at {largest.where}"
    torch.testing.assert_close(loss, expected)
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in net.parameters())
