"""What ``advlab attack ensemble`` does once the CLI has loaded the models and a batch: attack
the ensemble (Liu et al. 2017's optimisation-based attack, or FGSM/PGD on the ensemble's
averaged probabilities), evaluate the adversarial images on every ensemble member and on the
held-out models, write ``result.json`` and a PNG grid, return a table."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.attacks.base import inference_view
from advlab.attacks.ensemble import (
    ModelListAttack,
    ProbabilityEnsemble,
    normalised_weights,
    rmsd,
)
from advlab.attacks.universal import predict
from advlab.commands.attack import save_example_grid
from advlab.report.tables import Table

log = logging.getLogger(__name__)


def run_ensemble_attack(
    attack: ModelListAttack,
    models: list[nn.Module],
    names: list[str],
    x: torch.Tensor,
    y: torch.Tensor,
    out_dir: Path,
    class_names: list[str],
    *,
    held_out: list[nn.Module] | None = None,
    held_out_names: list[str] | None = None,
    labels: torch.Tensor | None = None,
) -> tuple[Table, dict[str, Any]]:
    """Attack (x (N, C, H, W), y (N,)) on the ensemble of ``models``; y are the targets when the
    attack is targeted and ``labels`` then the true labels. Evaluate on every member and every
    held-out model: accuracy (against the labels) and success (against y). Writes
    ``out_dir/result.json`` and ``out_dir/examples.png``; returns (table, the JSON dict)."""
    held_out, held_out_names = held_out or [], held_out_names or []
    if len(names) != len(models) or len(held_out_names) != len(held_out):
        raise ValueError("every model needs a name: names and models (and held-out ones) must have equal lengths")
    truth = y if labels is None else labels
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = attack(models, x, y)
    seconds = time.perf_counter() - start
    rows: list[list[Any]] = []
    per_model: list[dict[str, Any]] = []
    for name, model, role in [*((n, m, "ensemble") for n, m in zip(names, models, strict=True)),
                              *((n, m, "held out") for n, m in zip(held_out_names, held_out, strict=True))]:  # fmt: skip
        clean, adversarial = predict(model, x), predict(model, result.x_adv)
        success = (adversarial == y) if attack.targeted else (adversarial != y)
        entry: dict[str, Any] = {"model": name, "role": role, "accuracy_clean": float((clean == truth).float().mean()),
                 "accuracy_adversarial": float((adversarial == truth).float().mean()),
                 "success_rate": float(success.float().mean())}  # fmt: skip
        per_model.append(entry)
        rows.append([name, role, 100 * entry["accuracy_clean"], 100 * entry["accuracy_adversarial"],
                     100 * entry["success_rate"]])  # fmt: skip
    summary: dict[str, Any] = {
        "attack": type(attack).__name__, "params": _describe(attack), "n": int(x.shape[0]),
        "ensemble_success_rate": result.success_rate, "fooled_all_members": float(result.fooled_all.float().mean()),
        "rmsd_pixel_values": 255 * float(rmsd(x, result.x_adv).mean()), "median_norm": float(result.norm.median()),
        "seconds_per_sample": seconds / x.shape[0], "models": per_model,
    }  # fmt: skip
    (out_dir / "result.json").write_text(json.dumps(summary, indent=2))
    ensemble = ProbabilityEnsemble([inference_view(m) for m in models], normalised_weights(attack.weights, len(models)))
    with torch.no_grad():
        clean_logits = ensemble.to(x.device)(x)  # (N, K) the ensemble's log P at the clean images
    save_example_grid(x, result, class_names, out_dir / "examples.png", title=f"ensemble of {', '.join(names)}",
                      clean_logits=clean_logits)  # fmt: skip
    table = Table(
        f"{type(attack).__name__} on the ensemble of {len(models)} models",
        ["model", "role", "accuracy clean %", "accuracy adversarial %", "success %"],
        rows,
        caption=f"{summary['n']} images; ensemble success {100 * summary['ensemble_success_rate']:.1f}%, "
        f"all members fooled {100 * summary['fooled_all_members']:.1f}%, RMSD "
        f"{summary['rmsd_pixel_values']:.2f} pixel values; parameters {summary['params']}; files in {out_dir}",
    )  # fmt: skip
    log.info("ensemble attack: %s", summary)
    return table, summary


def _describe(attack: ModelListAttack) -> dict[str, Any]:
    """The attack's settings as JSON values (a wrapped attack by its class and fields)."""
    described: dict[str, Any] = {}
    for key, value in attack.__dict__.items():
        if hasattr(value, "__dataclass_fields__"):
            described[key] = {"attack": type(value).__name__, **_describe(value)}
        else:
            described[key] = list(value) if isinstance(value, tuple) else value
    return described
