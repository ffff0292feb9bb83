"""Robust physical perturbations, RP2 (Eykholt, Evtimov, Fernandes, Li, Rahmati, Xiao, Prakash,
Kohno & Song 2018, "Robust physical-world attacks on deep learning visual classification",
Section 4, eq. 3-4).

A perturbation delta confined to a mask M is optimised over the object seen under sampled
physical conditions (distance, viewing angle, lighting: `advlab.transforms.
TransformDistribution`):

    argmin_delta  lambda ||M . delta||_p + NPS(M . delta) + E_{t ~ T} J(f(t(x + M . delta)), y*)

with J the cross-entropy to the target y* (targeted) or minus the cross-entropy to the label
(untargeted) and NPS the non-printability score over a palette of printable colours. The
paper's two-stage mask procedure (``mask="stickers"``): an l1-penalised attack with the whole
object as mask shows the vulnerable regions; the mask becomes the ``stickers`` rectangles
holding most of that perturbation; the l2-penalised (``penalty``) attack is then re-run
inside them (warm-started from the first stage). ``mask="object"`` skips the first stage and
perturbs the whole object (here: the whole image, which is the object's crop).

Every image gets its own delta and mask (the batch is N independent objects). Threat model:
x_adv differs from x only inside the mask, and lies in the bounds; ``enforce`` re-applies
both; `AttackResult.params` is the mask, (N, H * W) of 0 / 1.
Shapes: x (N, C, H, W), y (N,), delta (N, C, H, W), masks (N, 1, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks.base import Attack, Proposal, check_logits, registered
from advlab.attacks.masks import non_printability, sticker_mask, sticker_size_pixels
from advlab.attacks.threat import validate_bounds, validate_eps, validate_positive_int
from advlab.transforms import TransformDistribution
from advlab.types import Bounds

DEFAULT_CONDITIONS = TransformDistribution(
    rotation=(-5.0, 5.0), scale=(0.85, 1.0), yaw=(-50.0, 50.0), blur=(0.0, 1.0),
    brightness=(-0.1, 0.1), contrast=(0.8, 1.1),
)  # fmt: skip
"""Physical conditions for a centred object crop: distance as scale and defocus, viewing
angle as yaw, lighting as brightness and contrast."""

ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8


@registered("rp2")
@dataclass(frozen=True)
class RP2(Attack):
    """RP2 (Eykholt et al. 2018): a masked perturbation robust to physical conditions.

    mask: "stickers" (two-stage: l1 attack over the object, then ``stickers`` rectangles of
    ``sticker_size`` (fractions of the image height and width) where it put most
    perturbation) or "object" (the whole image). steps / mask_steps: Adam steps of the final
    stage / of the l1 mask stage, learning rate ``step_size``. penalty, norm_weight: the
    final stage's lambda ||M . delta||_p; mask_weight: the l1 stage's lambda.
    nps_weight, palette: weight of the non-printability score and the printable colours,
    flattened (k colours of C channels: k * C numbers; empty: no NPS term).
    draws: conditions drawn per image at every step from ``conditions``.
    targeted: y are targets (the paper's setting; success = target class), else labels.

    Randomness: ``generator`` (the sampled conditions). Cost per step: one forward and
    backward of N x draws images. Call: ``RP2(targeted=True)(model, x, targets, generator=g)``.
    """

    mask: Literal["stickers", "object"] = "stickers"
    stickers: int = 2
    sticker_size: tuple[float, float] = (0.25, 0.25)
    steps: int = 200
    mask_steps: int = 100
    step_size: float = 0.05
    penalty: Literal["l1", "l2"] = "l2"
    norm_weight: float = 0.02
    mask_weight: float = 0.002
    nps_weight: float = 0.0
    palette: tuple[float, ...] = ()
    draws: int = 8
    conditions: TransformDistribution = field(default=DEFAULT_CONDITIONS)
    targeted: bool = False
    bounds: Bounds = (0.0, 1.0)

    def __post_init__(self) -> None:
        if self.mask not in ("stickers", "object"):
            raise ValueError(f"mask must be one of stickers, object, got {self.mask!r}")
        if self.penalty not in ("l1", "l2"):
            raise ValueError(f"penalty must be one of l1, l2, got {self.penalty!r}")
        for name in ("stickers", "steps", "mask_steps", "draws"):
            validate_positive_int(getattr(self, name), name)
        validate_eps(self.step_size, "step_size")
        for name in ("norm_weight", "mask_weight", "nps_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        height, width = (float(v) for v in self.sticker_size)
        sticker_size_pixels((height, width), 1, 1)  # validates the fractions
        object.__setattr__(self, "sticker_size", (height, width))
        object.__setattr__(self, "palette", tuple(float(v) for v in self.palette))
        if self.nps_weight > 0 and not self.palette:
            raise ValueError("nps_weight > 0 needs a palette of printable colours")
        if not isinstance(self.conditions, TransformDistribution):
            raise ValueError(f"conditions must be a TransformDistribution, got {self.conditions!r}")
        object.__setattr__(self, "bounds", validate_bounds(self.bounds))

    def _palette(self, x: torch.Tensor) -> torch.Tensor | None:
        if not self.palette:
            return None
        c = x.shape[1]
        if len(self.palette) % c:
            raise ValueError(f"palette has {len(self.palette)} numbers, not a multiple of the {c} channels")
        return torch.tensor(self.palette, device=x.device, dtype=x.dtype).view(-1, c)

    def _objective(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, delta: torch.Tensor,
        penalty: str, weight: float, generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample objective (N,) of eq. (3) and the logits (N*S, K) it saw."""
        n, s = x.shape[0], self.draws
        x_p = (x + mask * delta).clamp(*self.bounds)  # (N, C, H, W) the object with its stickers
        params = self.conditions.uniform.sample(n * s, generator=generator, device=x.device, dtype=x.dtype)
        seen = self.conditions.apply(x_p, params.view(n, s, -1), generator=generator, bounds=self.bounds)
        logits = model(seen.reshape(n * s, *x.shape[1:]))  # (N*S, K)
        ce = F.cross_entropy(logits, y.repeat_interleave(s), reduction="none").view(n, s).mean(1)
        objective = ce if self.targeted else -ce
        masked = (mask * delta).flatten(1)  # (N, C*H*W)
        size = masked.abs().sum(1) if penalty == "l1" else (masked.pow(2).sum(1) + 1e-12).sqrt()
        objective = objective + weight * size
        palette = self._palette(x)
        if palette is not None and self.nps_weight > 0:
            objective = objective + self.nps_weight * non_printability(x_p, mask, palette)
        return objective, logits

    def _optimise(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, delta: torch.Tensor,
        steps: int, penalty: str, weight: float, generator: torch.Generator | None,
    ) -> torch.Tensor:
        """``steps`` Adam steps on delta (N, C, H, W) (elementwise, so samples stay independent),
        each followed by the projection of x + delta onto the bounds (so that clipping never
        zeroes the gradient of a pixel that overshot)."""
        lower, upper = self.bounds[0] - x, self.bounds[1] - x  # (N, C, H, W) feasible delta
        m, v = torch.zeros_like(delta), torch.zeros_like(delta)
        (b1, b2), lr = ADAM_BETAS, self.step_size
        for step in range(1, steps + 1):
            with torch.enable_grad():
                d = delta.detach().requires_grad_(True)
                objective, logits = self._objective(model, x, y, mask, d, penalty, weight, generator)
                if step == 1:
                    check_logits(logits.detach()[:: self.draws], y)
                (grad,) = torch.autograd.grad(objective.sum(), d)  # (N, C, H, W), inputs only
            m.mul_(b1).add_(grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            step_dir = (m / (1 - b1**step)) / ((v / (1 - b2**step)).sqrt() + ADAM_EPS)
            delta = torch.clamp(delta - lr * step_dir, lower, upper)
        return delta.detach()

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:
        n, _, h, w = x.shape
        mask = x.new_ones((n, 1, h, w))  # the whole object
        delta = torch.zeros_like(x)
        steps = self.steps
        if self.mask == "stickers":
            delta = self._optimise(model, x, y, mask, delta, self.mask_steps, "l1", self.mask_weight, generator)
            saliency = (mask * delta).abs().sum(1, keepdim=True)  # (N, 1, H, W)
            mask = sticker_mask(saliency, self.stickers, sticker_size_pixels(self.sticker_size, h, w))
            delta = delta * mask
            steps += self.mask_steps
        delta = self._optimise(model, x, y, mask, delta, self.steps, self.penalty, self.norm_weight, generator)
        x_adv = torch.where(mask > 0, (x + delta).clamp(*self.bounds), x)
        return Proposal(x_adv, steps=steps, params=mask.flatten(1))

    def enforce(self, x: torch.Tensor, proposal: Proposal) -> Proposal:
        """x_adv equals x outside the mask (params, (N, H*W)) and lies in the bounds."""
        if proposal.params is None:
            raise RuntimeError("RP2 must propose its mask")
        n, _, h, w = x.shape
        mask = (proposal.params.detach().view(n, 1, h, w) > 0.5).to(x.dtype)
        x_adv = torch.where(mask > 0, proposal.x_adv.detach().clamp(*self.bounds), x)
        return Proposal(x_adv, proposal.steps, proposal.logits, mask.flatten(1))
