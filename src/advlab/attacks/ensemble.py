"""Attacks on an ensemble of models: ``attack(models, x, y)`` (Liu, Chen, Liu & Song 2017,
"Delving into transferable adversarial examples and black-box attacks", Section 3).

An ensemble of models f_1..f_M with weights a_i >= 0, sum a_i = 1, is attacked through the
averaged probabilities P(. | x) = sum_i a_i softmax(f_i(x)) (Liu et al., eq. 5), wrapped as
one module, `ProbabilityEnsemble`, whose output is log P: one forward pass of every model per
call. The wrapper works with every single-model attack (``AttackOnEnsemble(PGD(eps=0.1))``);
`EnsembleAttack` is Liu et al.'s optimisation-based approach, Adam on
``-log(1 - P(y | x*)) + lambda * d(x, x*)`` (untargeted) or ``-log P(t | x*) + lambda * d``
(targeted).

The contract mirrors `advlab.attacks.base.Attack`: ``ModelListAttack.__call__`` is final; it
validates the batch and the weights, wraps an `inference_view` of every model (no model is
ever changed: not its parameters, buffers or mode), runs the attack's ``_run`` on the
ensemble, and `finalize_ensemble` projects the proposal onto the threat model and the bounds
and judges success against the ``y`` passed, for the ensemble and for every member.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, final

import torch
from torch import nn

from advlab.attacks.base import (
    Attack,
    Proposal,
    check_logits,
    inference_view,
    is_success,
    per_sample_steps,
)
from advlab.attacks.threat import (
    clip_to_bounds,
    perturbation_norm,
    validate_bounds,
    validate_eps,
    validate_inputs,
    validate_positive_int,
)
from advlab.registry import Registry
from advlab.types import AttackResult, Bounds, Norm

ENSEMBLE_ATTACKS: Registry[type[ModelListAttack]] = Registry("ensemble attack")
"""Attacks on model lists by name (``ENSEMBLE_ATTACKS.get("ensemble")`` -> `EnsembleAttack`)."""


# --------------------------------------------------------------------------- the ensemble


class ProbabilityEnsemble(nn.Module):
    """log sum_i a_i softmax(f_i(x)): the ensemble of Liu et al. 2017, eq. 5, as one module.

    The output (N, K) is the log of the averaged probabilities, so softmax of it gives back
    the averaged probabilities and cross-entropy on it is -log P(y | x): every single-model
    attack works on it unchanged. ``members(x)`` gives every model's logits (M, N, K).
    """

    log_weights: torch.Tensor

    def __init__(self, models: Sequence[nn.Module], weights: torch.Tensor) -> None:
        super().__init__()
        self.models = nn.ModuleList(models)
        self.register_buffer("log_weights", weights.log())  # (M,)

    def members(self, x: torch.Tensor) -> torch.Tensor:
        """Every model's logits at x: (M, N, K), one forward pass per model."""
        return torch.stack([model(x) for model in self.models])

    def combine(self, member_logits: torch.Tensor) -> torch.Tensor:
        """(M, N, K) member logits -> (N, K) log of the weighted average of probabilities."""
        log_probs = member_logits.log_softmax(dim=2) + self.log_weights.view(-1, 1, 1)
        return log_probs.logsumexp(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(self.members(x))


def normalised_weights(weights: Sequence[float] | None, count: int) -> torch.Tensor:
    """The ensemble weights a_i (M,) summing to 1 (equal when None); checked against ``count``
    models: the right length, finite, >= 0, not all 0."""
    if count < 1:
        raise ValueError("an ensemble attack needs at least one model, got an empty list")
    if weights is None:
        return torch.full((count,), 1.0 / count)
    values = [float(w) for w in weights]
    if len(values) != count:
        raise ValueError(f"weights has {len(values)} entries but {count} models were passed")
    if not all(math.isfinite(w) and w >= 0 for w in values) or sum(values) <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all 0, got {tuple(values)}")
    total = sum(values)
    return torch.tensor([w / total for w in values])


# --------------------------------------------------------------------------- the contract


@dataclass(frozen=True)
class EnsembleResult(AttackResult):
    """An `AttackResult` for the ensemble, with every member's view.

    logits:         (N, K) log P(. | x_adv), the ensemble's averaged probabilities (log);
    success:        (N,) the ensemble's prediction argmax P(. | x_adv) differs from y
                    (targeted: equals y);
    member_logits:  (M, N, K) every model's logits at x_adv;
    member_success: (M, N) the same judgement for every model;
    fooled_all:     (N,) success for every model of the ensemble at once.
    """

    member_logits: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    member_success: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.bool))

    @property
    def fooled_all(self) -> torch.Tensor:
        return self.member_success.all(dim=0)


