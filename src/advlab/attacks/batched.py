"""Attacking a large set in chunks, with progress: one `AttackResult` for all samples.

An attack processes its whole batch at once; a test set of thousands of images is split into
chunks of ``batch_size`` (memory), each attacked in turn, and the per-sample results are
concatenated. The chunking does not change any sample's result (attacks are per-sample
independent; randomness comes from the one generator, consumed chunk after chunk).
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.attacks.base import Attack
from advlab.progress import Progress, SilentProgress
from advlab.types import AttackResult


def concat_results(parts: list[AttackResult]) -> AttackResult:
    """Concatenate per-chunk results along the sample dimension."""
    if not parts:
        raise ValueError("no results to concatenate")
    params = [p.params for p in parts]
    return AttackResult(
        x_adv=torch.cat([p.x_adv for p in parts]),
        success=torch.cat([p.success for p in parts]),
        norm=torch.cat([p.norm for p in parts]),
        steps=torch.cat([p.steps for p in parts]),
        logits=torch.cat([p.logits for p in parts]),
        params=torch.cat(params) if all(q is not None for q in params) else None,  # type: ignore[arg-type]
    )


def attack_in_batches(
    attack: Attack,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 500,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
    description: str | None = None,
) -> AttackResult:
    """``attack(model, x, y)`` over x (N, *S), y (N,) in chunks of ``batch_size`` samples,
    advancing a progress bar by the samples done; returns one AttackResult for all N."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if x.shape[0] == 0:
        raise ValueError("no samples to attack (N = 0)")
    progress = progress or SilentProgress()
    parts = []
    with progress.task(description or type(attack).__name__, x.shape[0]) as bar:
        for start in range(0, x.shape[0], batch_size):
            chunk = slice(start, start + batch_size)
            parts.append(attack(model, x[chunk], y[chunk], generator=generator))
            bar.advance(parts[-1].x_adv.shape[0], success=float(torch.cat([p.success for p in parts]).float().mean()))
    return concat_results(parts)
