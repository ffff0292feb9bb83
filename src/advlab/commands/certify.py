"""What ``advlab certify`` does once the CLI has loaded a model and a batch: certification by a
bounding method of `advlab.defenses.certify.METHODS` (Wong-Kolter's dual network by default;
`advlab.defenses.certify.evaluate.certify_model`), ``result.json`` and a table."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advlab.defenses.certify.evaluate import certify_model
from advlab.progress import Progress, SilentProgress
from advlab.report.tables import Table
from advlab.train.distributed import chunk_slices, current_env, my_chunks, sum_across_ranks

log = logging.getLogger(__name__)


COUNTED = ("test_error", "fgsm_error", "pgd_error", "robust_error_bound")

METHOD_NAMES = {
    "interval": "interval bound propagation (Gowal et al. 2018)",
    "wong": "the exact dual network (Wong & Kolter 2018)",
    "fast-lin": "Fast-Lin (Weng et al. 2018)",
    "crown": "CROWN (Zhang et al. 2018)",
    "alpha-crown": "alpha-CROWN (Xu et al. 2021)",
}
"""How the table's caption names each bounding method of `METHODS`."""


def check_method(method: str) -> None:
    """Refuse an unknown bounding method before any work (`UnknownNameError` lists the valid
    names of `advlab.defenses.certify.METHODS`)."""
    from advlab.defenses.certify.methods import bound_method

    bound_method(method)


def check_certifiable(checkpoint: str | Path, data: str) -> None:
    """Refuse, before any data is loaded or attacked, a classifier the bounds cannot
    represent (`UnsupportedLayerError` names the layer and the supported ones)."""
    from advlab import data as datasets
    from advlab import models
    from advlab.defenses.certify import build_plan

    model = models.load_checkpoint(checkpoint)
    build_plan(model, torch.zeros(1, *datasets.info(data).shape))


def certify_command(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, out_dir: str | Path, batch_size: int = 50,
    seed: int = 0, pgd_steps: int = 40, progress: Progress | None = None, method: str = "wong",
) -> tuple[Table, dict[str, Any]]:
    """``advlab certify``: `certify_model` with bounding `method` over chunks of `batch_size`
    samples (chunk i's PGD
    seeded by (seed, i); under torchrun chunk i runs on rank i mod world_size and the counts
    are summed, so any number of processes gives the single-process result); rank 0 writes
    ``<out_dir>/result.json``. Returns (Table, the result dict) for the CLI to print."""
    check_method(method)
    env = current_env()
    chunks = chunk_slices(x.shape[0], batch_size)
    counts = torch.zeros(len(COUNTED), dtype=torch.float64)
    with (progress or SilentProgress()).task(f"certify eps={eps:g}", x.shape[0]) as bar:
        for i in my_chunks(len(chunks), env):
            rows = chunks[i]
            n_rows = int(rows.stop) - int(rows.start)
            part = certify_model(model, x[rows], y[rows], eps, batch_size=batch_size,
                                 pgd_steps=pgd_steps, seed=seed * 1_000_003 + i, method=method)
            counts += torch.tensor([round(part[k] * n_rows) for k in COUNTED], dtype=torch.float64)
            bar.advance(n_rows)
    counts = sum_across_ranks(counts.to(x.device), env).cpu()
    n = x.shape[0]
    result: dict[str, Any] = {"n": n, "eps": eps, "method": method, "processes": env.world_size}
    result.update({k: float(c) / n for k, c in zip(COUNTED, counts, strict=True)})
    result["certified_accuracy"] = 1.0 - result["robust_error_bound"]
    out = Path(out_dir)
    if env.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(result, indent=2))
        log.info("certification written to %s", out / "result.json")
    described = METHOD_NAMES.get(method, method)
    table = Table(
        f"Certification by {method} at eps {eps:g} on {n} samples",
        ["metric", "value (%)"],
        [[name.replace("_", " "), round(100.0 * result[name], 2)]
         for name in (*COUNTED, "certified_accuracy")],
        caption=f"robust error bound: fraction of the {n} samples not certified by {described}; "
        f"FGSM/PGD ({pgd_steps} steps) errors include clean mistakes.",
    )  # fmt: skip
    return table, result
