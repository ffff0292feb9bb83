"""CROWN and Fast-Lin (crown.py), alpha-CROWN (alpha_crown.py) and the one interface (methods.py):
Fast-Lin equals the Wong-Kolter dual bound; CROWN equals the exact LP optimum of its own
relaxation; alpha-CROWN is never looser than CROWN; names and layers are checked first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

from advlab.defenses.certify import (
    METHODS,
    LinfBall,
    UnsupportedLayerError,
    alpha_crown_bounds,
    certified_bounds,
    certify_samples,
    crown_bounds,
    dual_bounds,
    margin_spec,
)
from advlab.defenses.certify.crown import lower_slopes, relax
from advlab.defenses.certify.plan import build_plan
from advlab.registry import UnknownNameError

from .conftest import conv_net, mlp

BALL = LinfBall(0.15, 0.0, 1.0)


def _inputs(net: nn.Sequential, seed: int, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shape = (1, 8, 8) if isinstance(net[0], nn.Conv2d) else (net[0].in_features,)
    return torch.rand((n, *shape), generator=gen, dtype=torch.float64), torch.randint(0, 3, (n,), generator=gen)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("make", [mlp, conv_net])
def test_fast_lin_equals_wong_kolter_dual(seed, make):
    net = make(seed)
    x, y = _inputs(net, seed)
    for spec in (None, margin_spec(y, 3, torch.float64)):
        fast = crown_bounds(net, x, BALL, spec, slope="fast-lin")
        dual = dual_bounds(net, x, BALL, spec)
        scale = 1 + dual.lower.detach().abs().max()
        assert torch.allclose(fast.lower, dual.lower, rtol=1e-6, atol=1e-6 * float(scale))
        assert torch.allclose(fast.upper, dual.upper, rtol=1e-6, atol=1e-6 * float(scale))
        for (fl, fu), (dl, du) in zip(fast.relu_bounds, dual.relu_bounds, strict=True):
            assert torch.allclose(fl, dl, rtol=1e-6, atol=1e-9) and torch.allclose(fu, du, rtol=1e-6, atol=1e-9)


def _lp_of_relaxation(net: nn.Sequential, x: torch.Tensor, c: np.ndarray) -> tuple[float, float]:
    """min and max of c^T f over CROWN's own relaxation of a Linear-ReLU-Linear-ReLU-Linear net at
    one input x (1, P): the input box, equalities for the affine layers, and per unstable ReLU
    ``z >= alpha z_hat``, ``z <= d (z_hat - l)`` with CROWN's l, u and alpha; z_hat unconstrained."""
    plan = build_plan(net, x)
    centre, radius = BALL.centre_radius(x)
    layers, alphas = relax(plan, centre, radius, "adaptive")
    w = [m.weight.detach().numpy() for m in net if isinstance(m, nn.Linear)]
    b = [m.bias.detach().numpy() for m in net if isinstance(m, nn.Linear)]
    relus = [(layer, alpha) for layer, alpha in zip(layers, alphas, strict=True) if alpha is not None]
    sizes = [w[0].shape[1], w[0].shape[0], w[0].shape[0], w[1].shape[0], w[1].shape[0]]  # x, zh1, z1, zh2, z2
    offsets = np.cumsum([0] + sizes)
    total = offsets[-1]
    a_eq, b_eq, a_ub, b_ub = [], [], [], []

    def var(block: int, j: int) -> int:
        return offsets[block] + j

    for k, (src, dst) in enumerate([(0, 1), (2, 3)]):  # zh = W z + b
        for i in range(sizes[dst]):
            row = np.zeros(total)
            row[var(dst, i)] = 1.0
            row[offsets[src] : offsets[src] + sizes[src]] = -w[k][i]
            a_eq.append(row)
            b_eq.append(b[k][i])
    for (relu, alpha), (pre, post) in zip(relus, [(1, 2), (3, 4)], strict=True):
        l_, u_, a_, d_ = (t[0].detach().numpy() for t in (relu.lower, relu.upper, alpha, relu.d))
        for j in range(sizes[pre]):
            if u_[j] <= 0 or l_[j] >= 0:  # stable: z = d z_hat with d in {0, 1}
                row = np.zeros(total)
                row[var(post, j)], row[var(pre, j)] = 1.0, -d_[j]
                a_eq.append(row)
                b_eq.append(0.0)
                continue
            low = np.zeros(total)  # alpha z_hat - z <= 0
            low[var(pre, j)], low[var(post, j)] = a_[j], -1.0
            up = np.zeros(total)  # z - d z_hat <= -d l
            up[var(post, j)], up[var(pre, j)] = 1.0, -d_[j]
            a_ub += [low, up]
            b_ub += [0.0, -d_[j] * l_[j]]
    lo, hi = BALL.box(x)
    var_bounds = [(float(lo[0, j]), float(hi[0, j])) for j in range(sizes[0])] + [(None, None)] * (total - sizes[0])
    objective = np.zeros(total)
    objective[offsets[4] : offsets[5]] = c @ w[2]
    results = []
    for sign in (1.0, -1.0):
        res = linprog(sign * objective, A_ub=np.array(a_ub) if a_ub else None, b_ub=b_ub or None,
                      A_eq=np.array(a_eq), b_eq=b_eq, bounds=var_bounds, method="highs")  # fmt: skip
        assert res.status == 0, res.message
        results.append(sign * res.fun + float(c @ b[2]))
    return results[0], results[1]


