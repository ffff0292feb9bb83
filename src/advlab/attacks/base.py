"""The attack contract shared by every attack: one final step that enforces the threat model.

``Attack.__call__`` is the same for every attack and cannot be overridden (the foolbox-3
fixed-epsilon design): it validates the batch, runs the attack's own ``_run`` on a view of
the model that can change nothing (`inference_view`), and hands the candidate to
``finalize``, which projects it onto the threat model, clips it to the input bounds, judges
success against the ``y`` the caller passed and measures the perturbation norm. Whatever an
attack stops on internally (DeepFool stops on its own first prediction k0), ``success``
always means: misclassified with respect to ``y`` (targeted: equal to the target ``y``).

Shapes: inputs x are (N, *S) with S the per-sample shape, usually (C, H, W); labels (N,)
long; logits (N, K).
"""

from __future__ import annotations

import copy
import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, final

import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks.conv_kernels import tune_conv_kernels
from advlab.attacks.threat import perturbation_norm, project, validate_inputs
from advlab.registry import Registry
from advlab.types import AttackResult, Bounds, Norm

ATTACKS: Registry[type[Attack]] = Registry("attack")
"""Attack classes by name (``ATTACKS.get("deepfool")`` -> `DeepFool`)."""


@dataclass(frozen=True)
class Proposal:
    """What an attack's ``_run`` hands to the final step.

    x_adv:  (N, *S) candidate adversarial inputs (projected and clipped by `finalize`);
    steps:  (N,) iterations each sample used, or one int for all;
    logits: (N, K) model output at x_adv when the attack has it (reused only if the
            threat-model step leaves x_adv bit-for-bit unchanged);
    params: (N, P) per-sample parameters of the attack's transformation (spatial attacks),
            or None.
    """

    x_adv: torch.Tensor
    steps: torch.Tensor | int
    logits: torch.Tensor | None = None
    params: torch.Tensor | None = None


class Attack:
    """Base of the frozen-dataclass attacks: ``attack(model, x, y) -> AttackResult``.

    Subclasses are ``@dataclass(frozen=True)`` with hyperparameters as fields (always
    including ``bounds``; ``eps`` when the threat model is a ball, ``targeted`` when the
    attack can be targeted) and implement ``_run(model, x, y, generator) -> Proposal``.
    They never write gradients into model parameters (gradients are taken with
    ``torch.autograd.grad`` with respect to the inputs only). ``__call__`` is final: a
    subclass that defines it is refused when the class is created.

    A subclass whose threat model is not an lp ball around x (spatial transformations,
    masked patches) overrides ``enforce``; nothing else.
    """

    bounds: Bounds
    targeted: bool = False  # overridden by a dataclass field in attacks that can be targeted
    ascends_per_sample_loss: ClassVar[bool] = False
    """True for attacks whose only use of the model is ascending `per_sample_loss` (PGD,
    FGSM): expectation over transformation (`advlab.attacks.EOT`) can wrap exactly those."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} defines __call__; attacks implement _run(model, x, y, generator) "
                "and the base class's final __call__ enforces the threat model"
            )

    @property
    def norm(self) -> Norm:
        """The norm in which the perturbation is measured (a field in attacks that choose)."""
        return "l2"

    @property
    def radius(self) -> float | None:
        """The threat model's radius (``eps``), or None for minimal-perturbation attacks."""
        return getattr(self, "eps", None)

    @final
    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> AttackResult:
        """Attack the batch x (N, *S) with labels y (N,) (targets when targeted).

        The caller's model is never changed: not its parameters, buffers, gradients or mode.
        A model with modules in training mode is attacked through `inference_view` (frozen
        BatchNorm statistics, no dropout), the caller's module untouched.
        """
        validate_inputs(x, y, self.bounds)
        x = x.detach()
        net = inference_view(model)
        check_labels(net, x, y)
        proposal = self._run(net, x, y, generator)
        return finalize(self, net, x, y, proposal)

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:  # pragma: no cover - interface
        raise NotImplementedError

    def enforce(self, x: torch.Tensor, proposal: Proposal) -> Proposal:
        """The threat-model projection: x_adv onto the ``radius``-ball of ``norm`` around x,
        then onto the bounds (only the bounds for minimal-perturbation attacks)."""
        x_adv = project(x, proposal.x_adv.detach(), self.norm, self.radius, self.bounds)
        return Proposal(x_adv, proposal.steps, proposal.logits, proposal.params)

    @classmethod
    def param_names(cls) -> list[str]:
        """The hyperparameters this attack accepts (its dataclass fields)."""
        return [f.name for f in fields(cls)]  # type: ignore[arg-type]


