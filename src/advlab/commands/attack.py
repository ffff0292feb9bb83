"""What ``advlab attack NAME`` does once the CLI has loaded a model and a batch: run the attack,
write ``result.json`` and a PNG grid (originals / perturbations / adversarials), return a table."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.attacks import create_attack
from advlab.attacks.metrics import rho_adv
from advlab.tables import Table
from advlab.types import AttackResult, Norm

log = logging.getLogger(__name__)
GRID_SAMPLES = 8  # columns of the PNG grid


def run_attack(
    attack_name: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    out_dir: Path,
    class_names: list[str],
    **params: Any,
) -> tuple[Table, dict[str, Any]]:
    """Attack (x (N, C, H, W), y (N,)) with the registered attack ``attack_name`` built from
    ``params``; write ``out_dir/result.json`` and ``out_dir/examples.png``.

    Reports the success rate, clean accuracy and accuracy under attack (against y), rho_adv
    (DeepFool eq. 15, in the attack's norm), the median perturbation norm, wall time per
    sample and the mean number of steps. Returns (summary table, the JSON dict).
    """
    attack = create_attack(attack_name, **params)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        clean_logits = model(x)  # (N, K)
    clean_pred = clean_logits.argmax(1)
    start = time.perf_counter()
    result = attack(model, x, y)
    seconds = time.perf_counter() - start
    adv_pred = result.logits.argmax(1)
    norm: Norm = getattr(attack, "norm", "l2")
    summary: dict[str, Any] = {
        "attack": attack_name,
        "params": _jsonable(attack.__dict__),
        "n": int(x.shape[0]),
        "success_rate": result.success_rate,
        "accuracy_clean": float((clean_pred == y).float().mean()),
        "accuracy_adversarial": float((adv_pred == y).float().mean()),
        "norm": norm,
        "rho_adv": rho_adv(x, result.x_adv, norm),
        "median_norm": float(result.norm.median()),
        "seconds_per_sample": seconds / x.shape[0],
        "mean_steps": float(result.steps.float().mean()),
    }
    (out_dir / "result.json").write_text(json.dumps(summary, indent=2))
    save_example_grid(x, result, class_names, out_dir / "examples.png", title=attack_name,
                      clean_logits=clean_logits)
    table = Table(
        f"{attack_name} attack",
        ["n", "success %", "accuracy clean %", "accuracy adv %", f"rho_adv ({norm})",
         f"median ||r||_{norm[1:] if norm == 'l2' else 'inf'}", "ms / sample", "mean steps"],
        [[summary["n"], 100 * summary["success_rate"], 100 * summary["accuracy_clean"],
          100 * summary["accuracy_adversarial"], summary["rho_adv"], summary["median_norm"],
          1000 * summary["seconds_per_sample"], summary["mean_steps"]]],
        caption=f"parameters: {summary['params']}; files in {out_dir}",
    )  # fmt: skip
    log.info("attack %s: %s", attack_name, summary)
    return table, summary


def save_example_grid(
    x: torch.Tensor,
    result: AttackResult,
    class_names: list[str],
    path: Path,
    title: str = "",
    count: int = GRID_SAMPLES,
    clean_logits: torch.Tensor | None = None,
) -> None:
    """Rows: originals, perturbations (scaled to fill the colour range), adversarials; each
    labelled with the predicted class and its softmax confidence. x: (N, C, H, W)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = min(count, x.shape[0])
    adv_prob = result.logits[:count].softmax(1)  # (count, K)
    clean_prob = clean_logits[:count].softmax(1) if clean_logits is not None else None
    delta = (result.x_adv[:count] - x[:count]).cpu()
    scale = delta.abs().flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    shown_delta = 0.5 + 0.5 * delta / scale  # (count, C, H, W) in [0, 1], grey = no change
    fig, axes = plt.subplots(3, count, figsize=(1.5 * count, 5), squeeze=False)
    rows = [x[:count].cpu(), shown_delta, result.x_adv[:count].cpu()]
    names = ["original", "perturbation (scaled)", "adversarial"]
    for r, images in enumerate(rows):
        for c in range(count):
            ax = axes[r][c]
            image = images[c].permute(1, 2, 0).clamp(0, 1).numpy()
            ax.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image,
                      cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(names[r], fontsize=7)
            prob = adv_prob if r == 2 else clean_prob
            if r != 1 and prob is not None:
                k = int(prob[c].argmax())
                label = class_names[k] if k < len(class_names) else str(k)
                ax.set_title(f"{label} {100 * float(prob[c, k]):.0f}%", fontsize=7)
            if r == 1:
                ax.set_title(f"|r|={float(result.norm[c]):.3g}", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
