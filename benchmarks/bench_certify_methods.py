"""Bounding methods side by side (advlab.defenses.certify.METHODS) on wong-small at eps 0.1, and the
cost of one certified training step, all in one run on the same weights and MNIST inputs.

    python -m benchmarks.bench_certify_methods [--repeats 3] [--alpha-repeats 1]
                                                [--auto-lirpa PATH]

1. Per method at batch 20 and 50: median time of `certified_bounds` over repeats, the mean
   bound gap (upper - lower) and mean lower bound of the margins f_y - f_j (j != y), and the
   number of samples certified.
2. One training step (forward + backward) on a batch of 50: plain cross-entropy, CROWN-IBP
   (beta = 1, the CROWN pass included), Wong-Kolter exact, Wong-Kolter with 50 projections;
   medians and ratios to the plain step, the methods interleaved per repeat.
3. If auto_LiRPA imports from --auto-lirpa (a source checkout, never a dependency), its CROWN and
   IBP bounds on the same inputs, timed interleaved with ours (crown, interval) per repeat:
   both medians, their ratio and the max difference of the bounds. Otherwise the reason.
Writes benchmarks/results/certify_methods.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.bench_certify import setup

EPS, BATCHES, TRAIN_BATCH, PROJ = 0.1, (20, 50), 50, 50
RESULTS = Path(__file__).parent / "results" / "certify_methods.json"


def _median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _margins(bounds, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds of the margins j != y, flattened."""
    keep = torch.ones_like(bounds.lower, dtype=torch.bool).scatter(1, y.unsqueeze(1), False)
    return bounds.lower[keep], bounds.upper[keep]


def bound_table(net, x, y, repeats: int, alpha_repeats: int) -> dict:
    from advlab.defenses.certify import METHODS, LinfBall, certified, certified_bounds, margin_spec

    ball, out = LinfBall(EPS, 0.0, 1.0), {}
    for batch in BATCHES:
        xb, yb = x[:batch], y[:batch]
        spec = margin_spec(yb, 10)
        for method in METHODS:
            reps = alpha_repeats if method == "alpha-crown" else repeats
            with torch.no_grad():
                seconds, bounds = _median_time(
                    lambda m=method, xb=xb, spec=spec: certified_bounds(net, xb, ball, m, spec), reps
                )
            low, up = _margins(bounds, yb)
            out[f"{method}/batch{batch}"] = {
                "median_s": seconds, "repeats": reps, "mean_gap": float((up - low).mean()),
                "mean_lower": float(low.mean()), "certified": int(certified(bounds.lower, yb).sum()),
            }  # fmt: skip
            print(f"batch {batch:3d} {method:12s} {seconds:8.3f} s  gap {float((up - low).mean()):10.4f}  "
                  f"lower {float(low.mean()):10.4f}  certified {out[f'{method}/batch{batch}']['certified']}")  # fmt: skip
    return out


def training_steps(net, x, y, repeats: int) -> dict:
    from advlab.defenses.certify import CrownIbpBatchLoss, LinfBall, robust_loss

    ball = LinfBall(EPS, 0.0, 1.0)
    crown_ibp = CrownIbpBatchLoss(EPS, warmup=0.0, ramp=0.0, kappa_end=0.0, beta_end=1.0)  # full CROWN-IBP
    losses = {
        "plain": lambda: F.cross_entropy(net(x), y),
        "crown-ibp": lambda: crown_ibp(net, x, y, 1.0).loss,
        "wong exact": lambda: robust_loss(net, x, y, ball)[0],
        f"wong proj{PROJ}": lambda: robust_loss(net, x, y, ball, PROJ, torch.Generator().manual_seed(0))[0],
    }
    times: dict[str, list[float]] = {name: [] for name in losses}
    for rep in range(repeats + 1):  # the first round warms up
        for name, loss_fn in losses.items():
            net.zero_grad()
            t0 = time.perf_counter()
            loss_fn().backward()
            if rep:
                times[name].append(time.perf_counter() - t0)
    plain = statistics.median(times["plain"])
    out = {name: {"median_s": statistics.median(t), "ratio_to_plain": statistics.median(t) / plain}
           for name, t in times.items()}  # fmt: skip
    for name, row in out.items():
        print(f"train step batch {TRAIN_BATCH} {name:12s} {row['median_s']:8.4f} s  x{row['ratio_to_plain']:8.1f}")
    return out


