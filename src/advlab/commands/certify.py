"""What ``advlab certify`` does once the CLI has loaded a model and a batch: Wong-Kolter
certification (`advlab.defenses.certify.evaluate.certify_model`), ``result.json`` and a table."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from advlab.defenses.certify.evaluate import certify_model
from advlab.progress import Progress
from advlab.tables import Table

log = logging.getLogger(__name__)


def certify_command(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, out_dir: str | Path, batch_size: int = 50,
    pgd_steps: int = 40, progress: Progress | None = None,
) -> tuple[Table, dict[str, Any]]:
    """``advlab certify``: run `certify_model` (batches of `batch_size`, PGD with `pgd_steps`
    steps, a progress bar), write ``<out_dir>/result.json`` and return (Table, the result dict)
    for the CLI to print. The model is not changed (not even its train/eval mode)."""
    result: dict[str, Any] = certify_model(model, x, y, eps, batch_size=batch_size, pgd_steps=pgd_steps,
                                           progress=progress)  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    pct = {k: 100.0 * v for k, v in result.items() if k not in ("n", "eps")}
    table = Table(
        f"Wong-Kolter certification at eps={eps} on {result['n']} samples",
        ["metric", "value (%)"],
        [[name.replace("_", " "), round(value, 2)] for name, value in pct.items()],
        caption=f"robust error bound: fraction of the {result['n']} samples not certified by the "
        f"exact dual network (Wong & Kolter 2018) at eps={eps}; FGSM/PGD ({pgd_steps} steps) "
        "errors include clean mistakes.",
    )
    log.info("certification written to %s", out / "result.json")
    return table, result
