"""What ``advlab evaluate`` does: robust accuracy of a classifier checkpoint by the AutoAttack
standard sequence (Croce & Hein 2020; `advlab.evaluate.robust_accuracy`), in fixed chunks of
images (chunk i seeded by (seed, i); under torchrun chunk i runs on rank i mod N and the
chunks are gathered, so any number of processes gives the single-process answer); rank 0
writes ``adversarial.safetensors`` and ``result.json`` and gets a table (one row per attack)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.evaluate import ThreatModel, robust_accuracy
from advlab.evaluate.suite import CLEAN, standard_attacks
from advlab.models.checkpoint import save_state
from advlab.progress import Progress, SilentProgress
from advlab.report.tables import Table
from advlab.train.distributed import (
    chunk_generator,
    chunk_slices,
    current_env,
    gather_chunks,
    my_chunks,
    sum_across_ranks,
)

log = logging.getLogger(__name__)


def evaluate_model(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel, out_dir: Path, *,
    describe: dict[str, Any], batch_size: int = 500, seed: int = 0, steps: int = 100,
    queries: int = 5000, progress: Progress | None = None,
) -> tuple[Table, dict[str, Any]]:
    """Robust accuracy of `model` on x (N, C, H, W), y (N,) under `threat`, chunk by chunk.

    Files in out_dir (rank 0): ``adversarial.safetensors`` (x_adv (N, C, H, W), y (N,),
    robust (N,) uint8, broken_by (N,) int8: -1 robust, 0 clean error, 1.. the attack's index)
    and ``result.json``. Returns (table: per attack the points attacked and broken, accuracy
    after it, seconds summed over chunks; the caption lists the checks' warnings, the dict).
    ``steps`` (APGD-CE, APGD-T, FAB-T) and ``queries`` (Square): the suite's budget
    (`standard_attacks`; the defaults are the authors').
    """
    env = current_env()
    attacks = standard_attacks(threat, steps=steps, queries=queries)
    names = [name for name, _ in attacks]
    chunks = chunk_slices(x.shape[0], batch_size)
    x_parts: dict[int, torch.Tensor] = {}
    code_parts: dict[int, torch.Tensor] = {}
    counts = torch.zeros(len(names), 3, dtype=torch.float64)  # (attacks, [attacked, broken, s])
    warnings: set[str] = set()
    reporter = progress or SilentProgress()
    with reporter.task("evaluate: chunks of images", len(chunks)) as bar:
        for i in my_chunks(len(chunks), env):
            rows = chunks[i]
            part = robust_accuracy(model, x[rows], y[rows], threat, attacks=attacks, batch_size=batch_size,
                                   generator=chunk_generator(seed, i, x.device),
                                   progress=reporter)  # a nested bar: one step per attack
            x_parts[i] = part.x_adv
            code_parts[i] = torch.tensor([_code(b, names) for b in part.broken_by],
                                         dtype=torch.int8, device=x.device)
            for k, record in enumerate(part.attacks):
                counts[k] += torch.tensor([record.attacked, record.broken, record.seconds],
                                          dtype=torch.float64)
            warnings.update(part.warnings)
            bar.advance(1, robust=float(part.robust.float().mean()))
    x_adv = gather_chunks(x_parts, len(chunks), env)  # (N, C, H, W), in chunk order
    codes = gather_chunks(code_parts, len(chunks), env)  # (N,)
    counts = sum_across_ranks(counts, env)
    summary = _summary(codes, counts, names, threat, sorted(warnings),
                       {**describe, "steps": steps, "queries": queries})
    table = _table(summary, out_dir)
    if env.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "result.json").write_text(json.dumps(summary, indent=2))
        save_state(out_dir / "adversarial.safetensors",
                   {"x_adv": x_adv.cpu(), "y": y.cpu(), "robust": (codes < 0).to(torch.uint8).cpu(),
                    "broken_by": codes.cpu()},
                   {"norm": threat.norm, "eps": threat.eps, "attacks": names, **describe})
    return table, summary


def _code(broken_by: str | None, names: list[str]) -> int:
    """-1: robust; 0: misclassified without attack; k >= 1: broken by attack k - 1."""
    if broken_by is None:
        return -1
    return 0 if broken_by == CLEAN else names.index(broken_by) + 1


def _summary(codes: torch.Tensor, counts: torch.Tensor, names: list[str], threat: ThreatModel,
             warnings: list[str], describe: dict[str, Any]) -> dict[str, Any]:
    total = int(codes.numel())
    per_point = codes.tolist()
    broken_by = [None if c < 0 else (CLEAN if c == 0 else names[c - 1]) for c in per_point]
    return {
        "norm": threat.norm, "eps": threat.eps, "bounds": list(threat.bounds), "points": total,
        "clean_accuracy": sum(c != 0 for c in per_point) / total,
        "robust_accuracy": sum(c < 0 for c in per_point) / total,
        "broken_by": broken_by,
        "attacks": [{"name": n, "attacked": int(a), "broken": int(b), "seconds": round(float(s), 3)}
                    for n, (a, b, s) in zip(names, counts.tolist(), strict=True)],
        "warnings": warnings, **describe,
    }


def _table(summary: dict[str, Any], out_dir: Path) -> Table:
    total = summary["points"]
    remaining = round(summary["clean_accuracy"] * total)
    rows: list[list[Any]] = [["clean", total, total - remaining, 100 * remaining / total, 0.0]]
    for record in summary["attacks"]:
        remaining -= record["broken"]
        rows.append([record["name"], record["attacked"], record["broken"],
                     100 * remaining / total, record["seconds"]])
    caption = (f"{summary['norm']} eps = {summary['eps']:g}, {total} images of "
               f"{summary.get('data', 'the data')}; each attack runs on the points still robust "
               f"(AutoAttack's standard sequence, {summary['steps']} steps, "
               f"Square {summary['queries']} queries); files in {out_dir}")
    for warning in summary["warnings"]:
        caption += f"\nWARNING: {warning}"
    return Table("Robust accuracy (worst case over APGD-CE, APGD-T, FAB-T, Square)",
                 ["attack", "points attacked", "points broken", "accuracy after %", "seconds"],
                 rows, caption)
