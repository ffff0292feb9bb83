"""Spatial attacks: adversarial rotations and translations (Engstrom, Tran, Tsipras, Schmidt &
Madry 2019, "Exploring the landscape of spatial robustness", Section 3).

The threat model is not an lp ball but a box of transformation parameters: a rotation by at
most ``max_rotation`` degrees and translations by at most ``max_translation`` pixels on each
axis (the paper: 30 degrees and 3 pixels for MNIST and CIFAR-10, about 10% of the image).
Three adversaries search it:

- `SpatialGrid`: exhaustive search over a grid (31 rotations x 5 x 5 translations = 775);
- `SpatialRandom`: worst of k transformations drawn per example from the continuous box;
- `SpatialPGD`: first-order ascent on (angle, dx, dy) through the differentiable resampling,
  projected onto the box, which the paper shows to be weak on this non-concave landscape.

All three keep, per image, the misclassifying transformation with the highest loss, else the
highest-loss one (the rule of the authors' `spatial_attack.py`). ``enforce`` clamps the
chosen parameters to the box and re-renders x_adv from the clean x, so every result lies in
the threat model by construction; `AttackResult.params` holds them, (N, 3) = (angle degrees,
dx pixels, dy pixels). ``norm`` (l2 of x_adv - x) is reported for information only.

Shapes: x (N, C, H, W), y (N,); transformed batches (N, T, C, H, W) for T transforms per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks.base import Attack, Proposal, check_logits, registered
from advlab.attacks.threat import validate_bounds, validate_positive_int
from advlab.transforms import Grid, Interpolation, Padding, Uniform, rotate_translate
from advlab.transforms.geometric import validate_sampling
from advlab.types import Bounds


@dataclass
class WorstTransforms:
    """Per-sample running choice: params (N, P), attack loss (N,), success (N,) bool.

    `update` takes T candidates per sample and keeps, per sample, a successful one with the
    highest loss, else the highest-loss one; a candidate replaces the current choice when it
    succeeds and the choice does not, or when both agree and its loss is strictly higher (so
    ties keep the earliest candidate, like the authors' code).
    """

    params: torch.Tensor
    loss: torch.Tensor
    success: torch.Tensor

    @classmethod
    def empty(cls, n: int, width: int, like: torch.Tensor) -> WorstTransforms:
        return cls(like.new_zeros((n, width)), like.new_full((n,), -math.inf),
                   torch.zeros(n, dtype=torch.bool, device=like.device))  # fmt: skip

    def update(self, params: torch.Tensor, loss: torch.Tensor, success: torch.Tensor,
               rows: torch.Tensor | None = None) -> None:  # fmt: skip
        """params (M, T, P), loss (M, T), success (M, T) bool for the samples ``rows`` (M,)
        (None: all N, in order)."""
        any_success = success.any(1, keepdim=True)  # (M, 1)
        # among the successful candidates if there is one, else among all
        ranked = torch.where(success | ~any_success, loss, torch.full_like(loss, -math.inf))
        best = ranked.argmax(1)  # (M,) first maximum
        cand_loss = loss.gather(1, best[:, None]).squeeze(1)
        cand_success = any_success.squeeze(1)
        old_params, old_loss, old_success = ((self.params, self.loss, self.success) if rows is None else
                                             (self.params[rows], self.loss[rows], self.success[rows]))  # fmt: skip
        better = (cand_success & ~old_success) | ((cand_success == old_success) & (cand_loss > old_loss))
        chosen = params.gather(1, best.view(-1, 1, 1).expand(-1, 1, params.shape[-1])).squeeze(1)
        new_params = torch.where(better[:, None], chosen, old_params)
        new_loss, new_success = torch.where(better, cand_loss, old_loss), old_success | cand_success
        if rows is None:
            self.params, self.loss, self.success = new_params, new_loss, new_success
        else:
            self.params[rows], self.loss[rows], self.success[rows] = new_params, new_loss, new_success


@dataclass(frozen=True)
class SpatialAttack(Attack):
    """Shared part of the spatial attacks (not registered): the parameter box, rendering,
    the per-transformation loss and the threat-model step."""

    max_rotation: float = 30.0
    max_translation: float = 3.0
    targeted: bool = False
    interpolation: Interpolation = "bilinear"
    padding: Padding = "zeros"
    bounds: Bounds = (0.0, 1.0)

    def __post_init__(self) -> None:
        for name, top in (("max_rotation", 180.0), ("max_translation", math.inf)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
                raise ValueError(f"{name} must be a number in [0, {top}], got {value!r}")
        validate_sampling(self.interpolation, self.padding)
        object.__setattr__(self, "bounds", validate_bounds(self.bounds))

    @property
    def box(self) -> Uniform:
        """The threat model: |angle| <= max_rotation, |dx|, |dy| <= max_translation."""
        limits = (float(self.max_rotation), float(self.max_translation), float(self.max_translation))
        return Uniform(tuple(-v for v in limits), limits)

    def render(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) transformed by params (N, 3) -> (N, C, H, W), or (N, T, 3) -> (N, T, C, H, W)."""
        return rotate_translate(x, params, interpolation=self.interpolation, padding=self.padding, bounds=self.bounds)

    def enforce(self, x: torch.Tensor, proposal: Proposal) -> Proposal:
        """Clamp the parameters into the box and re-render x_adv from the clean x."""
        if proposal.params is None:
            raise RuntimeError(f"{type(self).__name__} must propose its transformation parameters")
        params = self.box.clamp(proposal.params.detach())
        return Proposal(self.render(x, params), proposal.steps, proposal.logits, params)

    def transformed_loss(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attack loss (N, T), success (N, T) and logits (N, T, K) of the T transformations
        params (N, T, 3) of each image, one model call on the N*T images. The attack loss is
        the cross-entropy to y (untargeted) or minus the cross-entropy to the targets y."""
        n, t = params.shape[:2]
        images = self.render(x, params).reshape(n * t, *x.shape[1:])  # (N*T, C, H, W)
        logits = model(images)  # (N*T, K)
        labels = y.repeat_interleave(t)  # (N*T,) sample-major, like images
        ce = F.cross_entropy(logits, labels, reduction="none").view(n, t)
        hit = (logits.argmax(1) == labels).view(n, t)
        return (-ce, hit, logits.view(n, t, -1)) if self.targeted else (ce, ~hit, logits.view(n, t, -1))

    def search(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, candidates: torch.Tensor, per_call: int,
        stop_when_fooled: bool = False,
    ) -> tuple[WorstTransforms, torch.Tensor]:
        """Evaluate candidates (N, T, 3) in order, in chunks of about ``per_call`` images per
        model call (at least one transformation of each image searched), and keep the worst
        per image. ``stop_when_fooled``: an image leaves the search once a candidate fools
        the model (its chunk's worst fooling candidate is kept); chunks then start at one
        candidate per image and double (so an image fooled by its k-th candidate costs at
        most 2k evaluations) until they fill the model calls. Returns the choice and the
        number of candidates evaluated per image (N,)."""
        n, t = candidates.shape[:2]
        worst = WorstTransforms.empty(n, 3, x)
        evaluated = torch.zeros(n, dtype=torch.long, device=x.device)
        active: torch.Tensor | None = None  # None: every image, in order (no gather)
        start, growth = 0, 1
        with torch.no_grad():
            while start < t:
                count = n if active is None else int(active.numel())
                if count == 0:
                    break
                step = max(1, per_call // count)  # transformations per chunk
                if stop_when_fooled:
                    step, growth = min(step, growth), 2 * growth
                if active is None:
                    chunk, xs, ys = candidates[:, start : start + step], x, y
                else:
                    chunk, xs, ys = candidates[active, start : start + step], x[active], y[active]
                loss, success, logits = self.transformed_loss(model, xs, ys, chunk)
                if start == 0:
                    check_logits(logits[:, 0], y)
                worst.update(chunk, loss, success, rows=active)
                if active is None:
                    evaluated += chunk.shape[1]
                else:
                    evaluated[active] += chunk.shape[1]
                if stop_when_fooled:
                    rows = torch.arange(n, device=x.device) if active is None else active
                    active = rows[~worst.success[rows]]
                start += step
        return worst, evaluated


@registered("spatial-grid")
@dataclass(frozen=True)
class SpatialGrid(SpatialAttack):
    """Exhaustive grid search over rotations and translations (Engstrom et al. 2019, Section 3,
    "Grid search"): ``rotations`` angles evenly spaced in [-max_rotation, max_rotation] times
    ``translations`` x ``translations`` pixel shifts in [-max_translation, max_translation]
    (31 x 5 x 5 = 775, the paper's grid). The N x 775 transformed images are evaluated in
    chunks of about ``batch_size`` images per model call; per image it keeps the
    misclassifying transformation with the highest loss, else the highest loss.

    ``exhaustive=False``: an image leaves the search at the first chunk of grid points with a
    misclassifying one (foolbox's SpatialAttack semantics: any adversarial, not the worst;
    the accuracy under attack is the same, the cost lower), its steps = the points tried.

    Threat model: the parameter box (see the module docstring). Deterministic.
    Call: ``SpatialGrid()(model, x (N, C, H, W), y (N,)) -> AttackResult`` with params (N, 3),
    steps = grid points evaluated per image.
    """

    rotations: int = 31
    translations: int = 5
    batch_size: int = 4096
    exhaustive: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("rotations", "translations", "batch_size"):
            validate_positive_int(getattr(self, name), name)
        if not isinstance(self.exhaustive, bool):
            raise ValueError(f"exhaustive must be a bool, got {self.exhaustive!r}")

    @property
    def grid(self) -> Grid:
        """The grid of (angle, dx, dy) points, rotation slowest."""
        return Grid.symmetric((self.max_rotation, self.max_translation, self.max_translation),
                              (self.rotations, self.translations, self.translations))  # fmt: skip

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:
        grid = self.grid
        points = grid.points(device=x.device, dtype=x.dtype)  # (G, 3)
        candidates = points.unsqueeze(0).expand(x.shape[0], -1, -1)  # (N, G, 3), a view
        worst, evaluated = self.search(model, x, y, candidates, self.batch_size, stop_when_fooled=not self.exhaustive)
        return Proposal(self.render(x, worst.params), steps=evaluated, params=worst.params)


@registered("spatial-random")
@dataclass(frozen=True)
class SpatialRandom(SpatialAttack):
    """Worst of ``tries`` random transformations (Engstrom et al. 2019, Section 3, "Random"):
    each image draws its own ``tries`` (angle, dx, dy) uniformly from the continuous box (not
    from the grid, as the authors' code does) and keeps the worst, by the rule of
    `SpatialGrid`. tries = 1 is a random transformation (augmentation); tries = 10 the
    paper's worst-of-10 adversary and training.

    Randomness: ``generator`` (draws depend on the batch shape, like PGD's random starts).
    Call: ``SpatialRandom(tries=10)(model, x, y, generator=g) -> AttackResult`` with params (N, 3).
    """

    tries: int = 10
    batch_size: int = 4096

    def __post_init__(self) -> None:
        super().__post_init__()
        validate_positive_int(self.tries, "tries")
        validate_positive_int(self.batch_size, "batch_size")

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:
        n = x.shape[0]
        draws = self.box.sample(n * self.tries, generator=generator, device=x.device, dtype=x.dtype)
        worst, _ = self.search(model, x, y, draws.view(n, self.tries, 3), self.batch_size)
        return Proposal(self.render(x, worst.params), steps=self.tries, params=worst.params)


@registered("spatial-pgd")
@dataclass(frozen=True)
class SpatialPGD(SpatialAttack):
    """First-order spatial adversary (Engstrom et al. 2019, Section 3, "First-order method"):
    projected gradient ascent on u = (angle / max_rotation, dx / max_translation,
    dy / max_translation) in [-1, 1]^3, ``u <- clip(u + step_size * sign(grad_u L))``, the
    gradient taken through the bilinear resampling (`rotate_translate` is differentiable in
    its parameters). Keeps the worst iterate seen (rule of `SpatialGrid`), which can only
    help it; the paper's point is that it still falls short of the grid on this landscape.

    Args: steps, step_size (in normalised units, default 2.5 / steps after Madry et al.),
    random_start (u_0 uniform in the box, else 0), the box and sampling of `SpatialAttack`.
    Call: ``SpatialPGD(steps=200)(model, x, y, generator=g) -> AttackResult``, params (N, 3).
    """

    steps: int = 200
    step_size: float | None = None
    random_start: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        validate_positive_int(self.steps, "steps")
        if self.step_size is not None and not (isinstance(self.step_size, int | float) and self.step_size > 0):
            raise ValueError(f"step_size must be a number > 0, got {self.step_size!r}")

    @property
    def alpha(self) -> float:
        """The step size actually used (normalised units)."""
        return float(self.step_size) if self.step_size is not None else 2.5 / self.steps

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:
        n = x.shape[0]
        limits = torch.tensor(self.box.high, device=x.device, dtype=x.dtype)  # (3,)
        if self.random_start:
            u = 2 * torch.rand((n, 3), generator=generator, device=x.device, dtype=x.dtype) - 1
        else:
            u = x.new_zeros((n, 3))
        worst = WorstTransforms.empty(n, 3, x)
        for step in range(self.steps + 1):
            with torch.enable_grad():
                u_req = u.detach().requires_grad_(step < self.steps)
                params = (u_req * limits).unsqueeze(1)  # (N, 1, 3)
                loss, success, logits = self.transformed_loss(model, x, y, params)
                if step == 0:
                    check_logits(logits[:, 0].detach(), y)
                worst.update(params.detach(), loss.detach(), success)
                if step == self.steps:  # the final iterate is evaluated, not stepped from
                    break
                (grad,) = torch.autograd.grad(loss.sum(), u_req)  # (N, 3), inputs only
            u = (u + self.alpha * grad.sign()).clamp(-1.0, 1.0)
        return Proposal(self.render(x, worst.params), steps=self.steps, params=worst.params)
