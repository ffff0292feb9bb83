"""Training speed with and without progressive growing (Karras et al. 2018, Figure 4): the
sliced Wasserstein distance of a run's samples recorded against training time, compute and
images seen, and the comparison of a growing row with the row without growing at an equal
budget of each.

Figure 4 of the paper plots SWD per pyramid level against wall-clock time for Gulrajani et
al.'s setup without (4a) and with (4b) progressive growing on CelebA 128x128: with growing
the same SWD is reached sooner; at 1024x1024 (4c) the paper reports a 5.4x speed-up in
images per second. Section 2 sums the gain up as "2-6 times faster, depending on the final
output resolution".

Here every row records, every `every` generator steps (and at the last), its EMA
generator's SWD x 1e3 on `n` samples against `n` training images, with
- seconds: the trainer's training wall time (`state.wall_seconds`: D and G steps only; the
  recording itself is not counted);
- gflops: the forward multiply-add work of one D and one G pass per real image at the step's
  level of detail (counted once per growth stage with `torch.utils.flop_counter`), summed
  over the images seen. D's and G's backward passes and the gradient penalty are a fixed
  multiple of it at every resolution, so it is a machine-independent measure of compute that
  is proportional to the training FLOPs;
- images: real images seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from advlab.gan.config import GANTrainConfig
from advlab.gan.growth import phase_at

Curve = dict[str, list[float]]
"""columns "step", "images", "seconds", "gflops", "swd_<px>" per level and "swd_avg"."""

BUDGETS = {"seconds": "equal wall-clock", "gflops": "equal compute", "images": "equal images"}


@torch.no_grad()
def forward_gflops(G: torch.nn.Module, D: torch.nn.Module, latent_dim: int,
                   batch: int = 4) -> float:
    """GFLOPs (2 x multiply-adds) of G's and D's forward pass per image at their current level
    of detail, counted on a `batch` of latents (minibatch stddev needs more than one)."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(G.parameters()).device
    z = torch.randn(batch, latent_dim, generator=torch.Generator().manual_seed(0)).to(device)
    counter = FlopCounterMode(display=False)
    with counter:
        D(G(z))  # (batch, 1); no graph, no parameter or buffer changes
    return counter.get_total_flops() / batch / 1e9


def curve_hook(total_iters: int, every: int, latent_dim: int, reference: torch.Tensor,
               path: Path, swd_min_resolution: int,
               seed: int) -> Callable[[int, dict[str, Any]], None]:
    """An `on_step` hook that records the `Curve` of a run into `path` (JSON), the SWD
    against `reference` (n, C, S, S) training images in [0, 1]."""
    from advlab.gan.sampling import generate
    from advlab.gan.sliced_wasserstein import sliced_wasserstein_distance, swd_columns

    z = torch.randn(reference.shape[0], latent_dim,
                    generator=torch.Generator().manual_seed(seed + 13))  # (n, latent_dim)
    curve: Curve = {}
    state = {"images": 0, "gflops": 0.0, "stage": None, "per_image": 0.0}

    def hook(step: int, parts: dict[str, Any]) -> None:
        progress = parts["progress"]
        if progress.growth_stage != state["stage"]:  # the cost per image changes per stage
            state["stage"] = progress.growth_stage
            state["per_image"] = forward_gflops(parts["G"], parts["D"], latent_dim)
        state["gflops"] += state["per_image"] * (progress.images_seen - state["images"])
        state["images"] = progress.images_seen
        if step % every and step < total_iters:
            return
        G = parts["G_ema"] if parts["G_ema"] is not None else parts["G"]
        images = generate(G, z.to(next(G.parameters()).device))  # (n, C, S, S) in [0, 1]
        swd = swd_columns(sliced_wasserstein_distance(
            reference, images.to(reference.device), min_resolution=swd_min_resolution,
            seed=seed))
        point = {"step": step, "images": progress.images_seen,
                 "seconds": progress.wall_seconds, "gflops": state["gflops"], **swd}
        for key, value in point.items():
            curve.setdefault(key, []).append(float(value))
        path.write_text(json.dumps(curve))

    return hook


