"""Universal perturbations, side by side in one run: advlab's UniversalPerturbation (Algorithm 1
of Moosavi-Dezfooli et al. 2017, sequential, and the batched variant) against the
adversarial-robustness-toolbox's UniversalPerturbation (attacker "deepfool", its per-sample
loop with batch size 1), on the same model, data and xi.

Model: --model (default fc500-150-10, the first row of the `universal` experiment) trained on
mnist-5k with the shared quick-scale training (`trained_classifier`, the experiments' cache).
X: the first --n-fit mnist-5k training digits; held-out: the 1,000 test digits. Both fit with
linf xi (default 0.3, the `universal` experiment's), delta 0.2, at most --passes passes, and an
inner DeepFool with 50 iterations, overshoot 0.02 and 10 candidate classes. ART is given no
labels, so it also compares with the clean predictions (with labels it would count
misclassified images as fooled). Held-out fooling rates of both perturbations are measured by
the same function, against the clean predictions. Every run uses seed 0 (the same order of X
for advlab's runs; Python's random seeded with 0 for ART's), so repeats time the same
computation. Times: medians of --repeats runs for advlab (interleaved with ART's when
--art-repeats > 1); ART takes minutes per run.
Run: python -m benchmarks.bench_universal [--model fc500-150-10] [--n-fit 200] [--passes 3]
[--xi 0.3] [--repeats 3] [--art-repeats 1] (ART missing: its rows are skipped; `make bench`
installs it)
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from advlab import data
from advlab.attacks import DeepFool
from advlab.attacks.universal import UniversalPerturbation, fooling_rate
from benchmarks.common import print_table, save

DELTA, STEPS, OVERSHOOT, CANDIDATES = 0.2, 50, 0.02, 10


def ours(model: nn.Module, x: torch.Tensor, xi: float, passes: int, variant: str, seed: int) -> torch.Tensor:
    uap = UniversalPerturbation(xi=xi, norm="linf", delta=DELTA, max_passes=passes, variant=variant,  # type: ignore[arg-type]
                                inner=DeepFool(steps=STEPS, overshoot=OVERSHOOT, candidates=CANDIDATES))  # fmt: skip
    return uap.fit(model, x, torch.Generator().manual_seed(seed)).perturbation


def art(model: nn.Module, x: torch.Tensor, xi: float, passes: int, seed: int) -> torch.Tensor:
    from art.attacks.evasion import UniversalPerturbation as ArtUniversalPerturbation
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]),
                                   nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu")  # fmt: skip
    attack = ArtUniversalPerturbation(
        classifier, attacker="deepfool", delta=DELTA, max_iter=passes, eps=xi, norm=np.inf, verbose=False,
        attacker_params={"max_iter": STEPS, "epsilon": OVERSHOOT, "nb_grads": CANDIDATES, "batch_size": 1,
                         "verbose": False},
    )  # fmt: skip
    random.seed(seed)  # ART shuffles X with Python's random module
    attack.generate(x.numpy())
    return torch.from_numpy(attack.noise[0]).float()


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def trained_model(name: str) -> nn.Module:
    """``name`` trained on mnist-5k as the experiments train it (shared cache)."""
    from pathlib import Path

    from advlab.zoo.cache import CLASSIFIER_TRAINING, trained_classifier
    from advlab.zoo.context import RunContext, default_cache_dir

    ctx = RunContext(out_dir=Path("."), cache_dir=default_cache_dir())
    return trained_classifier(ctx, name, "mnist-5k", CLASSIFIER_TRAINING)


def main(model_name: str = "fc500-150-10", n_fit: int = 200, passes: int = 3, xi: float = 0.3, repeats: int = 3,
         art_repeats: int = 1) -> dict[str, Any]:  # fmt: skip
    torch.manual_seed(0)
    model = trained_model(model_name)
    x_fit, _ = data.as_tensors(data.load("mnist-5k", "train"), limit=n_fit)
    x_eval, _ = data.as_tensors(data.load("mnist-5k", "test"))
    try:
        import art as _  # noqa: F401

        have_art = True
    except ModuleNotFoundError:
        have_art = False
    times: dict[str, list[float]] = {"sequential": [], "batched": [], "art": []}
    perturbations: dict[str, torch.Tensor] = {}
    for r in range(max(repeats, art_repeats if have_art else 0)):
        for variant in ("sequential", "batched"):
            if r < repeats:
                seconds, perturbations[variant] = timed(lambda v=variant: ours(model, x_fit, xi, passes, v, seed=0))
                times[variant].append(seconds)
        if have_art and r < art_repeats:
            seconds, perturbations["art"] = timed(lambda: art(model, x_fit, xi, passes, seed=0))
            times["art"].append(seconds)
    medians = {k: statistics.median(v) for k, v in times.items() if v}
    heldout = {k: fooling_rate(model, x_eval, v) for k, v in perturbations.items()}
    fit = {k: fooling_rate(model, x_fit, v) for k, v in perturbations.items()}
    out: dict[str, Any] = {"model": model_name, "n_fit": n_fit, "passes": passes, "xi": xi, "median_seconds": medians,
                           "heldout_fooling_rate": heldout, "fit_fooling_rate": fit, "repeats": repeats,
                           "art_repeats": art_repeats if have_art else 0}  # fmt: skip
    rows = [(f"advlab {k}", f"{medians[k]:.2f} s  held-out {100 * heldout[k]:.1f}%  on X {100 * fit[k]:.1f}%")
            for k in ("sequential", "batched")]  # fmt: skip
    if "art" in medians:
        rows.append(("ART UniversalPerturbation", f"{medians['art']:.2f} s  held-out {100 * heldout['art']:.1f}%  "
                     f"on X {100 * fit['art']:.1f}%"))  # fmt: skip
        out["speedup_sequential_vs_art"] = medians["art"] / medians["sequential"]
        out["fooling_rate_ratio_sequential_vs_art"] = heldout["sequential"] / max(heldout["art"], 1e-12)
        rows.append(("ART / advlab sequential (time)", f"{out['speedup_sequential_vs_art']:.1f}x"))
        rows.append(("held-out fooling rate, advlab sequential - ART", f"{100 * (heldout['sequential'] - heldout['art']):+.1f} points"))
    print_table(f"Universal perturbation: {model_name} on mnist-5k, |X| = {n_fit}, linf xi = {xi}, <= {passes} passes "
                f"(medians of {repeats}; ART {out['art_repeats']} run(s))", rows)  # fmt: skip
    save("universal", out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fc500-150-10")
    parser.add_argument("--n-fit", type=int, default=200)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--xi", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--art-repeats", type=int, default=1)
    args = parser.parse_args()
    main(args.model, args.n_fit, args.passes, args.xi, args.repeats, args.art_repeats)
