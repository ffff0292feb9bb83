"""Attacking a large set in chunks, with progress, sharded over ranks under torchrun.

An attack processes its whole batch at once; a test set of thousands of images is cut into
chunks of ``batch_size`` samples (memory), each attacked in turn, and the per-sample results
are concatenated into one `AttackResult`. Under ``torchrun`` (a torch.distributed process
group is active) chunk i is attacked by rank i mod world_size and the chunks are gathered on
every rank. With ``seed`` given, chunk i draws its random numbers from its own generator
(`advlab.train.distributed.chunk_generator`), so the result is the same for any number of
processes; with a ``generator`` instead, the chunks consume it one after the other
(single-process only).
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.attacks.base import Attack
from advlab.progress import Progress, SilentProgress
from advlab.train.distributed import (
    DistEnv,
    chunk_generator,
    chunk_slices,
    current_env,
    gather_chunks,
    my_chunks,
)
from advlab.types import AttackResult

RESULT_FIELDS = ("x_adv", "success", "norm", "steps", "logits", "params")


def concat_results(parts: list[AttackResult]) -> AttackResult:
    """Concatenate per-chunk results along the sample dimension."""
    if not parts:
        raise ValueError("no results to concatenate")
    fields = {name: [getattr(p, name) for p in parts] for name in RESULT_FIELDS}
    params = fields.pop("params")
    joined = {name: torch.cat(values) for name, values in fields.items()}
    has_params = all(q is not None for q in params)
    return AttackResult(**joined, params=torch.cat(params) if has_params else None)  # type: ignore[arg-type]


def attack_in_batches(
    attack: Attack,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 500,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
    description: str | None = None,
) -> AttackResult:
    """``attack(model, x, y)`` over x (N, *S), y (N,) in chunks of ``batch_size`` samples,
    advancing a progress bar by the samples done; returns one AttackResult for all N.

    seed: chunk i uses a generator seeded by (seed, i) (same result for any number of
    torchrun processes); generator: one generator consumed chunk after chunk (refused under
    torchrun, where it would make the result depend on the number of processes).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if x.shape[0] == 0:
        raise ValueError("no samples to attack (N = 0)")
    if seed is not None and generator is not None:
        raise ValueError("pass seed or generator, not both")
    env = current_env()
    if env.distributed and generator is not None:
        raise ValueError("under torchrun pass seed=..., not a generator: chunks run on several ranks")
    chunks = chunk_slices(x.shape[0], batch_size)
    if len(chunks) < env.world_size:  # too few chunks to share: every rank does them all
        env = DistEnv()
    mine = my_chunks(len(chunks), env)
    progress = progress or SilentProgress()
    results: dict[int, AttackResult] = {}
    done, fooled = 0, 0
    with progress.task(description or type(attack).__name__, sum(_rows(chunks[i]) for i in mine)) as bar:
        for i in mine:
            rows = chunks[i]
            g = chunk_generator(seed, i, x.device) if seed is not None else generator
            results[i] = attack(model, x[rows], y[rows], generator=g)
            done += _rows(rows)
            fooled += int(results[i].success.sum())
            bar.advance(_rows(rows), success=fooled / done)
    return _gather(results, len(chunks), env)


def _rows(chunk: slice) -> int:
    return int(chunk.stop) - int(chunk.start)


def _gather(results: dict[int, AttackResult], count: int, env: DistEnv) -> AttackResult:
    """One AttackResult of every chunk in order (from every rank under torchrun)."""
    if not env.distributed:
        return concat_results([results[i] for i in range(count)])
    first = next(iter(results.values()))
    fields = {}
    for name in RESULT_FIELDS:
        if name == "params" and first.params is None:
            continue
        fields[name] = gather_chunks({i: getattr(r, name) for i, r in results.items()}, count, env)
    return AttackResult(**fields)