def chain_hooks(hooks: list[Any]) -> Any:
    """One on_step hook calling `hooks` in order (None when there are none)."""
    if not hooks:
        return None

    def hook(step: int, parts: dict[str, Any]) -> None:
        for h in hooks:
            h(step, parts)

    return hook


def images_of(cfg: GANTrainConfig, size: int) -> int:
    """Real images the run's discriminator saw (the schedule's count over its iterations)."""
    growth = cfg.growth_schedule()
    assert growth is not None
    seen = 0
    for _ in range(cfg.iters):
        seen += growth.batch_size(phase_at(growth, seen, size).resolution, cfg.batch_size)
    return seen


def read_curve(path: Path) -> Curve:
    """The recorded curve ({} when the run was trained without recording one)."""
    return json.loads(path.read_text()) if path.is_file() else {}


def value_at(curve: Curve, axis: str, x: float, key: str = "swd_avg") -> float | None:
    """`key` of the curve at `axis` = x, linearly interpolated between the two recordings
    around x (None when x lies outside the recorded range)."""
    xs, ys = curve.get(axis, []), curve.get(key, [])
    for i in range(len(xs) - 1):
        (x0, x1), (y0, y1) = xs[i : i + 2], ys[i : i + 2]
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[0] if xs and x == xs[0] else None


def first_reach(curve: Curve, axis: str, level: float, key: str = "swd_avg") -> float | None:
    """The smallest `axis` value at which the curve's `key` reaches `level` or below, linearly
    interpolated between recordings (None: never within the run; the first recording's when
    the curve starts at or below `level`)."""
    xs, ys = curve.get(axis, []), curve.get(key, [])
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if y <= level:
            if i == 0:
                return x
            x0, y0 = xs[i - 1], ys[i - 1]
            return x0 + (x - x0) * (y0 - level) / (y0 - y)
    return None


@dataclass
class BudgetComparison:
    """A growing row against the row without growing at the growing row's final budget on
    `axis` ("seconds", "gflops" or "images"): growing_swd: its final SWD avg (x 1e3);
    baseline_swd: the no-growing row's at the same budget (interpolated; None: beyond its
    run); budget: that budget; speedup: the no-growing row's budget to first reach
    growing_swd, divided by the growing row's (None: not reached within its run); shown:
    growing_swd <= baseline_swd (None: not judged)."""

    row: str
    axis: str
    budget: float
    growing_swd: float
    baseline_swd: float | None
    speedup: float | None
    shown: bool | None


def compare(row: str, growing: Curve, baseline: Curve) -> list[BudgetComparison]:
    """`BudgetComparison` of a growing row's curve against the no-growing row's, per axis."""
    out: list[BudgetComparison] = []
    if not growing.get("swd_avg") or not baseline.get("swd_avg"):
        return out
    final = growing["swd_avg"][-1]
    for axis in BUDGETS:
        budget = growing[axis][-1]
        other = value_at(baseline, axis, budget)
        reached = first_reach(baseline, axis, final)
        out.append(BudgetComparison(
            row=row, axis=axis, budget=budget, growing_swd=final, baseline_swd=other,
            speedup=None if reached is None or budget <= 0 else reached / budget,
            shown=None if other is None else final <= other))
    return out


AXIS_LABELS = {"seconds": "training wall-clock (s)", "gflops": "forward compute (GFLOP)",
               "images": "real images seen"}