@pytest.mark.parametrize("seed", range(3))
def test_crown_equals_exact_lp_of_its_relaxation(seed):
    net = mlp(seed, widths=(10, 8), inputs=5)
    x, y = _inputs(net, seed, n=2)
    spec = margin_spec(y, 3, torch.float64)
    with torch.no_grad():
        bounds = crown_bounds(net, x, BALL, spec)
    for i in range(len(x)):
        for s in range(3):
            if int(y[i]) == s:
                continue
            lp_low, lp_up = _lp_of_relaxation(net, x[i : i + 1], spec[i, s].numpy())
            assert abs(float(bounds.lower[i, s]) - lp_low) <= 1e-6 * (1 + abs(lp_low))
            assert abs(float(bounds.upper[i, s]) - lp_up) <= 1e-6 * (1 + abs(lp_up))


def test_adaptive_slope_rule():
    net = mlp(0)
    x, _ = _inputs(net, 0)
    centre, radius = BALL.centre_radius(x)
    layers, _ = relax(build_plan(net, x), centre, radius, "adaptive")
    relu = layers[1]
    alpha = lower_slopes([relu], "adaptive")[0]
    expected = torch.where(relu.i_mixed, (relu.upper >= -relu.lower).double(), relu.d)
    assert torch.equal(alpha, expected)
    assert torch.equal(lower_slopes([relu], "fast-lin")[0], relu.d)


@pytest.mark.parametrize("make", [mlp, conv_net])
def test_alpha_crown_never_looser_than_crown(make):
    net = make(0)
    x, y = _inputs(net, 0)
    spec = margin_spec(y, 3, torch.float64)
    crown = crown_bounds(net, x, BALL, spec)
    alpha = alpha_crown_bounds(net, x, BALL, spec, steps=10)
    assert bool((alpha.lower >= crown.lower).all()) and bool((alpha.upper <= crown.upper).all())
    gain = (alpha.lower - crown.lower).sum() + (crown.upper - alpha.upper).sum()
    assert float(gain) > 0  # the optimisation does tighten something on these nets


def test_certified_bounds_dispatches_every_method():
    net = mlp(2)
    x, y = _inputs(net, 2)
    spec = margin_spec(y, 3, torch.float64)
    assert list(METHODS) == ["interval", "wong", "fast-lin", "crown", "alpha-crown"]
    for name in METHODS:
        b = certified_bounds(net, x, BALL, name, spec)
        assert b.lower.shape == b.upper.shape == (4, 3) and bool((b.lower <= b.upper + 1e-9).all())
    assert torch.equal(certified_bounds(net, x, BALL, "crown", spec).lower, crown_bounds(net, x, BALL, spec).lower)


def test_unknown_method_lists_the_valid_names():
    net = mlp(0)
    x, _ = _inputs(net, 0)
    with pytest.raises(UnknownNameError) as info:
        certified_bounds(net, x, BALL, "crwon")
    message = str(info.value)
    assert "crwon" in message and all(name in message for name in METHODS)