def inference_view(model: nn.Module) -> nn.Module:
    """``model`` itself when every module is in eval mode; otherwise an eval-mode copy of its
    module tree that shares the caller's parameter and buffer tensors.

    Attacking a model in training mode would update BatchNorm running statistics (and
    ``num_batches_tracked``) at every forward pass and apply dropout noise to the gradients;
    toggling ``model.eval()`` would change the caller's module. The view costs one copy of
    the module objects (no tensor is copied) and evaluates exactly as ``model.eval()`` would.
    """
    if not any(m.training for m in model.modules()):
        return model
    shared = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    view = copy.deepcopy(model, memo=shared)
    return view.eval()


def cpu_attack_copy(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """An eval-mode copy of ``model`` tuned for long attacks on image batches x (N, C, H, W)
    on the CPU; ``model`` itself otherwise (other devices, other inputs, no 4-D weight).

    Two changes of kernel, none of function (outputs and input gradients agree to float32
    rounding, not bit for bit; the copy costs one copy of the weights):
    - 4-D weights stored channels-last: oneDNN's convolutions then run without reordering the
      weights at every call; measured on LeNet (mnist-5k, 35 images, 1 thread) a forward took
      4.7 ms instead of 8.0 ms and a forward+backward 15.5 ms instead of 19.7 ms
      (benchmarks/bench_evaluate.py), and Square's 5,000 queries are forwards;
    - the parameters stop requiring gradients and each plain convolution times the candidate
      kernels for its forward and its input's gradient and keeps the fastest
      (`advlab.attacks.conv_kernels`; oneDNN's input gradient is 5-6x slower than PyTorch's
      im2col kernel on a grey-scale model's first layer, NNPACK's forward beats oneDNN on
      LeNet's second).
    """
    if x.ndim != 4 or x.device.type != "cpu" or not any(p.ndim == 4 for p in model.parameters()):
        return model
    try:
        twin = copy.deepcopy(inference_view(model))
    except (TypeError, RuntimeError, copy.Error):  # a module that cannot be copied: as it is
        return model
    return tune_conv_kernels(twin.eval().to(memory_format=torch.channels_last))


# --------------------------------------------------------------------------- model calls


def check_logits(logits: torch.Tensor, labels: torch.Tensor) -> None:
    """Check the model output (N, K) against labels (N,); warn if it looks like probabilities.

    Attacks need logits: softmax outputs saturate and make gradients (and DeepFool's linear
    boundaries) vanish, so rows that sum to one with all entries in [0, 1] trigger a warning.
    """
    if logits.ndim != 2 or logits.shape[0] != labels.shape[0]:
        raise ValueError(
            f"the model must return logits of shape (N, K) = ({labels.shape[0]}, K), "
            f"got {tuple(logits.shape)}"
        )
    num_classes = logits.shape[1]
    if num_classes < 2:
        raise ValueError(f"the model must output at least 2 classes, got K = {num_classes}")
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(
            f"labels must be in [0, {num_classes - 1}] for a model with {num_classes} outputs, "
            f"got range [{int(labels.min())}, {int(labels.max())}]"
        )
    with torch.no_grad():
        in_unit = bool(((logits >= 0) & (logits <= 1)).all())
        sums_to_one = bool(torch.allclose(logits.sum(1), torch.ones_like(logits[:, 0]), atol=1e-4))
    if in_unit and sums_to_one:
        warnings.warn(
            "the model output looks like probabilities (rows in [0, 1] summing to 1); attacks "
            "expect logits, so remove the final softmax",
            UserWarning,
            stacklevel=3,
        )


def is_success(logits: torch.Tensor, labels: torch.Tensor, targeted: bool) -> torch.Tensor:
    """(N,) bool: targeted -> argmax equals the target; untargeted -> argmax differs from label."""
    pred = logits.argmax(dim=1)
    return pred == labels if targeted else pred != labels


def check_labels(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> None:
    """Refuse labels outside the model's classes before any loss is computed (a cross-entropy
    would fail deep inside with an index error): K from one forward of the first sample."""
    with torch.no_grad():
        num_classes = model(x[:1]).shape[-1]
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(
            f"labels must be in [0, {num_classes - 1}] for a model with {num_classes} outputs, "
            f"got range [{int(labels.min())}, {int(labels.max())}]"
        )


def per_sample_loss(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor, check: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss that loss-based attacks (PGD, FGSM) ascend: (logits (N, K), loss (N,)).

    The cross-entropy of ``model(x)`` against ``labels``, per sample (``check``: validate the
    logits and labels with `check_logits` first). A model that defines
    ``per_sample_loss(x, labels) -> (logits, loss)`` supplies its own objective instead: the
    expectation-over-transformation wrapper (`advlab.attacks.eot`) returns the mean over
    sampled transformations of the per-transformation cross-entropy, from one batched
    forward pass. Model wrappers that only change the logits need nothing here.
    """
    own = getattr(model, "per_sample_loss", None)
    if own is not None:
        return own(x, labels)  # type: ignore[no-any-return]
    logits = model(x)  # (N, K)
    if check:
        check_logits(logits.detach(), labels)
    return logits, F.cross_entropy(logits, labels, reduction="none")


def loss_gradient(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor, targeted: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ascent direction of the attack objective at x, by one forward and one input backward.

    Untargeted: gradient of the cross-entropy to ``labels`` (to increase it); targeted: minus
    the gradient of the cross-entropy to the targets (to decrease it); the loss is
    `per_sample_loss`'s. Gradients flow to x only (``torch.autograd.grad``), never into the
    model's parameters.
    Returns (direction (N, *S), logits (N, K) detached, per-sample loss (N,) detached).
    """
    with torch.enable_grad():
        x_req = x.detach().requires_grad_(True)
        logits, loss = per_sample_loss(model, x_req, labels)  # (N, K), (N,)
        (grad,) = torch.autograd.grad(loss.sum(), x_req)
    if targeted:
        grad = -grad
    return grad, logits.detach(), loss.detach()


def model_logits(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Logits (N, K) at x without gradients, checked by `check_logits`."""
    with torch.no_grad():
        logits = model(x)
    check_logits(logits, labels)
    return logits


# --------------------------------------------------------------------------- the final step


def finalize(
    attack: Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, proposal: Proposal
) -> AttackResult:
    """Enforce the attack's threat model on the proposal and build the `AttackResult`.

    x: (N, *S) clean inputs; y: (N,) the labels the caller passed (targets when the attack
    is targeted). Success is judged against y, whatever the attack attacked internally.
    The proposal's logits are reused only when the threat-model step left x_adv
    bit-for-bit unchanged; otherwise the model is evaluated once more.
    """
    enforced = attack.enforce(x, proposal)
    x_adv = enforced.x_adv.detach()
    logits = proposal.logits
    if logits is None or not torch.equal(x_adv, proposal.x_adv):
        with torch.no_grad():
            logits = model(x_adv)
    logits = logits.detach()
    return AttackResult(
        x_adv=x_adv,
        success=is_success(logits, y, attack.targeted),
        norm=perturbation_norm(x, x_adv, attack.norm),
        steps=per_sample_steps(enforced.steps, x),
        logits=logits,
        params=enforced.params,
    )


def per_sample_steps(steps: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    """A proposal's step count as (N,) long: one int for all samples of x (N, *S) repeated."""
    if isinstance(steps, int):
        return torch.full((x.shape[0],), steps, dtype=torch.long, device=x.device)
    return steps.to(torch.long)


def registered(name: str) -> Callable[[type[Attack]], type[Attack]]:
    """Class decorator: register an attack class under ``name`` in `ATTACKS`."""
    return ATTACKS.register(name)
