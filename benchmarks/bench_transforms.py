"""Spatial and EOT attack speed, side by side in one run.

Grid attack: advlab's SpatialGrid (31 rotations x 5 x 5 translations, +-30 degrees, +-3 px)
against foolbox 3's SpatialAttack (the same grid, one grid point at a time over the whole
batch, keeping the first adversarial, stopping when every image is fooled) and ART's
SpatialTransformation (one transformation for the whole batch, the one that fools most), on
the same LeNet and test digits: accuracy under each attack and wall time. Ours runs in
both modes: ``exhaustive=False`` (foolbox's semantics: an image leaves the search at its
first misclassified chunk, the others' chunks grow) is the like-for-like speed comparison;
the exhaustive mode (Engstrom et al.'s rule: the worst misclassifying transformation per
image) must evaluate every point of every image, so its floor is the model's forward
passes over the N x 775 transformed images, rendered beforehand; worst / floor is the cost
of our rendering and bookkeeping.

EOT step: one step of advlab's EOT(PGD) with 30 transformations per image against its
floor, one forward and one input-backward of the 30N transformed images (replayed on the
very images the step gave the model, captured by a forward pre-hook; the attack's final
forward passes are in both), and against
torchattacks' EOTPGD with eot_iter = 30 on the same model made stochastic (each forward
draws fresh transformations from the same distribution), which runs 30 forward-backward
passes of N images per step.

Peers are optional (`pip install --no-deps foolbox eagerpy torchattacks
adversarial-robustness-toolbox`); rows for missing ones are skipped.
A second, augmentation-trained LeNet (cached), which the grid does not fool entirely, gives
the like-for-like accuracy and speed comparison with foolbox where its stop-when-all-fooled
exit cannot fire.
Run: python -m benchmarks.bench_transforms [--n 200] [--repeats 3] [--fb-repeats 1]
[--art-n 20] [--eot-n 100] [--robust-n 100] [--only grid|eot]
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from advlab import data, models
from advlab.attacks import EOT, PGD, SpatialGrid
from advlab.transforms import TransformDistribution
from benchmarks.bench_attacks import CACHE, model_inputs, timed, trained_lenet
from benchmarks.common import print_table, save

MAX_ROTATION, MAX_TRANSLATION, ROTATIONS, TRANSLATIONS = 30.0, 3.0, 31, 5
EOT_SAMPLES, EOT_STEPS = 30, 5
DISTRIBUTION = TransformDistribution(rotation=(-20.0, 20.0), translation=(-2.0, 2.0), scale=(0.9, 1.1),
                                     brightness=(-0.05, 0.05), noise=(0.0, 0.05))  # fmt: skip


def grid_floor(model: nn.Module, images: list[torch.Tensor]) -> None:
    """The forward passes of an exhaustive grid over already rendered images."""
    with torch.no_grad():
        for batch in images:
            model(batch)


def bench_grid(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int, fb_repeats: int,
               art_n: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:  # fmt: skip
    """Our grid attack (first adversarial, and worst per image) against its floor, foolbox's
    and ART's: (results, table rows)."""
    worst = SpatialGrid(max_rotation=MAX_ROTATION, max_translation=MAX_TRANSLATION,
                        rotations=ROTATIONS, translations=TRANSLATIONS)  # fmt: skip
    first = replace(worst, exhaustive=False)  # foolbox's semantics: any adversarial
    result = worst(model, x, y)  # warm-up
    points = worst.grid.points()
    per_call = max(1, worst.batch_size // x.shape[0])
    rendered = [worst.render(x, points[s : s + per_call].expand(x.shape[0], -1, -1)).flatten(0, 1)
                for s in range(0, len(points), per_call)]  # fmt: skip
    try:
        import foolbox as fb

        fmodel = fb.PyTorchModel(model, bounds=(0, 1))
        fb_attack = fb.attacks.SpatialAttack(max_translation=MAX_TRANSLATION, max_rotation=MAX_ROTATION,
                                             num_translations=TRANSLATIONS, num_rotations=ROTATIONS,
                                             grid_search=True)  # fmt: skip
    except ImportError:
        fb = None
    first_t, worst_t, floor_t, fb_t = [], [], [], []
    fb_success = None
    for r in range(repeats):  # interleaved so load drift hits all alike
        t, first_result = timed(lambda: first(model, x, y))
        first_t.append(t)
        t, result = timed(lambda: worst(model, x, y))
        worst_t.append(t)
        floor_t.append(timed(lambda: grid_floor(model, rendered))[0])
        if fb is not None and r < fb_repeats:
            t, (_, _, fb_success) = timed(lambda: fb_attack(fmodel, x, y))
            fb_t.append(t)
    quick, full, floor = statistics.median(first_t), statistics.median(worst_t), statistics.median(floor_t)
    out: dict[str, Any] = {
        "n": x.shape[0], "grid_points": worst.grid.size, "accuracy": 1 - result.success_rate,
        "first_adversarial": {"seconds": quick, "accuracy": 1 - first_result.success_rate,
                              "mean_points": float(first_result.steps.float().mean())},
        "worst_per_image": {"seconds": full, "floor_seconds": floor, "ratio_to_floor": full / floor},
    }  # fmt: skip
    rows = [("grid, first adversarial s (ours)", f"{quick:.2f}  ({x.shape[0]} images, "
                                                 f"{out['first_adversarial']['mean_points']:.0f} of {worst.grid.size} points per image)"),
            ("grid, worst per image s (ours)", f"{full:.2f}  (every point of every image)"),
            ("grid floor s (forwards only)", f"{floor:.2f}  (worst per image / floor = {full / floor:.2f})"),
            ("accuracy under our grid", f"{out['accuracy']:.3f}  (both modes: {out['first_adversarial']['accuracy']:.3f})")]  # fmt: skip
    if fb is not None and fb_success is not None:
        fb_time = statistics.median(fb_t)
        out["foolbox"] = {"seconds": fb_time, "speedup_first": fb_time / quick, "speedup_worst": fb_time / full,
                          "accuracy": 1 - float(fb_success.float().mean())}  # fmt: skip
        rows += [("foolbox SpatialAttack s", f"{fb_time:.2f}  (first adversarial: ours {fb_time / quick:.2f}x faster, "
                                             f"target >= 3; worst per image: {fb_time / full:.2f}x)"),
                 ("accuracy under foolbox's grid", f"{out['foolbox']['accuracy']:.3f}  (ours <= foolbox's: "
                                                   f"{out['accuracy'] <= out['foolbox']['accuracy']})")]  # fmt: skip
    try:
        from art.attacks.evasion import SpatialTransformation
        from art.estimators.classification import PyTorchClassifier

        classifier = PyTorchClassifier(model, loss=nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]),
                                       nb_classes=10, clip_values=(0.0, 1.0))  # fmt: skip
        # ART's max_translation is a percentage of the image side (it reads the side from
        # x.shape[1], the channel axis of NCHW input: only vertical shifts survive rounding)
        art = SpatialTransformation(classifier, max_translation=100 * MAX_TRANSLATION / x.shape[-1],
                                    num_translations=TRANSLATIONS, max_rotation=MAX_ROTATION,
                                    num_rotations=ROTATIONS, verbose=False)  # fmt: skip
        xs, ys = x[:art_n], y[:art_n]
        t, x_art = timed(lambda: art.generate(xs.numpy()))
        ours_sub_t, ours_sub = timed(lambda: worst(model, xs, ys))
        with torch.no_grad():
            art_accuracy = float((model(torch.from_numpy(x_art)).argmax(1) == ys).float().mean())
        out["art"] = {"n": art_n, "seconds": t, "speedup_worst": t / ours_sub_t, "accuracy": art_accuracy,
                      "ours_accuracy_same_images": 1 - ours_sub.success_rate,
                      "chosen": [art.attack_trans_x, art.attack_trans_y, art.attack_rot]}  # fmt: skip
        rows += [("ART SpatialTransformation s", f"{t:.2f} on {art_n} images  (ours, worst per image, {t / ours_sub_t:.0f}x faster)"),
                 ("accuracy under ART (one transform per batch)", f"{art_accuracy:.3f}  (ours on the same images "
                                                                  f"{out['art']['ours_accuracy_same_images']:.3f})")]  # fmt: skip
    except ImportError:
        pass
    return out, rows