class ModelListAttack:
    """Base of the attacks on model lists: ``attack(models, x, y) -> EnsembleResult``.

    Subclasses are frozen dataclasses with ``weights`` (None: equal) and ``bounds`` fields
    that implement ``_run(ensemble, x, y, generator) -> Proposal`` on a `ProbabilityEnsemble`
    of inference views, and may override the threat model (``norm``, ``radius``, ``enforce``).
    ``__call__`` is final.
    """

    weights: tuple[float, ...] | None
    bounds: Bounds
    targeted: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            raise TypeError(f"{cls.__name__} defines __call__; ensemble attacks implement _run")

    @property
    def norm(self) -> Norm:
        """The norm in which the perturbation is measured."""
        return "l2"

    @property
    def radius(self) -> float | None:
        """The threat model's radius, or None when only the bounds constrain x_adv."""
        return None

    @final
    def __call__(
        self,
        models: Sequence[nn.Module],
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> EnsembleResult:
        """Attack the batch x (N, *S) with labels y (N,) (targets when targeted) on the
        ensemble of ``models``; no model is changed."""
        if isinstance(models, nn.Module) or not all(isinstance(m, nn.Module) for m in models):
            raise ValueError("models must be a list of nn.Module classifiers (one per ensemble member)")
        weights = normalised_weights(self.weights, len(models)).to(x.device)
        validate_inputs(x, y, self.bounds)
        x = x.detach()
        ensemble = ProbabilityEnsemble([inference_view(m) for m in models], weights)
        with torch.no_grad():
            for member in ensemble.members(x):
                check_logits(member, y)
        proposal = self._run(ensemble, x, y, generator)
        return finalize_ensemble(self, ensemble, x, y, proposal)

    def _run(
        self, ensemble: ProbabilityEnsemble, x: torch.Tensor, y: torch.Tensor,
        generator: torch.Generator | None,
    ) -> Proposal:  # pragma: no cover - interface  # fmt: skip
        raise NotImplementedError

    def enforce(self, x: torch.Tensor, proposal: Proposal) -> Proposal:
        """The threat-model projection (only the bounds for minimal-perturbation attacks)."""
        return Proposal(clip_to_bounds(proposal.x_adv.detach(), self.bounds), proposal.steps)

    @classmethod
    def param_names(cls) -> list[str]:
        """The hyperparameters this attack accepts (its dataclass fields)."""
        return [f.name for f in fields(cls)]  # type: ignore[arg-type]


def finalize_ensemble(
    attack: ModelListAttack, ensemble: ProbabilityEnsemble, x: torch.Tensor, y: torch.Tensor,
    proposal: Proposal,
) -> EnsembleResult:  # fmt: skip
    """Enforce the attack's threat model and judge x_adv against y for the ensemble and for
    every member (one forward pass per model at x_adv)."""
    enforced = attack.enforce(x, proposal)
    x_adv = enforced.x_adv.detach()
    with torch.no_grad():
        member_logits = ensemble.members(x_adv)  # (M, N, K)
        logits = ensemble.combine(member_logits)  # (N, K)
    member_success = torch.stack([is_success(m, y, attack.targeted) for m in member_logits])
    return EnsembleResult(
        x_adv=x_adv,
        success=is_success(logits, y, attack.targeted),
        norm=perturbation_norm(x, x_adv, attack.norm),
        steps=per_sample_steps(enforced.steps, x),
        logits=logits,
        params=enforced.params,
        member_logits=member_logits,
        member_success=member_success,
    )


def registered(name: str) -> Callable[[type[ModelListAttack]], type[ModelListAttack]]:
    """Class decorator: register an ensemble attack class under ``name``."""
    return ENSEMBLE_ATTACKS.register(name)


# --------------------------------------------------------------------------- the attacks


def ensemble_objective(log_probs: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Liu et al. 2017's adversarial loss on the ensemble's log P (N, K): (N,) to minimise.

    Untargeted: -log(1 - P(y | x*)), computed as -logsumexp_{k != y} log P(k | x*) (1 - P(y)
    is the probability of the other classes), which keeps its gradient when the models are
    so confident that 1 - P(y) rounds to 0 in float. Targeted: -log P(t | x*) for t = y.
    """
    chosen = log_probs.gather(1, y[:, None]).squeeze(1)  # (N,) log P(y | x*)
    if targeted:
        return -chosen
    others = log_probs.scatter(1, y[:, None], float("-inf"))  # (N, K) log P(k), k != y
    return -others.logsumexp(dim=1)


def rmsd(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Root-mean-square deviation per sample (N,): sqrt(mean_j (x*_j - x_j)^2), Liu et al.'s
    distance (their tables give it in 0-255 pixel values; here in the units of x)."""
    return (x_adv - x).flatten(1).square().mean(1).sqrt()


@registered("ensemble")
@dataclass(frozen=True)
class EnsembleAttack(ModelListAttack):
    """Liu et al. 2017's optimisation-based ensemble attack (Section 3, eq. 5 on the ensemble).

    Minimises over x* in the box, with Adam on the perturbation and a clip to ``bounds`` after
    every step,

        untargeted: -log(1 - sum_i a_i p_i(y | x*)) + lam * d(x, x*)
        targeted:   -log(sum_i a_i p_i(t | x*))     + lam * d(x, x*)

    with p_i the softmax of model i and d = RMSD(x, x*) = sqrt(mean_j (x*_j - x_j)^2)
    (smoothed at 0 by SMOOTHING so its gradient exists there). Every step is one forward and
    one input-backward pass of every model. The final iterate is returned; success is the
    ensemble's prediction against y (`EnsembleResult` also judges every member).

    Args: weights (a_i, normalised; None: equal), lam (>= 0; the gradient of lam * RMSD per
    coordinate scales as lam / D, so lam depends on the input size D: 1 suits 28x28 digits,
    10 the 8x8 digits, with the default steps and lr), steps, lr (Adam's step
    size, in the units of x), targeted, bounds.
    Call: ``EnsembleAttack(lam=1)([m1, m2, m3], x (N, C, H, W), y (N,)) -> EnsembleResult``.
    """

    weights: tuple[float, ...] | None = None
    lam: float = 1.0
    steps: int = 100
    lr: float = 0.01
    targeted: bool = False
    bounds: Bounds = (0.0, 1.0)

    SMOOTHING = 1e-12  # added under the square root of d

    def __post_init__(self) -> None:
        if isinstance(self.lam, bool) or not isinstance(self.lam, int | float) or not (0 <= self.lam < math.inf):
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam!r}")
        validate_positive_int(self.steps, "steps")
        validate_eps(self.lr, "lr")
        object.__setattr__(self, "bounds", validate_bounds(self.bounds))

    def objective(self, ensemble: ProbabilityEnsemble, x: torch.Tensor, x_adv: torch.Tensor,
                  y: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """The per-sample objective (N,) at x_adv: adversarial loss + lam * d(x, x_adv)."""
        distance = ((x_adv - x).flatten(1).square().mean(1) + self.SMOOTHING).sqrt()  # (N,)
        return ensemble_objective(ensemble(x_adv), y, self.targeted) + self.lam * distance

    def _run(
        self, ensemble: ProbabilityEnsemble, x: torch.Tensor, y: torch.Tensor,
        generator: torch.Generator | None,
    ) -> Proposal:  # fmt: skip
        x_adv = x.clone().requires_grad_(True)  # (N, *S) the variable Adam moves
        optimiser = torch.optim.Adam([x_adv], lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.steps):
                # sum over samples: each sample's gradient is its own objective's (Adam's
                # update is elementwise, so samples never mix)
                (grad,) = torch.autograd.grad(self.objective(ensemble, x, x_adv, y).sum(), x_adv)
                x_adv.grad = grad
                optimiser.step()
                with torch.no_grad():
                    x_adv.clamp_(self.bounds[0], self.bounds[1])  # the box constraint
        return Proposal(x_adv.detach(), steps=self.steps)


@registered("on-ensemble")
@dataclass(frozen=True)
class AttackOnEnsemble(ModelListAttack):
    """Any single-model attack (FGSM, PGD, DeepFool, ...) run on the ensemble's averaged
    probabilities (`ProbabilityEnsemble`), with that attack's threat model.

    FGSM/PGD on the ensemble ascend the cross-entropy of log P, i.e. -log sum_i a_i p_i(y | x)
    (Liu et al. 2017's ensemble of the fast gradient methods), one forward pass of every model
    per step. Success is the ensemble's prediction against y.

    Args: attack (a single-model `Attack`; its bounds are used), weights.
    Call: ``AttackOnEnsemble(PGD(eps=0.1))([m1, m2], x, y) -> EnsembleResult``.
    """

    attack: Attack = field(default_factory=lambda: _default_pgd())
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.attack, Attack):
            raise ValueError(f"attack must be a single-model Attack, got {type(self.attack).__name__}")

    @property
    def bounds(self) -> Bounds:  # type: ignore[override]
        return self.attack.bounds

    @property
    def targeted(self) -> bool:  # type: ignore[override]
        return self.attack.targeted

    @property
    def norm(self) -> Norm:
        return self.attack.norm

    @property
    def radius(self) -> float | None:
        return self.attack.radius

    def enforce(self, x: torch.Tensor, proposal: Proposal) -> Proposal:
        return self.attack.enforce(x, proposal)

    def _run(
        self, ensemble: ProbabilityEnsemble, x: torch.Tensor, y: torch.Tensor,
        generator: torch.Generator | None,
    ) -> Proposal:  # fmt: skip
        return self.attack._run(ensemble, x, y, generator)  # noqa: SLF001  (same contract)


def _default_pgd() -> Attack:
    from advlab.attacks.pgd import PGD

    return PGD(eps=0.1)


def create_ensemble_attack(name: str, **params: Any) -> ModelListAttack:
    """Build a registered ensemble attack by name: ``create_ensemble_attack("ensemble", lam=1)``.
    Unknown names list the valid ones; unknown parameters list those the attack accepts."""
    cls = ENSEMBLE_ATTACKS.get(name)
    valid = cls.param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for ensemble attack {name!r}; valid: {', '.join(valid)}"
        )
    return cls(**params)
