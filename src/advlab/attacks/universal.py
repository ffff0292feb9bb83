"""Universal adversarial perturbations (Moosavi-Dezfooli, Fawzi, Fawzi & Frossard 2017,
"Universal adversarial perturbations", Algorithm 1).

One perturbation v (C, H, W) with ||v||_p <= xi that changes the prediction of most inputs:

    >>> uap = UniversalPerturbation(xi=0.2, norm="linf")
    >>> result = uap.fit(model, x_train)             # x_train (N, C, H, W) in [0, 1]
    >>> fooling_rate(model, x_test, result.perturbation)   # held-out, against clean predictions

Universal perturbations do not fit the per-batch ``attack(model, x, y)`` contract (one
perturbation is fitted to a whole set), so they have their own verb, ``fit``. The fooling rate
is always measured against the model's CLEAN PREDICTIONS k(x), as in the paper (eq. 1 and
Err(X_v) in Algorithm 1), never against labels: a label-based rate would count inputs the
model already misclassifies as fooled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import nn

from advlab.attacks.base import inference_view
from advlab.attacks.deepfool import DeepFool
from advlab.attacks.threat import (
    clip_to_bounds,
    flat_norm,
    project,
    validate_bounds,
    validate_eps,
    validate_inputs,
    validate_norm,
    validate_positive_int,
)
from advlab.progress import Progress, SilentProgress
from advlab.types import Bounds, Norm

Variant = Literal["sequential", "batched"]
VARIANTS: tuple[str, ...] = ("sequential", "batched")
EVAL_BATCH = 500  # samples per forward pass when predicting a whole set
# The sequential pass checks the upcoming points in one batched forward pass (a look-ahead
# window) instead of one forward pass per point; the window doubles while no update is
# accepted (v unchanged, so the predictions stay valid) and restarts small after an update.
FIRST_WINDOW, MAX_WINDOW = 16, 1024


@dataclass(frozen=True)
class UniversalResult:
    """What `UniversalPerturbation.fit` returns.

    perturbation:      (*S) the universal perturbation v, ||v||_p <= xi;
    fooling_rate:      fooling rate on the fitting set X after each pass (against the clean
                       predictions), one float per pass;
    clean_predictions: (N,) the model's predictions k(x) on X;
    inner_attacks:     number of inner (DeepFool) attacks run;
    accepted:          number of those that converged and updated v;
    reached_target:    whether the fooling rate reached 1 - delta before max_passes.
    """

    perturbation: torch.Tensor
    fooling_rate: list[float]
    clean_predictions: torch.Tensor
    inner_attacks: int
    accepted: int
    reached_target: bool

    @property
    def passes(self) -> int:
        return len(self.fooling_rate)


@dataclass(frozen=True)
class UniversalPerturbation:
    """Algorithm 1 of Moosavi-Dezfooli et al. 2017: a universal perturbation for model k.

    Passes over the fitting set X (shuffled by ``generator`` at every pass when ``shuffle``);
    for every point x_i whose prediction the current v does not change, k(x_i + v) = k(x_i),
    the inner attack (DeepFool, eq. 1: the minimal extra perturbation
    Delta v_i = argmin_r ||r||_2 s.t. k(x_i + v + r) != k(x_i)) runs from x_i + v; its
    result is accepted only when it converged (crossed the boundary), and then

        v <- P_{p, xi}(v + Delta v_i)            (projection onto the lp ball of radius xi)

    Stops once Err(X_v) = mean_i 1[k(x_i + v) != k(x_i)] >= 1 - delta or after max_passes.
    Perturbed inputs are clip(x + v) to ``bounds``; Delta v_i is measured from the clipped
    start x_i + v, so the update adds exactly the step the inner attack took.

    variant "sequential" is the algorithm as written (one point at a time, each update seen by
    the next point), made fast: the "is x_i still classified as before?" tests of the upcoming
    points are batched (valid until v changes), and the inner DeepFool runs on one point at a
    time. variant "batched" attacks the still-unfooled points of each minibatch of
    ``batch_size`` together from the same v and adds the mean of the converged Delta v_i in one
    projected step (a minibatch variant, not the paper's algorithm; measured side by side in
    benchmarks/bench_universal.py).

    Args: xi (> 0, the radius of the lp ball), norm ("linf" | "l2"), delta (target fooling
    rate 1 - delta), max_passes, inner (the DeepFool that computes Delta v_i; its bounds are
    replaced by ``bounds``), variant, batch_size (batched variant), shuffle, bounds.
    """

    xi: float
    norm: Norm = "linf"
    delta: float = 0.2
    max_passes: int = 10
    inner: DeepFool = field(default_factory=DeepFool)
    variant: Variant = "sequential"
    batch_size: int = 32
    shuffle: bool = True
    bounds: Bounds = (0.0, 1.0)

    def __post_init__(self) -> None:
        validate_eps(self.xi, "xi")
        validate_norm(self.norm)
        if isinstance(self.delta, bool) or not isinstance(self.delta, int | float) or not 0 <= self.delta < 1:
            raise ValueError(f"delta must be a number in [0, 1), got {self.delta!r}")
        validate_positive_int(self.max_passes, "max_passes")
        validate_positive_int(self.batch_size, "batch_size")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if not isinstance(self.inner, DeepFool):
            raise ValueError(f"inner must be a DeepFool attack, got {type(self.inner).__name__}")
        bounds = validate_bounds(self.bounds)
        object.__setattr__(self, "bounds", bounds)
        if self.inner.bounds != bounds:
            object.__setattr__(self, "inner", replace(self.inner, bounds=bounds))

    def fit(
        self,
        model: nn.Module,
        data: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        progress: Progress | None = None,
    ) -> UniversalResult:
        """Fit v on the set X = ``data`` (N, *S) inside ``bounds``; the model is never changed
        (attacked through `inference_view`). Randomness (the order of the points in each pass)
        comes from ``generator``. Returns a `UniversalResult`."""
        x = data.detach()
        validate_inputs(x, torch.zeros(x.shape[0], dtype=torch.long, device=x.device), self.bounds)
        net = inference_view(model)
        clean = predict(net, x)  # (N,) k(x_i)
        v = torch.zeros_like(x[0])  # (*S)
        rates: list[float] = []
        counts = [0, 0]  # inner attacks run, accepted
        run_pass = self._sequential_pass if self.variant == "sequential" else self._batched_pass
        with (progress or SilentProgress()).task("universal perturbation: passes", self.max_passes) as bar:
            for _ in range(self.max_passes):
                if self.shuffle:
                    order = torch.randperm(x.shape[0], generator=generator).to(x.device)
                else:
                    order = torch.arange(x.shape[0], device=x.device)
                v = run_pass(net, x, clean, v, order, counts)
                rates.append(fooling_rate(net, x, v, clean, bounds=self.bounds))
                bar.advance(1, fooling_rate=rates[-1])
                if rates[-1] >= 1 - self.delta:
                    break
        return UniversalResult(v, rates, clean, counts[0], counts[1], rates[-1] >= 1 - self.delta)

    def project(self, v: torch.Tensor) -> torch.Tensor:
        """P_{p, xi}(v): v (*S) projected onto the lp ball of radius xi around 0."""
        unbounded = (-math.inf, math.inf)
        return project(torch.zeros_like(v)[None], v[None], self.norm, self.xi, unbounded)[0]

    def _inner_step(
        self, net: nn.Module, x: torch.Tensor, clean: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """DeepFool from clip(x + v) for the points x (n, *S) with clean predictions (n,), all
        still classified as before: (Delta v_i (n, *S), converged (n,) bool)."""
        start = perturb(x, v, self.bounds)
        proposal = self.inner._run(net, start, clean, None)  # noqa: SLF001  (same view, no re-check)
        assert proposal.logits is not None  # DeepFool returns the logits at its final iterate
        converged = proposal.logits.argmax(1) != clean  # crossed the boundary of k(x_i)
        return proposal.x_adv - start, converged

    def _sequential_pass(
        self, net: nn.Module, x: torch.Tensor, clean: torch.Tensor, v: torch.Tensor,
        order: torch.Tensor, counts: list[int],
    ) -> torch.Tensor:  # fmt: skip
        """One pass of Algorithm 1 over x[order], one point at a time."""
        position, window = 0, FIRST_WINDOW
        same: torch.Tensor | None = None  # (w,) k(x + v) == k(x) for order[base : base + w]
        base = 0
        while position < order.numel():
            if same is None:  # look ahead: test the next `window` points with the current v
                base = position
                upcoming = order[base : base + window]
                same = predict(net, perturb(x[upcoming], v, self.bounds)) == clean[upcoming]
            rest = same[position - base :]
            if not bool(rest.any()):  # v fools them all: nothing to do until v changes
                position = base + same.numel()
                same, window = None, min(2 * window, MAX_WINDOW)
                continue
            position += int(rest.to(torch.uint8).argmax())  # first point still classified as before
            i = order[position : position + 1]  # (1,)
            position += 1
            step, converged = self._inner_step(net, x[i], clean[i], v)
            counts[0] += 1
            if bool(converged[0]):
                v = self.project(v + step[0])
                counts[1] += 1
                same, window = None, FIRST_WINDOW  # the look-ahead tests are stale
        return v

    def _batched_pass(
        self, net: nn.Module, x: torch.Tensor, clean: torch.Tensor, v: torch.Tensor,
        order: torch.Tensor, counts: list[int],
    ) -> torch.Tensor:  # fmt: skip
        """One pass over x[order] in minibatches: the unfooled points of a minibatch are
        attacked from the same v, and v moves by the mean of the converged steps."""
        for start in range(0, order.numel(), self.batch_size):
            batch = order[start : start + self.batch_size]
            same = predict(net, perturb(x[batch], v, self.bounds)) == clean[batch]
            todo = batch[same]  # (n,) points still classified as before
            if todo.numel() == 0:
                continue
            step, converged = self._inner_step(net, x[todo], clean[todo], v)
            counts[0] += todo.numel()
            if bool(converged.any()):
                v = self.project(v + step[converged].mean(0))
                counts[1] += int(converged.sum())
        return v


def perturb(x: torch.Tensor, v: torch.Tensor, bounds: Bounds = (0.0, 1.0)) -> torch.Tensor:
    """clip(x + v): the universal perturbation v (*S) applied to every input of x (N, *S)."""
    return clip_to_bounds(x + v, bounds)


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """argmax of the model's output (N,) for x (N, *S), in chunks of ``batch_size``."""
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])