@pytest.mark.parametrize("method", list(METHODS))
def test_max_pool_is_refused_naming_the_layer(method):
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 3))
    with pytest.raises(UnsupportedLayerError, match=r"layer 2 \(MaxPool2d\).*supported: Linear"):
        certified_bounds(net, torch.rand(2, 1, 8, 8), LinfBall(0.1), method)


def test_certify_samples_takes_a_method():
    net = mlp(3, inputs=4).float()
    x, y = torch.rand(6, 4), torch.randint(0, 3, (6,))
    with pytest.raises(UnknownNameError):
        certify_samples(net, x, y, 0.05, method="nope")
    for method in ("interval", "crown", "alpha-crown"):
        sure = certify_samples(net, x, y, 0.05, pgd_steps=2, method=method).certified
        assert sure.shape == (6,) and sure.dtype == torch.bool


def test_chunking_gives_the_same_bounds(monkeypatch):
    import advlab.defenses.certify.crown as crown

    net = conv_net(4)
    x, y = _inputs(net, 4, n=5)
    spec = margin_spec(y, 3, torch.float64)
    whole = crown_bounds(net, x, BALL, spec)
    alpha_whole = alpha_crown_bounds(net, x, BALL, spec, steps=3)
    monkeypatch.setattr(crown, "CHUNK_ELEMENTS", 64)  # blocks of one sample
    monkeypatch.setattr("advlab.defenses.certify.dual.CHUNK_ELEMENTS", 64)  # and of a few units
    split = crown_bounds(net, x, BALL, spec)
    assert torch.allclose(whole.lower, split.lower, atol=1e-12) and torch.allclose(whole.upper, split.upper, atol=1e-12)
    alpha_split = alpha_crown_bounds(net, x, BALL, spec, steps=3)
    assert torch.allclose(alpha_whole.lower, alpha_split.lower, atol=1e-9)


def _conv_zoo(seed: int) -> nn.Sequential:
    """Strides, dilation, groups, padding, BatchNorm, AvgPool and a ReLU-free conv pair, on 2x11x11."""
    torch.manual_seed(seed)
    bn = nn.BatchNorm2d(6)
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-0.2, 0.2)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=2), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1, dilation=2),
        bn, nn.ReLU(), nn.AvgPool2d(2, padding=1), nn.Conv2d(6, 6, 2, groups=2, bias=False),
        nn.Conv2d(6, 5, 1), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 2 * 2, 3),
    ).double().eval()  # fmt: skip


@pytest.mark.parametrize("make", [conv_net, _conv_zoo])
@pytest.mark.parametrize("slope", ["adaptive", "fast-lin"])
def test_patches_give_the_same_bounds_as_the_full_pass(monkeypatch, make, slope):
    import advlab.defenses.certify.crown as crown

    net = make(5)
    gen = torch.Generator().manual_seed(5)
    shape = (1, 8, 8) if make is conv_net else (2, 11, 11)
    x = torch.rand((3, *shape), generator=gen, dtype=torch.float64)
    spec = margin_spec(torch.tensor([0, 1, 2]), 3, torch.float64)
    monkeypatch.setattr(crown, "PATCHES", "never")
    full = crown_bounds(net, x, BALL, spec, slope=slope)
    monkeypatch.setattr(crown, "PATCHES", "always")
    windows = crown_bounds(net, x, BALL, spec, slope=slope)
    for (fl, fu), (wl, wu) in zip(full.relu_bounds, windows.relu_bounds, strict=True):
        assert torch.allclose(fl, wl, rtol=1e-10, atol=1e-10) and torch.allclose(fu, wu, rtol=1e-10, atol=1e-10)
    assert torch.allclose(full.lower, windows.lower, atol=1e-10) and torch.allclose(full.upper, windows.upper, atol=1e-10)
    monkeypatch.setattr("advlab.defenses.certify.patches.MATRIX_ELEMENTS", 0)  # conv_transpose2d route
    assert torch.allclose(crown_bounds(net, x, BALL, spec, slope=slope).lower, full.lower, atol=1e-10)
    if slope == "fast-lin":
        assert torch.allclose(windows.lower, dual_bounds(net, x, BALL, spec).lower, atol=1e-9)
