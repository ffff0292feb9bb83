"""What ``advlab attack universal`` does once the CLI has loaded a model and two image sets:
fit a universal perturbation (Moosavi-Dezfooli et al. 2017, Algorithm 1), measure its fooling
rate on held-out images against the clean predictions, write ``result.json``,
``perturbation.safetensors`` and a PNG (the perturbation and perturbed examples), return a
table."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.attacks.universal import (
    UniversalPerturbation,
    fooling_rate,
    perturb,
    predict,
    random_perturbation,
)
from advlab.models.checkpoint import save_state
from advlab.report.figures import pyplot, save_figure
from advlab.report.tables import Table

log = logging.getLogger(__name__)
SHOWN = 6  # held-out images in the PNG


def run_universal(
    uap: UniversalPerturbation,
    model: nn.Module,
    x_fit: torch.Tensor,
    x_eval: torch.Tensor,
    out_dir: Path,
    class_names: list[str],
    *,
    seed: int = 0,
) -> tuple[Table, dict[str, Any]]:
    """Fit `uap`'s v on x_fit (N, C, H, W) and evaluate it on x_eval (M, C, H, W); write
    ``out_dir/result.json``, ``out_dir/perturbation.safetensors`` (tensor "perturbation"),
    ``out_dir/universal.png``. Returns (summary table, the JSON dict)."""
    xi, delta, variant = uap.xi, uap.delta, uap.variant
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    fitted = uap.fit(model, x_fit, torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - start
    v = fitted.perturbation
    noise = random_perturbation(v.shape, uap.norm, xi, torch.Generator().manual_seed(seed), device=v.device)
    summary: dict[str, Any] = {
        "norm": uap.norm, "xi": xi, "delta": delta, "variant": variant, "n_fit": int(x_fit.shape[0]),
        "n_eval": int(x_eval.shape[0]), "fooling_rate_fit": fitted.fooling_rate[-1],
        "fooling_rate_heldout": fooling_rate(model, x_eval, v), "fooling_rate_random_noise": fooling_rate(model, x_eval, noise),
        "rates_per_pass": fitted.fooling_rate, "passes": fitted.passes, "reached_target": fitted.reached_target,
        "inner_attacks": fitted.inner_attacks, "accepted": fitted.accepted, "seconds": seconds,
        "norm_of_perturbation": float(v.abs().max() if uap.norm == "linf" else v.norm()),
    }  # fmt: skip
    (out_dir / "result.json").write_text(json.dumps(summary, indent=2))
    save_state(out_dir / "perturbation.safetensors", {"perturbation": v.detach().cpu().contiguous()},
               {"norm": uap.norm, "xi": xi})  # fmt: skip
    _save_figure(model, v, x_eval[:SHOWN], class_names, out_dir / "universal.png", summary)
    table = Table(
        "universal perturbation",
        ["|X|", "held-out images", "passes", "fooling rate on X %", "held-out fooling rate %",
         "random noise %", "fit seconds"],
        [[summary["n_fit"], summary["n_eval"], summary["passes"], 100 * summary["fooling_rate_fit"],
          100 * summary["fooling_rate_heldout"], 100 * summary["fooling_rate_random_noise"], seconds]],
        caption=f"{uap.norm} xi = {xi:g}, {variant}; fooling rates against the clean predictions; random "
        f"noise of the same norm; files in {out_dir}",
    )  # fmt: skip
    log.info("universal perturbation: %s", summary)
    return table, summary


def _save_figure(
    model: nn.Module, v: torch.Tensor, x: torch.Tensor, class_names: list[str], path: Path, summary: dict[str, Any]
) -> None:
    """The perturbation (scaled: grey = 0) and held-out images clean and perturbed, labelled."""
    plt = pyplot()

    def show(ax: Any, image: torch.Tensor, title: str) -> None:
        pixels = image.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
        ax.imshow(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])

    def name(k: int) -> str:
        return class_names[k] if k < len(class_names) else str(k)

    clean, perturbed = predict(model, x).tolist(), predict(model, perturb(x, v)).tolist()
    fig, axes = plt.subplots(2, x.shape[0] + 1, figsize=(1.4 * (x.shape[0] + 1), 3.2), squeeze=False)
    show(axes[0][0], 0.5 + 0.5 * v / v.abs().max().clamp_min(1e-12), "v (scaled)")
    axes[1][0].axis("off")
    for i in range(x.shape[0]):
        show(axes[0][i + 1], x[i], name(clean[i]))
        show(axes[1][i + 1], perturb(x[i : i + 1], v)[0], f"-> {name(perturbed[i])}")
    fig.suptitle(f"{summary['norm']} xi = {summary['xi']:g}: held-out fooling rate "
                 f"{100 * summary['fooling_rate_heldout']:.1f}%", fontsize=8)  # fmt: skip
    save_figure(fig, path, dpi=110)
