"""What ``advlab attack NAME`` does once the CLI has loaded a model and a batch: run the attack,
write ``result.json`` and a PNG grid (originals / perturbations / adversarials), return a table."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.attack_catalogue import missing_options_message
from advlab.attacks import ATTACKS, Attack, attack_in_batches, create_attack
from advlab.attacks.metrics import rho_adv
from advlab.attacks.threat import vacuous_reason
from advlab.options import missing_required, parse_field_options
from advlab.progress import Progress
from advlab.report.figures import pyplot, save_figure
from advlab.report.tables import Table
from advlab.train.distributed import chunk_slices, current_env
from advlab.types import AttackResult, Norm

log = logging.getLogger(__name__)
GRID_SAMPLES = 8  # columns of the PNG grid


def build_attack(name: str, words: list[str]) -> Attack:
    """The registered attack `name` built from command-line words (``--eps 0.1 --steps 40
    --no-random-start ...``): every dataclass field of the attack is an option, typed by the
    field. A missing required field is named as the option to give."""
    cls = ATTACKS.get(name)
    values = parse_field_options(words, cls, f"attack {name}", choosers={Attack: ATTACKS.get})
    missing = missing_required(cls, values)
    if missing:
        raise ValueError(missing_options_message(name, missing, cls.param_names()))
    attack = create_attack(name, **values)
    check_not_vacuous(attack)
    return attack


def check_not_vacuous(attack: Attack, dims: int | None = None) -> None:
    """Refuse an attack (or the attack it wraps, ``--inner-eps``) whose ball holds the whole
    input box (`advlab.attacks.threat.vacuous_reason`); `dims`: per-sample values, for l2."""
    prefix = "--"
    current: Attack | None = attack
    while current is not None:
        norm = getattr(current, "norm", None)
        reason = vacuous_reason(norm, current.radius, current.bounds, dims) if norm else None
        if reason is not None:
            raise ValueError(f"{prefix}eps: {reason}")
        current, prefix = getattr(current, "inner", None), prefix + "inner-"


def run_attack(
    attack_name: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    out_dir: Path,
    class_names: list[str],
    *,
    attack: Attack | None = None,
    batch_size: int = 500,
    seed: int = 0,
    progress: Progress | None = None,
    **params: Any,
) -> tuple[Table, dict[str, Any]]:
    """Attack (x (N, C, H, W), y (N,)) with `attack` (or the registered ``attack_name``
    built from ``params``) in chunks of `batch_size` with progress (sharded over ranks under
    torchrun, gathered on every rank); rank 0 writes ``out_dir/result.json`` and
    ``out_dir/examples.png``.

    Reports the success rate, clean accuracy and accuracy under attack (against y), rho_adv
    (DeepFool eq. 15, in the attack's norm) and the median perturbation norm, both over the
    successful samples (failed ones are returned unchanged and would pull them to 0), wall
    time per sample and the mean number of steps. Returns (summary table, the JSON dict).
    """
    attack = attack or create_attack(attack_name, **params)
    env = current_env()
    out_dir = Path(out_dir)
    with torch.no_grad():
        clean_logits = torch.cat([model(x[c]) for c in chunk_slices(x.shape[0], batch_size)])  # (N, K)
    clean_pred = clean_logits.argmax(1)
    start = time.perf_counter()
    result = attack_in_batches(attack, model, x, y, batch_size=batch_size, seed=seed,
                               progress=progress, description=f"{attack_name} attack")  # fmt: skip
    seconds = time.perf_counter() - start
    adv_pred = result.logits.argmax(1)
    norm: Norm = attack.norm
    hit = result.success
    summary: dict[str, Any] = {
        "attack": attack_name,
        "params": _jsonable(attack.__dict__),
        "n": int(x.shape[0]),
        "processes": env.world_size,
        "success_rate": result.success_rate,
        "accuracy_clean": float((clean_pred == y).float().mean()),
        "accuracy_adversarial": float((adv_pred == y).float().mean()),
        "norm": norm,
        "rho_adv": rho_adv(x[hit], result.x_adv[hit], norm) if bool(hit.any()) else None,
        "median_norm": float(result.norm[hit].median()) if bool(hit.any()) else None,
        "seconds_per_sample": seconds / x.shape[0],
        "mean_steps": float(result.steps.float().mean()),
    }
    if env.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "result.json").write_text(json.dumps(summary, indent=2))
        save_example_grid(x, result, class_names, out_dir / "examples.png", title=attack_name,
                          clean_logits=clean_logits)  # fmt: skip
    norm_label = "l2" if norm == "l2" else "linf"
    table = Table(
        f"{attack_name} attack on {summary['n']} samples",
        ["quantity", "value"],
        [["success %", 100 * summary["success_rate"]],
         ["accuracy clean %", 100 * summary["accuracy_clean"]],
         ["accuracy under attack %", 100 * summary["accuracy_adversarial"]],
         [f"rho_adv ({norm_label}), successful samples", summary["rho_adv"]],
         [f"median ||r||_{norm_label}, successful samples", summary["median_norm"]],
         ["ms per sample", 1000 * summary["seconds_per_sample"]],
         ["mean steps", summary["mean_steps"]]],
        caption=f"parameters: {_describe(summary['params'])}; processes: {env.world_size}; "
        f"files in {out_dir}",
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
    plt = pyplot()
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
    save_figure(fig, path, dpi=110)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """Attack fields as JSON: tuples as lists, nested dataclasses (EOT's inner attack, a
    transformation distribution) as dicts of their fields, an inner attack with its class."""
    return {k: _json_value(v) for k, v in params.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = _jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
        return {"class": type(value).__name__, **fields} if isinstance(value, Attack) else fields
    return value


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in params.items())