def auto_lirpa(net, x, y, path: str | None, repeats: int) -> dict:
    """auto_LiRPA's CROWN and IBP on the same margins, or why it did not run."""
    from advlab.defenses.certify import LinfBall, certified_bounds, margin_spec

    if path:
        sys.path[:0] = [p for p in path.split(os.pathsep) if p]
    try:
        from auto_LiRPA import BoundedModule, BoundedTensor
        from auto_LiRPA.perturbations import PerturbationLpNorm
    except Exception as error:  # not installed, or fails on this torch / numpy
        return {"ran": False, "why": f"{type(error).__name__}: {error}"}
    ball, out = LinfBall(EPS, 0.0, 1.0), {"ran": True}
    for batch in BATCHES:
        xb, yb = x[:batch], y[:batch]
        spec, (lo, hi) = margin_spec(yb, 10), ball.box(xb)
        model = BoundedModule(net, torch.zeros_like(xb), verbose=0)
        bx = BoundedTensor(xb, PerturbationLpNorm(norm=float("inf"), x_L=lo, x_U=hi))
        for theirs, ours in (("CROWN", "crown"), ("IBP", "interval")):
            times: dict[str, list[float]] = {"theirs": [], "ours": []}
            with torch.no_grad():
                for _ in range(repeats):  # interleaved, so that load drift hits both alike
                    t0 = time.perf_counter()
                    low, _up = model.compute_bounds(x=(bx,), C=spec, method=theirs)
                    t1 = time.perf_counter()
                    mine = certified_bounds(net, xb, ball, ours, spec)
                    times["theirs"].append(t1 - t0)
                    times["ours"].append(time.perf_counter() - t1)
            seconds, mine_s = statistics.median(times["theirs"]), statistics.median(times["ours"])
            out[f"{theirs}/batch{batch}"] = {
                "median_s": seconds, "ours_median_s": mine_s, "ours_over_theirs": mine_s / seconds,
                "max_abs_diff_lower": float((low - mine.lower).abs().max()),
                "mean_ours_minus_theirs_lower": float((mine.lower - low).mean()),
            }  # fmt: skip
            print(f"auto_LiRPA batch {batch:3d} {theirs:6s} {seconds:8.3f} s  ours ({ours}) {mine_s:8.3f} s  "
                  f"ours/theirs {mine_s / seconds:5.2f}  "
                  f"max |ours - theirs| lower {out[f'{theirs}/batch{batch}']['max_abs_diff_lower']:.3g}")
    return out


def parse_args(argv: Sequence[str] = ()) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_certify_methods",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--alpha-repeats", type=int, default=1, help="repeats of alpha-CROWN (slow)")
    parser.add_argument("--auto-lirpa", default=os.environ.get("AUTO_LIRPA_PATH"),
                        help="path(s) to an auto_LiRPA source tree and its deps (os.pathsep-separated)")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] = ()) -> dict:
    """Run the benchmark with options `argv` (run.py calls ``main()``: the defaults)."""
    args = parse_args(argv)
    net, x, y = setup()
    results = {
        "setup": {"model": "wong-small (200 SGD steps on mnist-5k)", "eps": EPS, "batches": BATCHES,
                  "threads": torch.get_num_threads(), "gap": "mean upper - lower of margins j != y"},
        "bounds": bound_table(net, x, y, args.repeats, args.alpha_repeats),
        "train_step": training_steps(net, x[:TRAIN_BATCH], y[:TRAIN_BATCH], args.repeats),
        "auto_lirpa": auto_lirpa(net, x, y, args.auto_lirpa, args.repeats),
    }  # fmt: skip
    if not results["auto_lirpa"]["ran"]:
        print(f"auto_LiRPA not run: {results['auto_lirpa']['why']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