AUGMENTED_CACHE = CACHE.with_name("lenet-mnist5k-augmented-5ep.safetensors")


def augmented_lenet() -> nn.Module:
    """LeNet trained 5 epochs on mnist-5k with a random rotation-translation per example
    (`SpatialTrainingLoss(tries=1)`, lr 0.01, batch 64): a model the grid does not fool
    entirely, so that accuracies under the grid attacks can be compared (cached)."""
    from safetensors.torch import load_file, save_file

    from advlab.defenses.spatial import SpatialTrainingLoss
    from advlab.train import TrainConfig, fit

    net = models.create("lenet")
    if AUGMENTED_CACHE.exists():
        net.load_state_dict(load_file(str(AUGMENTED_CACHE)))
        return net.eval()
    torch.manual_seed(0)
    fit(net, data.load("mnist-5k", "train"), None, TrainConfig(epochs=5, lr=0.01), AUGMENTED_CACHE.with_suffix(""),
        batch_loss=SpatialTrainingLoss(tries=1))  # fmt: skip
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(AUGMENTED_CACHE))
    return net.eval()


def bench_first_adversarial(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Our first-adversarial grid against foolbox's on a model the grid does not fool entirely."""
    import foolbox as fb

    first = SpatialGrid(max_rotation=MAX_ROTATION, max_translation=MAX_TRANSLATION, rotations=ROTATIONS,
                        translations=TRANSLATIONS, exhaustive=False)  # fmt: skip
    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    fb_attack = fb.attacks.SpatialAttack(max_translation=MAX_TRANSLATION, max_rotation=MAX_ROTATION,
                                         num_translations=TRANSLATIONS, num_rotations=ROTATIONS, grid_search=True)  # fmt: skip
    ours_t, fb_t = [], []
    for _ in range(repeats):
        t, result = timed(lambda: first(model, x, y))
        ours_t.append(t)
        t, (_, _, fb_success) = timed(lambda: fb_attack(fmodel, x, y))
        fb_t.append(t)
    ours, theirs = statistics.median(ours_t), statistics.median(fb_t)
    with torch.no_grad():
        natural = float((model(x).argmax(1) == y).float().mean())
    out = {"n": x.shape[0], "natural_accuracy": natural, "seconds": ours, "foolbox_seconds": theirs,
           "speedup": theirs / ours, "accuracy": 1 - result.success_rate,
           "foolbox_accuracy": 1 - float(fb_success.float().mean())}  # fmt: skip
    rows = [("augmented LeNet: natural accuracy", f"{natural:.3f}  ({x.shape[0]} images)"),
            ("augmented LeNet: grid, first adversarial s (ours)", f"{ours:.2f}"),
            ("augmented LeNet: foolbox SpatialAttack s", f"{theirs:.2f}  (ours {theirs / ours:.2f}x faster, target >= 3)"),
            ("augmented LeNet: accuracy under grid, ours / foolbox", f"{out['accuracy']:.3f} / {out['foolbox_accuracy']:.3f}  "
                                                                     f"(ours <= foolbox's: {out['accuracy'] <= out['foolbox_accuracy']})")]  # fmt: skip
    return out, rows


class RandomlyTransformed(nn.Module):
    """``model`` behind fresh random transformations at every forward (for torchattacks'
    EOTPGD, which expects a stochastic model)."""

    def __init__(self, model: nn.Module, distribution: TransformDistribution) -> None:
        super().__init__()
        self.model, self.distribution = model, distribution

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = self.distribution.uniform.sample(x.shape[0], device=x.device, dtype=x.dtype)
        return self.model(self.distribution.apply(x, params))


def bench_eot(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """An EOT step with 30 samples against its floor and against torchattacks' EOTPGD."""
    eot = EOT(PGD(eps=0.2, step_size=0.02, steps=EOT_STEPS), distribution=DISTRIBUTION, draws=EOT_SAMPLES)

    def attack() -> Any:
        return eot(model, x, y, generator=torch.Generator().manual_seed(0))

    # steps gradient passes of 30N images, PGD's final forward of 30N, the final step's of N
    inputs = model_inputs(model, attack)
    assert [i.shape[0] for i in inputs] == [EOT_SAMPLES * x.shape[0]] * (EOT_STEPS + 1) + [x.shape[0]], [i.shape for i in inputs]
    labels = y.repeat_interleave(EOT_SAMPLES)

    def floor() -> None:
        for images in inputs[:EOT_STEPS]:
            with torch.enable_grad():
                xr = images.clone().requires_grad_(True)
                torch.autograd.grad(F.cross_entropy(model(xr), labels), xr)
        with torch.no_grad():
            for images in inputs[EOT_STEPS:]:
                model(images)

    try:
        import torchattacks

        ta = torchattacks.EOTPGD(RandomlyTransformed(model, DISTRIBUTION), eps=0.2, alpha=0.02, steps=EOT_STEPS,
                                 eot_iter=EOT_SAMPLES, random_start=True)  # fmt: skip
    except ImportError:
        ta = None
    ours_t, floor_t, ta_t = [], [], []
    attack()
    for _ in range(repeats):  # interleaved so load drift hits all alike
        ours_t.append(timed(attack)[0] / EOT_STEPS)
        floor_t.append(timed(floor)[0] / EOT_STEPS)
        if ta is not None:
            ta_t.append(timed(lambda: ta(x, y))[0] / EOT_STEPS)
    step, at_floor = statistics.median(ours_t), statistics.median(floor_t)
    out: dict[str, Any] = {"n": x.shape[0], "samples": EOT_SAMPLES, "steps": EOT_STEPS, "ms_per_step": 1000 * step,
                           "floor_ms_per_step": 1000 * at_floor, "ratio_to_floor": step / at_floor}  # fmt: skip
    rows = [("EOT step ms (ours)", f"{out['ms_per_step']:.1f}  ({x.shape[0]} images x {EOT_SAMPLES} transformations)"),
            ("EOT floor ms (fwd+bwd of 30N)", f"{out['floor_ms_per_step']:.1f}  (ours/floor = {step / at_floor:.3f}, target <= 1.2)")]  # fmt: skip
    if ta_t:
        out["torchattacks_ms_per_step"] = 1000 * statistics.median(ta_t)
        out["torchattacks_ratio"] = statistics.median(ta_t) / step
        rows += [("torchattacks EOTPGD ms/step", f"{out['torchattacks_ms_per_step']:.1f}  "
                                                 f"(torchattacks / ours = {out['torchattacks_ratio']:.2f})")]  # fmt: skip
    return out, rows


def main(n: int = 200, repeats: int = 3, fb_repeats: int = 1, art_n: int = 20, eot_n: int = 100,
         only: str | None = None, robust_n: int = 100) -> dict:  # fmt: skip
    torch.manual_seed(0)
    model = models.use_channels_last(trained_lenet())
    x, y = data.as_tensors(data.load("mnist-5k", "test"), limit=max(n, eot_n, robust_n))
    out: dict[str, Any] = {"threads": torch.get_num_threads()}
    rows: list[tuple[str, str]] = []
    if only in (None, "grid"):
        out["grid"], part = bench_grid(model, x[:n], y[:n], repeats, fb_repeats, art_n)
        rows += part
        try:
            robust = models.use_channels_last(augmented_lenet())
            out["grid_augmented"], part = bench_first_adversarial(robust, x[:robust_n], y[:robust_n], fb_repeats)
            rows += part
        except ImportError:
            pass
    if only in (None, "eot"):
        out["eot"], part = bench_eot(model, x[:eot_n], y[:eot_n], repeats)
        rows += part
    print_table(f"Spatial and EOT attacks: LeNet on mnist-5k, medians of {repeats}", rows)
    save("transforms" if only is None else f"transforms-{only}", out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fb-repeats", type=int, default=1)
    parser.add_argument("--art-n", type=int, default=20)
    parser.add_argument("--eot-n", type=int, default=100)
    parser.add_argument("--robust-n", type=int, default=100)
    parser.add_argument("--only", choices=["grid", "eot"], default=None)
    args = parser.parse_args()
    main(args.n, args.repeats, args.fb_repeats, args.art_n, args.eot_n, args.only, args.robust_n)