def speed_figure(curves: dict[str, Curve]) -> Any:
    """The Figure 4b layout: average SWD x 1e3 of every row (label -> curve) against training
    wall-clock, compute and images seen, one panel each."""
    from advlab.report.gan_figures import Series, curve_panels

    panels: list[tuple[str, Series]] = [(AXIS_LABELS[axis], {label: (c[axis], c["swd_avg"])
                                   for label, c in curves.items() if c.get("swd_avg")})
              for axis in BUDGETS]
    return curve_panels(panels, "SWD avg (x 1e3, lower is better)",
                        "SWD of each row's EMA generator during training (paper: Figure 4)",
                        log_y=True)


def judgement(comparisons: list[BudgetComparison], growing: Curve | None, baseline: Curve | None) -> str:
    """The caption's verdict on this run for row (b) + growing ("growing"), from the measurement:
    per budget its SWD against no growing's and whether the finding shows; when it does not at
    equal compute, what growing saved (forward compute for the same images) and what that cost
    (its SWD over no growing's at equal images)."""
    mine = {c.axis: c for c in comparisons if c.row == "growing" and c.shown is not None}
    if not mine:
        return ""
    text = "This run, (b) against (a): " + "; ".join(
        f"{BUDGETS[c.axis]} {c.growing_swd:.1f} vs {c.baseline_swd:.1f} ({'shown' if c.shown else 'not shown'})"
        for c in mine.values()) + "."  # fmt: skip
    compute, images = mine.get("gflops"), mine.get("images")
    if compute is None or compute.shown or images is None or not growing or not baseline:
        return text
    saving = baseline["gflops"][-1] / max(growing["gflops"][-1], 1e-12)  # both rows see the same images
    worse = images.growing_swd / max(images.baseline_swd or 0.0, 1e-12)
    text += (f" Measured reason at this scale: for the same images growing spent {saving:.2f}x less forward "
             f"compute (only its phases below the output resolution are cheaper), but its SWD is {worse:.2f}x "
             "no growing's at equal images")  # fmt: skip
    if compute.speedup is not None:
        text += f"; no growing reached growing's final SWD with {compute.speedup:.2f}x growing's compute"
    return text + "."


def speed_table(comparisons: list[BudgetComparison], labels: dict[str, str], verdict: str = "") -> Any:
    """The table of `compare`'s rows: each growing row against no growing at its own final
    wall-clock, compute and images; ``verdict``: `judgement`'s sentence, ending the caption."""
    from advlab.report.tables import Table

    def budget(c: BudgetComparison) -> str:
        unit = {"seconds": f"{c.budget:.0f} s", "gflops": f"{c.budget:.3g} GFLOP",
                "images": f"{c.budget:,.0f} images"}[c.axis]
        return f"{BUDGETS[c.axis]} ({unit})"

    rows = [[labels.get(c.row, c.row), budget(c), c.growing_swd, c.baseline_swd, c.speedup,
             None if c.shown is None else ("yes" if c.shown else "no")] for c in comparisons]
    return Table(
        "Figure 4: each growing row against (a) no growing at the growing row's final budget",
        ["growing row", "budget", "SWD avg, growing", "SWD avg, no growing", "speed-up",
         "growing <= no growing"], rows,
        caption="SWD x 1e3 (average over the pyramid levels) of the EMA generator's samples "
        "against training images, recorded during training. 'no growing' is row (a)'s curve "
        "at the growing row's final wall-clock time, forward compute (GFLOPs of one D and G "
        "pass per real image at the working resolution, times images seen) or images seen, "
        "interpolated between recordings; speed-up = the budget row (a) needed to reach the "
        "growing row's final SWD / the growing row's (empty: not reached in row (a)'s run). "
        "Wall-clock is training time on a shared CPU, so it carries the machine's load; "
        "compute does not. The finding counts as shown at a budget when (b) + growing is at "
        "or below (a) in at least 2 of 3 seeds (rule fixed before running). Paper (Figure 4, "
        "CelebA 128x128, P100 GPU): with growing a given SWD is reached sooner in wall-clock "
        "time (Section 2: 2-6x faster depending on the output resolution; Figure 4c: about "
        "5.4x at 1024x1024). " + verdict,
    )
