"""FAB-T (Croce & Hein 2020): the projection onto a hyperplane within the box against a brute
force solver, and minimal distances on affine classifiers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from advlab.attacks import FAB
from advlab.attacks.fab import project_onto_hyperplane_in_box, sort_nonnegative

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projection_matches_a_generic_solver(norm: str) -> None:
    optimize = pytest.importorskip("scipy.optimize")
    g = torch.Generator().manual_seed(0)
    dim, checked = 6, 0
    for trial in range(25):
        t = torch.rand(1, dim, generator=g, dtype=torch.float64)
        w = torch.randn(1, dim, generator=g, dtype=torch.float64)
        w[0, trial % dim] = 0.0  # a coordinate the hyperplane ignores
        b = (w * t).sum(1) + 0.5 * torch.randn(1, generator=g, dtype=torch.float64)
        d = project_onto_hyperplane_in_box(t, w, b, norm, (0.0, 1.0))[0].numpy()  # type: ignore[arg-type]
        tt, ww, need = t[0].numpy(), w[0].numpy(), float(b) - float((w * t).sum())
        box = [(-v, 1 - v) for v in tt]
        if norm == "linf":  # LP in (d, r): min r, -r <= d_i <= r, w . d = need, box
            eye = np.eye(dim)
            a_ub = np.vstack([np.c_[eye, -np.ones(dim)], np.c_[-eye, -np.ones(dim)]])
            res = optimize.linprog(np.r_[np.zeros(dim), 1.0], A_ub=a_ub, b_ub=np.zeros(2 * dim),
                                   A_eq=np.r_[ww, 0.0][None], b_eq=[need], bounds=box + [(0, None)])  # fmt: skip
            if res.status != 0:
                continue
            best, ours = res.fun, np.abs(d).max()
        else:
            res = optimize.minimize(lambda v: v @ v, np.zeros(dim), method="SLSQP", bounds=box,
                                    constraints=[{"type": "eq", "fun": lambda v, ww=ww, need=need: ww @ v - need}],
                                    options={"ftol": 1e-14, "maxiter": 500})  # fmt: skip
            if not res.success or abs(ww @ res.x - need) > 1e-7:
                continue
            best, ours = float(np.sqrt(res.fun)), float(np.linalg.norm(d))
        checked += 1
        assert abs(ww @ d - need) < 1e-9  # on the hyperplane
        assert bool(((tt + d) >= -1e-12).all() and ((tt + d) <= 1 + 1e-12).all())  # in the box
        assert ours == pytest.approx(best, rel=1e-5, abs=1e-9)  # and as short as possible
    assert checked >= 15


def test_unreachable_hyperplane_gives_the_box_corner() -> None:
    t = torch.full((1, 3), 0.5, dtype=torch.float64)
    w = torch.tensor([[1.0, -1.0, 0.0]], dtype=torch.float64)
    d = project_onto_hyperplane_in_box(t, w, torch.tensor([5.0], dtype=torch.float64), "linf", (0.0, 1.0))
    torch.testing.assert_close(t + d, torch.tensor([[1.0, 0.0, 0.5]], dtype=torch.float64))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_minimal_distance_on_an_affine_classifier(norm: str) -> None:
    """4 affine classes, the point far from classes 2 and 3: the smallest adversarial distance
    is margin / ||w_y - w_1||_dual (dual of linf: l1; of l2: l2) when the box does not cut."""
    g = torch.Generator().manual_seed(0)
    dim = 16
    model = nn.Linear(dim, 4).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(4, dim, generator=g, dtype=torch.float64))
        model.bias.copy_(torch.tensor([0.0, 0.0, -50.0, -50.0], dtype=torch.float64))
    x = 0.4 + 0.2 * torch.rand(40, dim, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = model(x)[:, :2].argmax(1)
    v = (model.weight[y] - model.weight[1 - y]).detach()  # (N, dim)
    dual = v.abs().sum(1) if norm == "linf" else v.norm(dim=1)
    minimal = ((v * x).sum(1) / dual).detach()  # (N,) distance to the boundary
    eps = 0.35 if norm == "l2" else 0.06
    inside_box = minimal < 0.3 if norm == "linf" else minimal < 0.3  # the box [0, 1] does not cut
    result = FAB(eps=1.0 if norm == "l2" else 0.4, norm=norm, steps=30, n_target_classes=1)(model, x, y)  # type: ignore[arg-type]
    found = result.success & inside_box
    assert found.sum() >= 10
    assert bool((result.norm[found] >= minimal[found] * (1 - 1e-6)).all())  # never below the minimum
    assert bool((result.norm[found] <= minimal[found] * 1.02).all())  # and close to it
    small = FAB(eps=eps, norm=norm, steps=30, n_target_classes=1)(model, x, y)  # type: ignore[arg-type]
    clear = ((minimal - eps).abs() > 0.05 * eps) & inside_box
    assert torch.equal(small.success[clear], (minimal < eps)[clear])


def test_fab_breaks_the_trained_mlp(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:50], digits[1][:50]
    result = FAB(eps=0.1, steps=20, n_target_classes=3)(trained_mlp, x, y)
    with torch.no_grad():
        clean = trained_mlp(x).argmax(1) == y
    assert bool((result.norm <= 0.1 + 1e-6).all())
    assert int((clean & result.success).sum()) >= 0.4 * int(clean.sum())
    untouched = ~result.success
    assert torch.equal(result.x_adv[untouched], x[untouched])  # unbroken points are returned as x


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_stop_at_eps_breaks_the_same_points_with_fewer_steps(norm: str) -> None:
    """The suite's setting: a point stops at its first adversarial example within eps. On an
    affine classifier every point with minimal distance below eps is still broken, the
    examples stay inside the ball, and broken points use fewer iterations."""
    g = torch.Generator().manual_seed(1)
    dim = 16
    model = nn.Linear(dim, 4).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(4, dim, generator=g, dtype=torch.float64))
        model.bias.copy_(torch.tensor([0.0, 0.0, -50.0, -50.0], dtype=torch.float64))
    x = 0.4 + 0.2 * torch.rand(40, dim, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = model(x)[:, :2].argmax(1)
    v = (model.weight[y] - model.weight[1 - y]).detach()  # (N, dim)
    dual = v.abs().sum(1) if norm == "linf" else v.norm(dim=1)
    eps = float(((v * x).sum(1) / dual).median())  # about half the points are breakable
    full = FAB(eps=eps, norm=norm, steps=30, n_target_classes=1)(model, x, y)  # type: ignore[arg-type]
    early = FAB(eps=eps, norm=norm, steps=30, n_target_classes=1, stop_at_eps=True)(model, x, y)  # type: ignore[arg-type]
    assert 5 <= int(full.success.sum()) < 40
    assert torch.equal(early.success, full.success)
    assert bool((early.norm[early.success] <= eps + 1e-9).all())
    assert bool((early.norm[early.success] >= full.norm[early.success] - 1e-9).all())  # not minimal
    assert bool((early.steps[early.success] < full.steps[early.success]).all())
    assert torch.equal(early.steps[~early.success], full.steps[~early.success])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_nonnegative_sort_by_bit_patterns_orders_as_the_values(dtype: torch.dtype) -> None:
    values = torch.rand(6, 50, generator=torch.Generator().manual_seed(0)).to(dtype)
    values[:, ::7] = 0.0
    values[:, 3] = -0.0
    values[:, ::11] = torch.inf
    ordered, order = sort_nonnegative(values)
    # exact on any CPU: a sort only moves values (no arithmetic), so both sorts must give the
    # same numbers in the same places, and a gather copies them
    assert torch.equal(ordered, values.sort(dim=1).values)
    assert torch.equal(values.gather(1, order), ordered)