def fooling_rate(
    model: nn.Module,
    x: torch.Tensor,
    perturbation: torch.Tensor,
    clean_predictions: torch.Tensor | None = None,
    *,
    bounds: Bounds = (0.0, 1.0),
    batch_size: int = EVAL_BATCH,
) -> float:
    """Fraction of x (N, *S) whose predicted label changes when v = ``perturbation`` (*S) is
    added: mean 1[k(clip(x + v)) != k(x)] (Moosavi-Dezfooli et al. 2017, eq. 1).

    Measured against the clean predictions k(x) (computed here unless given as (N,)), never
    against labels. The model is evaluated as it is (pass an eval-mode model or an
    `inference_view`)."""
    if perturbation.shape != x.shape[1:]:
        raise ValueError(
            f"the perturbation must have the per-sample shape {tuple(x.shape[1:])}, "
            f"got {tuple(perturbation.shape)}"
        )
    clean = predict(model, x, batch_size) if clean_predictions is None else clean_predictions
    fooled = predict(model, perturb(x, perturbation, bounds), batch_size) != clean
    return float(fooled.float().mean())


def random_perturbation(
    shape: torch.Size | tuple[int, ...],
    norm: Norm,
    xi: float,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A random perturbation of norm exactly xi, the baseline of Moosavi-Dezfooli et al. 2017
    (Section 3, random perturbations of the same norm fool far fewer images).

    l2: a Gaussian direction scaled to ||r||_2 = xi (uniform on the sphere); linf: random signs
    times xi (a uniformly drawn corner of the cube, the largest random perturbation with
    ||r||_inf = xi)."""
    validate_norm(norm)
    validate_eps(xi, "xi")
    if norm == "linf":
        signs = torch.randint(0, 2, tuple(shape), generator=generator).to(device=device, dtype=torch.float32)
        return (2 * signs - 1) * xi
    direction = torch.randn(tuple(shape), generator=generator).to(device=device)
    return direction * (xi / flat_norm(direction[None], "l2").clamp_min(1e-12)[0])
