"""What ``advlab evaluate`` will do once the CLI wires it: load a classifier checkpoint with its
evaluation data, measure robust accuracy by the AutoAttack standard sequence (Croce & Hein 2020;
`advlab.evaluate.robust_accuracy`), write ``adversarial.safetensors`` and ``result.json``, and
return a table (one row per attack)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from advlab.evaluate import ThreatModel, robust_accuracy
from advlab.models.checkpoint import save_state
from advlab.progress import Progress
from advlab.tables import Table
from advlab.types import Bounds, Norm

log = logging.getLogger(__name__)


def evaluate_checkpoint(
    checkpoint: Path,
    data: str,
    out_dir: Path,
    *,
    norm: Norm = "linf",
    eps: float,
    bounds: Bounds = (0.0, 1.0),
    split: str = "test",
    n: int | None = None,
    data_root: Path | None = None,
    device: str = "cpu",
    batch_size: int = 500,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[Table, dict[str, Any]]:
    """Robust accuracy of ``checkpoint`` on the first ``n`` images of ``data`` (``split``) under
    the ``norm`` ball of radius ``eps``.

    Files in out_dir: ``adversarial.safetensors`` (tensors "x_adv" (n, C, H, W), "y" (n,),
    "robust" (n,) uint8; metadata: norm, eps, checkpoint) and ``result.json``
    (`RobustAccuracyResult.to_dict`). Returns (table: per attack the points attacked and broken,
    robust accuracy after it, seconds; the caption lists the checks' warnings, the JSON dict).
    """
    from advlab.commands.common import device as parse_device
    from advlab.commands.common import load_model_and_data

    dev = parse_device(device)
    model, _, x, y = load_model_and_data(Path(checkpoint), data, split, n, data_root, dev)
    threat = ThreatModel(norm, eps, bounds)
    generator = torch.Generator(device=dev).manual_seed(seed)
    result = robust_accuracy(model, x, y, threat, batch_size=batch_size, generator=generator, progress=progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = dict(result.to_dict(), checkpoint=str(checkpoint), data=data, split=split, seed=seed)
    (out_dir / "result.json").write_text(json.dumps(summary, indent=2))
    save_state(out_dir / "adversarial.safetensors",
               {"x_adv": result.x_adv, "y": y, "robust": result.robust.to(torch.uint8)},
               {"norm": norm, "eps": eps, "checkpoint": str(checkpoint), "data": data})  # fmt: skip
    total = len(result.broken_by)
    remaining = total - sum(b == "clean" for b in result.broken_by)
    rows: list[list[Any]] = [["clean", total, total - remaining, 100 * remaining / total, 0.0]]
    for record in result.attacks:
        remaining -= record.broken
        rows.append([record.name, record.attacked, record.broken, 100 * remaining / total, record.seconds])
    caption = f"{norm} eps = {eps:g}, {total} images of {data} ({split}); files in {out_dir}"
    if result.warnings:
        caption += "; warnings: " + " | ".join(result.warnings)
    table = Table("robust accuracy (AutoAttack standard sequence)",
                  ["attack", "points attacked", "points broken", "accuracy after %", "seconds"], rows, caption)  # fmt: skip
    log.info("robust accuracy %.4f (clean %.4f)", result.robust_accuracy, result.clean_accuracy)
    return table, summary
