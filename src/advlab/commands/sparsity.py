"""The sparsity options of ``advlab train classifier``: ``--front-end`` and ``--l1-budget``.

``--front-end BASIS:RHO[:LEVEL]`` trains the classifier behind a sparsifying front end (the
checkpoint holds model "sparsified", so `advlab.models.load_checkpoint` rebuilds front end and
classifier); ``--l1-budget GAMMA`` or ``GAMMA1,...,GAMMAL`` projects every neuron's weights
onto its l1 ball after each optimiser step (one gamma for all weight layers, or one per
Linear/Conv layer in module order; ``inf`` leaves a layer free). Both can be combined: the
budget then applies to the classifier behind the front end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from advlab import models
from advlab.defenses.sparsity import FrontEndSpec, L1Budget, theorem2_bounds
from advlab.report.tables import Table
from advlab.train import StepHook
from advlab.zoo.cache import model_args_for


@dataclass
class ClassifierSetup:
    """What `train classifier` builds: the registry name and arguments of the model, the
    model itself, the checkpoint metadata and the after_step hook for `train.fit`."""

    name: str
    args: dict[str, Any]
    model: nn.Module
    meta: dict[str, Any] = field(default_factory=dict)
    after_step: StepHook | None = None


def classifier_setup(model: str, data: str, front_end: str | None = None, l1_budget: str | None = None) -> ClassifierSetup:
    """Build classifier `model` for dataset `data` with the optional sparsity defences.

    front_end: ``BASIS:RHO[:LEVEL]`` (e.g. ``coif1:0.035``); l1_budget: ``GAMMA`` or
    ``GAMMA1,...`` (e.g. ``2`` or ``4,2,inf``). Bad values raise ValueError naming the option,
    the value and the valid forms (unknown bases list the valid ones; a wrong number of gammas
    lists the model's weight layers)."""
    args = model_args_for(model, data)
    name = model
    meta: dict[str, Any] = {"dataset": data}
    if front_end is not None:
        spec = FrontEndSpec.parse(front_end)
        args = spec.model_args(model, args)
        name = "sparsified"
        meta["front_end"] = str(spec)
    net = models.create(name, **args)
    hook: StepHook | None = None
    if l1_budget is not None:
        budget = L1Budget.parse(l1_budget)
        target = _classifier(net)
        gammas = budget.per_layer(target)  # checks the count against the layers now
        meta["l1_budget"] = gammas

        def hook(module: nn.Module, step: int) -> None:
            budget(_classifier(module), step)

        budget(target)  # start feasible: projected SGD from a point inside the budget
    return ClassifierSetup(name, args, net, {"model": name, "model_args": args, **meta}, hook)


def theorem2_table(model: nn.Module, eps: float) -> Table:
    """The Theorem 2 bound of a trained classifier (behind a front end: of its classifier)."""
    inner = _classifier(model)
    rows: list[list[Any]] = [[b.index, b.name, b.kind, round(b.gamma, 4), round(b.bound, 4)] for b in theorem2_bounds(inner, eps)]
    return Table(f"Theorem 2 bound on ||e_j||_inf at eps = {eps:g}", ["layer", "name", "type", "gamma_j", "bound"],
                 rows, caption="gamma_j: the largest row (filter) l1 norm of layer j; bound: eps * prod_{l<=j} gamma_l")  # fmt: skip


def _classifier(model: nn.Module) -> nn.Module:
    """The classifier behind a front end ("sparsified" models), or the model itself."""
    inner = getattr(model, "classifier", None)
    return inner if isinstance(inner, nn.Module) else model
