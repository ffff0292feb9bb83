"""Expectation over transformation (Athalye, Engstrom, Ilyas & Kwok 2018, "Synthesizing robust
adversarial examples", Section 2, eq. 1-3).

EOT makes an adversarial example robust to a distribution T of transformations by ascending
the expected attack loss E_{t ~ T}[L(f(t(x')), y)] instead of L(f(x'), y). `EOT` wraps any
loss-based attack (PGD, FGSM: the attacks whose ``ascends_per_sample_loss`` is true): the
inner attack runs unchanged on `ExpectationModel`, a view of the model whose
`per_sample_loss` draws ``draws`` fresh transformations of every image at every call and
returns the mean per-transformation cross-entropy, computed by ONE batched forward of the
N x draws transformed images (and one backward through it and the resampling).

How this differs from foolbox's ``ExpectationOverTransformationWrapper``: foolbox averages
the model's LOGITS over its (stochastic) calls and the attack differentiates the loss of the
averaged logits, ∇_x L(mean_t f(t(x)), y), with one forward per sample drawn. The average of
logits is not the expectation Athalye et al. optimise: cross-entropy is convex in the
logits, so L(mean_t z_t) <= mean_t L(z_t) (Jensen), and a few transformations with large
logits dominate the average; its gradient is that of a different objective. This module
computes mean_t ∇_x L(f(t(x)), y) = ∇_x E_t[L(f(t(x)), y)], the unbiased Monte-Carlo gradient
of eq. (1)'s objective, in one batched pass instead of ``draws`` sequential ones.

The threat model is the inner attack's (its ``enforce``); success is judged by the final
step on the untransformed x_adv, like every attack's. Robustness under T is measured by
evaluating x_adv under fresh transformations (`advlab.experiments.eot_table`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks.base import Attack, Proposal, check_logits, registered
from advlab.attacks.threat import validate_bounds, validate_positive_int
from advlab.transforms import TransformDistribution
from advlab.types import Bounds, Norm

DEFAULT_DISTRIBUTION = TransformDistribution(
    rotation=(-20.0, 20.0), translation=(-2.0, 2.0), scale=(0.9, 1.1), brightness=(-0.05, 0.05),
    noise=(0.0, 0.05),
)  # fmt: skip
"""A small 2D distribution for 28x28 digits (rotation, translation, scale, lighting, noise)."""


class ExpectationModel(nn.Module):
    """``model`` seen through random transformations: the objective of EOT.

    `per_sample_loss(x, labels)` draws ``draws`` conditions per image from ``distribution``
    (from ``generator``), renders the N x draws images (one resampling of each image),
    runs ONE forward pass and returns (logits (N, K), loss (N,)) with loss_i the mean over
    the samples of the cross-entropy of the transformed x_i, and logits_i = log of the mean
    predicted probabilities (so that argmax is the class most probable under T).
    `forward(x)` returns those logits. Shapes: x (N, C, H, W).
    """

    def __init__(self, model: nn.Module, distribution: TransformDistribution, draws: int,
                 generator: torch.Generator | None, bounds: Bounds) -> None:  # fmt: skip
        super().__init__()
        self.model = model
        self.distribution = distribution
        self.draws = draws
        self.generator = generator
        self.bounds = bounds
        self.checked = False

    def transformed_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, S, K) logits of S fresh transformations of each image, one forward pass."""
        n, s = x.shape[0], self.draws
        params = self.distribution.uniform.sample(n * s, generator=self.generator, device=x.device, dtype=x.dtype)
        images = self.distribution.apply(x, params.view(n, s, -1), generator=self.generator, bounds=self.bounds)
        return self.model(images.reshape(n * s, *x.shape[1:])).view(n, s, -1)

    @staticmethod
    def expected_log_probabilities(log_probabilities: torch.Tensor) -> torch.Tensor:
        """log mean_s p_s for log-probabilities (N, S, K) -> (N, K)."""
        return torch.logsumexp(log_probabilities, dim=1) - math.log(log_probabilities.shape[1])

    def per_sample_loss(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.transformed_logits(x)  # (N, S, K)
        if not self.checked:  # once: the labels against the model's outputs
            check_logits(logits[:, 0].detach(), labels)
            self.checked = True
        log_p = F.log_softmax(logits, dim=-1)  # (N, S, K), shared by the loss and the logits
        ce = -log_p.gather(2, labels.view(-1, 1, 1).expand(-1, log_p.shape[1], 1)).squeeze(2)  # (N, S)
        return self.expected_log_probabilities(log_p), ce.mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expected_log_probabilities(F.log_softmax(self.transformed_logits(x), dim=-1))


@registered("eot")
@dataclass(frozen=True)
class EOT(Attack):
    """Expectation over transformation around a loss-based attack (Athalye et al. 2018, eq. 1).

    inner: the wrapped attack (PGD or FGSM; targeted or not, its threat model and step rule);
    distribution: the transformations T (`advlab.transforms.TransformDistribution`);
    draws: transformations drawn per image at every loss evaluation (the paper's
    mini-batch of transformations); bounds: None takes the inner attack's, a pair replaces it.

    Cost per inner step: one forward and one backward of N x draws images, plus one
    resampling of the N images (`benchmarks/bench_transforms.py` measures it against that
    floor). Randomness: ``generator`` (transformations, and the inner attack's random start).
    Call: ``EOT(PGD(eps=0.1, targeted=True), draws=30)(model, x, targets, generator=g)``.
    """

    inner: Attack
    distribution: TransformDistribution = field(default=DEFAULT_DISTRIBUTION)
    draws: int = 30
    bounds: Bounds | None = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not isinstance(self.inner, Attack):
            raise ValueError(f"inner must be an Attack instance (e.g. PGD(eps=0.1)), got {self.inner!r}")
        if not type(self.inner).ascends_per_sample_loss:
            from advlab.attacks.base import ATTACKS

            wrappable = [name for name, cls in ATTACKS.items() if cls.ascends_per_sample_loss]
            raise ValueError(
                f"EOT wraps attacks that ascend the per-sample loss ({', '.join(wrappable)}); "
                f"{type(self.inner).__name__} does not"
            )
        if not isinstance(self.distribution, TransformDistribution):
            raise ValueError(f"distribution must be a TransformDistribution, got {self.distribution!r}")
        validate_positive_int(self.draws, "draws")
        if self.bounds is None:
            object.__setattr__(self, "bounds", self.inner.bounds)
        else:
            bounds = validate_bounds(self.bounds)
            object.__setattr__(self, "bounds", bounds)
            if tuple(self.inner.bounds) != bounds:
                object.__setattr__(self, "inner", replace(self.inner, bounds=bounds))  # type: ignore[type-var]

    @property
    def targeted(self) -> bool:  # type: ignore[override]
        """The inner attack's."""
        return self.inner.targeted

    @property
    def norm(self) -> Norm:
        return self.inner.norm

    @property
    def radius(self) -> float | None:
        return self.inner.radius

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:
        assert self.bounds is not None
        wrapped = ExpectationModel(model, self.distribution, self.draws, generator, self.bounds)
        inner = self.inner._run(wrapped, x, y, generator)
        # the inner logits are expected log-probabilities under T: the final step evaluates
        # the plain model at x_adv instead
        return Proposal(inner.x_adv, inner.steps, None, inner.params)

    def enforce(self, x: torch.Tensor, proposal: Proposal) -> Proposal:
        """The inner attack's threat model."""
        return self.inner.enforce(x, proposal)
