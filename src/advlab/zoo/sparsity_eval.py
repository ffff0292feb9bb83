"""What the two sparsity experiments share: the binary test set and accuracy under an attack,
or under the worst-case suite (Croce & Hein 2020), taken with each front-end gradient (exact
and BPDA) and with the worse of the two per sample (Athalye et al. 2018: a defence is as strong
as the strongest attack on it)."""

from __future__ import annotations

import torch
from torch import nn

from advlab import data as datasets
from advlab.attacks import Attack, attack_in_batches
from advlab.defenses.sparsity import front_ends, with_gradient
from advlab.zoo.context import RunContext
from advlab.zoo.worst_case import run_suite

GRADIENTS = ("bpda", "exact")
WORST = "worst"  # per sample: wrong under either gradient


def evaluation_set(ctx: RunContext, data: str, classes: tuple[int, ...] | None, limit: int,
                   seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The test split of `data` (only `classes`, relabelled 0.., when given), a seeded random
    subset of `limit` samples (0: all), on ctx.device: x (N, C, H, W), y (N,)."""
    x, y = datasets.as_tensors(datasets.load(data, "test", root=ctx.data_root))
    if classes is not None:
        x, y = datasets.select_classes(x, y, classes)
    if limit and limit < len(y):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
        keep = order[:limit].sort().values
        x, y = x[keep], y[keep]
    return x.to(ctx.device), y.to(ctx.device)


def correct_under_attack(ctx: RunContext, model: nn.Module, attack: Attack, x: torch.Tensor,
                         y: torch.Tensor, seed: int, batch_size: int = 500,
                         description: str = "attack") -> dict[str, torch.Tensor]:
    """(N,) bool "still classified correctly" after `attack`, by gradient: {"-": ...} for a
    model without a front end; {"bpda", "exact", "worst"} through a front end."""
    modes = GRADIENTS if front_ends(model) else ("-",)
    out: dict[str, torch.Tensor] = {}
    for mode in modes:
        net = with_gradient(model, mode) if mode != "-" else model  # type: ignore[arg-type]
        label = f"{description} ({mode})" if mode != "-" else description
        result = attack_in_batches(attack, net, x, y, batch_size=batch_size,
                                   progress=ctx.reporter,
                                   generator=torch.Generator(device=x.device).manual_seed(seed),
                                   description=label)
        out[mode] = ~result.success
    if len(modes) > 1:
        out[WORST] = torch.stack([out[m] for m in modes]).all(0)
    return out


def robust_under_suite(ctx: RunContext, model: nn.Module, eps: float, x: torch.Tensor,
                       y: torch.Tensor, seed: int, batch_size: int = 500
                       ) -> dict[str, tuple[torch.Tensor, list[str]]]:
    """(N,) bool "robust under the l_inf suite at `eps`" and the suite's checks that fired, by
    gradient as in `correct_under_attack`: {"-": ...} without a front end; {"bpda", "exact",
    "worst"} through one, where the checks run on the model with that gradient (so a masked
    gradient shows in that mode's warnings) and "worst" (no checks of its own) is robust only
    where both are."""
    modes = GRADIENTS if front_ends(model) else ("-",)
    out: dict[str, tuple[torch.Tensor, list[str]]] = {}
    for mode in modes:
        net = with_gradient(model, mode) if mode != "-" else model  # type: ignore[arg-type]
        found = run_suite(net, x, y, eps, seed=seed, batch_size=batch_size,
                          progress=ctx.reporter)
        out[mode] = (found.robust, list(found.warnings))
    if len(modes) > 1:
        out[WORST] = (torch.stack([out[m][0] for m in modes]).all(0), [])
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Clean accuracy of `model` on (x, y)."""
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())
