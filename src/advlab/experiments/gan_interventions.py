"""Bau et al. 2020 (PNAS, arXiv:2009.05041), Figure 4: the causal effect of removing and
activating units of a GAN generator.

The scene generator and segmenter of gan-dissection (shared cache) are used. The units of
one generator layer (default the 8x8 layer, as the paper's layer4) are dissected on
generated scenes; then
(a) the units ranked by IoU with "tree" are removed in growing sets (0..30) and the share of
    tree pixels in generated scenes (segmenter) is measured, against removing as many random
    units; the paper's claim checked: "Removing 20 tree units removes more than half the
    generated tree pixels from the output";
(b) scenes before and after removing 20 tree units;
(c) the 20 units with the highest IoU with "door" are set to their 99.5th percentile at one
    position of the layer: on a building, a window, a tree and the sky of the same scenes;
(d) doing so at every position of every scene, the door pixels added are averaged by the
    concept at that position in the unedited scene: the paper finds doors appear in
    reasonable places (at a window, on a building) and not on a tree or in the sky.
The protocol follows the authors' generator_int_experiment.py.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advlab.data.scene_catalogue import CONCEPTS
from advlab.data.scenes import concept_index
from advlab.dissect import (
    QUANTILE_PAPER,
    Probe,
    SegmentedImages,
    ablate,
    dissect,
    insert,
    insertion_effect,
    removal_curve,
    unit_quantiles,
)
from advlab.experiments import dissect_figures as figs
from advlab.experiments.base import Figure, Rendered, RunContext
from advlab.experiments.dissect_results import save_arrays, to_uint8
from advlab.experiments.scene_models import SCENE_GAN, SEGMENTER_TRAINING, scene_generator
from advlab.gan.config import GANTrainConfig
from advlab.gan.sampling import generate, to_unit_range
from advlab.tables import Table
from advlab.train import TrainConfig

NAME = "gan-interventions"
TITLE = "Removing tree units and inserting door units in a GAN generator (Bau et al. 2020, Figure 4)"
PAPER = "Bau et al. 2020, PNAS (arXiv:2009.05041), Figure 4"
# Fig. 4a caption: "Removing 20 tree units removes more than half the generated tree pixels".
PAPER_TREE_REMOVED_AT_20 = 0.5  # a lower bound ("more than half"), not a measured value
CONTEXTS = ("building", "window", "roof", "door", "tree", "sky", "grass", "road")
EXAMPLE_CONTEXTS = ("building", "window", "tree", "sky")


@dataclass(frozen=True)
class Config:
    """gan / segmenter_*: as in gan-dissection (the same cached models); quality_images:
    held-out scenes the segmenter is measured on; layer: the generator layer edited;
    dissect_samples: generated scenes used to rank
    units by IoU; samples: scenes of the removal curves; removal_counts: numbers of tree
    units removed; random_draws: random unit sets per count; door_units / door_quantile:
    units inserted and their level (99.5th percentile); insertion_samples: scenes of the
    context statistics; examples: scenes shown before and after."""

    gan: GANTrainConfig = SCENE_GAN
    segmenter_width: int = 16
    segmenter_images: int = 5000
    segmenter_training: TrainConfig = SEGMENTER_TRAINING
    quality_images: int = 1000
    layer: str = "net.5"
    removed_concept: str = "tree"
    inserted_concept: str = "door"
    dissect_samples: int = 1000
    samples: int = 300
    removal_counts: tuple[int, ...] = tuple(range(0, 31, 2))
    random_draws: int = 5
    door_units: int = 20
    door_quantile: float = 0.995
    insertion_samples: int = 100
    examples: int = 6
    quantile: float = QUANTILE_PAPER
    seed: int = 0

    @classmethod
    def quick(cls) -> Config:
        return cls()

    @classmethod
    def paper(cls) -> Config:
        return cls(gan=SCENE_GAN.replace(width=128, iters=50_000), dissect_samples=10_000,
                   samples=10_000, removal_counts=tuple(range(31)), random_draws=10,
                   insertion_samples=10_000, segmenter_width=32,
                   segmenter_training=dataclasses.replace(SEGMENTER_TRAINING, epochs=20))


@dataclass
class Result:
    """removal: counts, the removed concept's pixel share with the top-IoU units removed and
    with random units (mean, std), the ranked units; claim: the share removed at 20 units;
    insertion: door pixels added by context; segmenter: its quality; arrays: saved images."""

    layer: str = ""
    units: int = 0
    removal: dict[str, Any] = field(default_factory=dict)
    claim: dict[str, Any] = field(default_factory=dict)
    insertion: dict[str, Any] = field(default_factory=dict)
    segmenter: dict[str, Any] = field(default_factory=dict)
    gan: dict[str, Any] = field(default_factory=dict)
    arrays: str = ""


def run(config: Config, ctx: RunContext) -> Result:
    """Dissect the layer, remove tree units (with a random control), insert door units at
    chosen positions and at every position (by context)."""
    setup = scene_generator(ctx, config.gan, config.segmenter_width, config.segmenter_images,
                            config.segmenter_training, config.quality_images)
    G, k = setup.generator, len(CONCEPTS)
    tree, door = concept_index(config.removed_concept), concept_index(config.inserted_concept)
    z_dissect = setup.latents(config.dissect_samples, config.seed, ctx.device)
    labels = SegmentedImages(setup.segment, of="outputs", to_images=to_unit_range)
    layer = dissect(Probe(G, (config.layer,), z_dissect), labels, CONCEPTS,
                    config.quantile)[config.layer]
    units = layer.units
    result = Result(layer=config.layer, units=units, segmenter=setup.quality,
                    gan={"arch": setup.config.arch, "loss": setup.config.loss,
                         "width": setup.config.width, "iters": setup.config.iters})
    # (a) removal curves, on scenes other than those the units were ranked on
    z = setup.latents(config.samples, config.seed + 1, ctx.device)
    counts = [n for n in config.removal_counts if n <= units]
    ranked = layer.ranked_units(config.removed_concept)
    g = torch.Generator().manual_seed(config.seed)
    random_orders = torch.stack([torch.randperm(units, generator=g) for _ in range(config.random_draws)])
    with ctx.reporter.task(f"removing {config.removed_concept} units", 2) as task:
        top_all = removal_curve(G, config.layer, ranked[None], counts, z, setup.segment,
                                to_unit_range, k)[0]  # (counts, C)
        task.advance()
        rand_all = removal_curve(G, config.layer, random_orders, counts, z, setup.segment,
                                 to_unit_range, k)  # (R, counts, C)
        task.advance()
    top, rand = top_all[:, tree], rand_all[..., tree]
    at = counts.index(min(counts, key=lambda n: abs(n - 20)))
    result.removal = {"concept": config.removed_concept, "counts": counts, "top": top.tolist(),
                      "random": rand.mean(0).tolist(),
                      "random_std": (rand.std(0) if config.random_draws > 1 else torch.zeros(len(counts))).tolist(),
                      "units": ranked[: max(counts)].tolist(),
                      "iou": layer.iou[ranked[: max(counts)], tree].tolist(),
                      "others": {c: {"before": float(top_all[0, i]), "after": float(top_all[at, i]),
                                     "after_random": float(rand_all[:, at, i].mean())}
                                 for i, c in enumerate(CONCEPTS)}}
    result.claim = _claim(counts, top, rand)
    arrays = _before_after(config, G, setup, ranked, z, tree)
    # (c, d) inserting door units at their 99.5th percentile
    door_units = layer.ranked_units(config.inserted_concept)[: config.door_units]
    # the level of each unit over its maps upsampled to the image, as the authors'
    # rq.quantiles(0.995)
    height, width = generate(G, z_dissect[:1]).shape[-2:]
    levels = unit_quantiles(Probe(G, (config.layer,), z_dissect), config.layer,
                            config.door_quantile, size=(int(height), int(width)))[door_units]
    z_insert = setup.latents(config.insertion_samples, config.seed + 2, ctx.device)
    with ctx.reporter.task(f"inserting {config.inserted_concept} units at every position", None):
        effect = insertion_effect(G, config.layer, door_units, levels, z_insert, setup.segment,
                                  to_unit_range, door, k)
    means, pairs = effect.by_context(k)
    result.insertion = {"concept": config.inserted_concept, "units": door_units.tolist(),
                        "iou": layer.iou[door_units, door].tolist(), "levels": levels.tolist(),
                        "grid": list(effect.grid), "samples": config.insertion_samples,
                        "by_context": {c: {"added": None if math.isnan(float(means[i])) else float(means[i]),
                                           "positions": int(pairs[i])}
                                       for i, c in enumerate(CONCEPTS)},
                        "mean_added": float(effect.added.mean())}
    arrays.update(_door_examples(config, G, setup, door_units, levels, z_insert, effect, result))
    save_arrays(ctx.out_dir / "gan_interventions.npz", arrays)
    result.arrays = "gan_interventions.npz"
    return result


def _claim(counts: list[int], top: torch.Tensor, rand: torch.Tensor) -> dict[str, Any]:
    """The share of tree pixels removed by 20 tree units (or the nearest count), and by as
    many random units, against the paper's "more than half"."""
    at = min(counts, key=lambda n: abs(n - 20))
    j = counts.index(at)
    base = float(top[0])
    removed = 1 - float(top[j]) / base if base > 0 else None
    removed_random = 1 - float(rand[:, j].mean()) / base if base > 0 else None
    return {"units": at, "baseline_share": base, "removed_fraction": removed,
            "removed_fraction_random": removed_random, "paper": PAPER_TREE_REMOVED_AT_20,
            "holds": None if removed is None else removed > PAPER_TREE_REMOVED_AT_20}


def _before_after(config: Config, G: torch.nn.Module, setup: Any, ranked: torch.Tensor,
                  z: torch.Tensor, tree: int) -> dict[str, np.ndarray]:
    """Fig. 4b: the scenes with the most trees, before and after removing 20 tree units."""
    with torch.no_grad():
        before = generate(G, z)
        share = (setup.segment(before) == tree).flatten(1).float().mean(1)
        chosen = share.argsort(descending=True)[: config.examples]
        with ablate(G, config.layer, ranked[: min(20, ranked.numel())]):
            after = generate(G, z[chosen])
    return {"before": to_uint8(before[chosen]), "after": to_uint8(after),
            "before_labels": setup.segment(before[chosen]).cpu().numpy().astype(np.int8),
            "after_labels": setup.segment(after).cpu().numpy().astype(np.int8)}


def _door_examples(config: Config, G: torch.nn.Module, setup: Any, units: torch.Tensor,
                   levels: torch.Tensor, z: torch.Tensor, effect: Any, result: Result) -> dict[str, np.ndarray]:
    """Fig. 4c: the scenes with the most of the example contexts (building, window, tree,
    sky) at the centres of the layer's positions; doors inserted at one position of each
    context (the one where the most door pixels appeared), the scene unchanged where the
    context is missing."""
    h, w = effect.grid
    contexts = [concept_index(c) for c in EXAMPLE_CONTEXTS]
    present = torch.stack([(effect.context == c).any(1) for c in contexts], 1)  # (N, 4)
    score = present.sum(1) * 10.0 + effect.added.max(1).values.clamp(0, 1)  # contexts first
    scenes = score.argsort(descending=True)[: max(1, config.examples // 2)]
    rows, labels, positions = [], [], []
    with torch.no_grad():
        originals = generate(G, z[scenes])
        for row, s in enumerate(scenes.tolist()):
            images = [originals[row]]
            for c in contexts:
                candidates = torch.nonzero(effect.context[s] == c).flatten()
                if candidates.numel() == 0:
                    images.append(originals[row])
                    continue
                best = candidates[effect.added[s, candidates].argmax()]
                where = torch.zeros(h, w, dtype=torch.bool)
                where[int(best) // w, int(best) % w] = True
                with insert(G, config.layer, units, levels, where):
                    images.append(generate(G, z[s:s + 1])[0])
                positions.append([row, c, int(best) // w, int(best) % w,
                                  float(effect.added[s, best])])
            stack = torch.stack(images)
            rows.append(to_uint8(stack))
            labels.append(setup.segment(stack).cpu().numpy().astype(np.int8))
    result.insertion["examples"] = positions
    return {"door_images": np.stack(rows), "door_labels": np.stack(labels)}


def render(result: Result, out_dir: Path) -> Rendered:
    """Fig. 4a (tree share vs units removed), 4b (before / after), 4c (doors at chosen
    positions), 4d (door pixels added by context), with tables."""
    figures = [_removal_figure(result, out_dir)]
    arrays = np.load(out_dir / result.arrays, allow_pickle=False) if result.arrays else None
    if arrays is not None:
        n = arrays["before"].shape[0]
        images = torch.from_numpy(np.concatenate([arrays["before"], arrays["after"]]).astype(np.float32) / 255)
        segs = torch.from_numpy(np.concatenate([arrays["before_labels"], arrays["after_labels"]]).astype(np.int64))
        figs.images_with_masks(images, segs, ["before"] * n + ["20 tree units removed"] * n,
                               out_dir / "tree_removal_examples.png",
                               "Generated scenes before / after removing 20 tree units", ncols=n)
        figures.append(Figure("tree_removal_examples.png",
                              f"The {n} scenes with the most tree pixels, before (first rows) and after "
                              f"removing the 20 units of {result.layer} with the highest tree IoU (Fig. 4b); "
                              "below each scene, the segmenter's concepts"))
        if "door_images" in arrays:
            figures.append(_door_figure(result, arrays, out_dir))
        arrays.close()
    figures.append(_context_figure(result, out_dir))
    return Rendered([_removal_table(result), _others_table(result), _context_table(result)], figures)


def _removal_figure(result: Result, out_dir: Path) -> Figure:
    plt = figs._plt()
    r = result.removal
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    base = r["top"][0] or 1.0
    ax.plot(r["counts"], [100 * v / base for v in r["top"]], marker="o", ms=3, color="#0B6623",
            label=f"{r['concept']} units (by IoU)")
    ax.errorbar(r["counts"], [100 * v / base for v in r["random"]],
                yerr=[100 * v / base for v in r["random_std"]], marker="s", ms=3, color="#7F8C8D",
                capsize=2, label="random units")
    ax.axhline(50, color="#C0392B", lw=1, ls="--", label="half of the tree pixels")
    ax.set_xlabel(f"units removed from {result.layer} ({result.units} units)")
    ax.set_ylabel(f"{r['concept']} pixels (% of unedited)")
    ax.set_ylim(0, 110)
    ax.legend(fontsize=8)
    figs.save(fig, out_dir / "tree_removal.png")
    claim = result.claim
    return Figure("tree_removal.png",
                  f"{r['concept'].capitalize()} pixels in generated scenes (segmenter) against the number of "
                  f"units removed, highest tree IoU first vs random units (mean and std) (Fig. 4a). "
                  f"{claim['units']} tree units remove {100 * (claim['removed_fraction'] or 0):.0f}% of the tree "
                  f"pixels (random: {100 * (claim['removed_fraction_random'] or 0):.0f}%); paper: more than 50%")


def _door_figure(result: Result, arrays: Any, out_dir: Path) -> Figure:
    images, labels = arrays["door_images"], arrays["door_labels"]
    rows, cols = images.shape[:2]
    flat = torch.from_numpy(images.reshape(rows * cols, *images.shape[2:]).astype(np.float32) / 255)
    seg = torch.from_numpy(labels.reshape(rows * cols, *labels.shape[2:]).astype(np.int64))
    titles = []
    examples = {(e[0], e[1]): e for e in result.insertion.get("examples", [])}
    for row in range(rows):
        titles.append("original")
        for c in EXAMPLE_CONTEXTS:
            e = examples.get((row, concept_index(c)))
            titles.append(f"at {c}\n+{100 * e[4]:.1f}% door" if e else f"no {c} here")
    figs.images_with_masks(flat, seg, titles, out_dir / "door_insertion_examples.png",
                           f"{len(result.insertion['units'])} door units set to their "
                           f"99.5th percentile at one position of {result.layer}", ncols=cols)
    return Figure("door_insertion_examples.png",
                  "Doors inserted by activating the door units at one position (Fig. 4c): the same scene, "
                  "with the units switched on at a position on a building, a window, a tree and the sky "
                  "(the position of each context where the most door pixels appeared); the share of door "
                  "pixels added is in each title")


def _context_figure(result: Result, out_dir: Path) -> Figure:
    plt = figs._plt()
    by = result.insertion["by_context"]
    shown = [c for c in CONTEXTS if by[c]["added"] is not None]
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    ax.bar(shown, [100 * by[c]["added"] for c in shown],
           color=[figs.CONCEPT_COLOURS[c] for c in shown], edgecolor="black", lw=0.5)
    ax.set_ylabel("door pixels added (% of image)")
    ax.set_xlabel("concept at the activated position")
    ax.tick_params(axis="x", labelsize=8, rotation=30)
    figs.save(fig, out_dir / "door_context.png")
    ins = result.insertion
    return Figure("door_context.png",
                  f"Door pixels added by switching on {len(ins['units'])} door units at one position of the "
                  f"{ins['grid'][0]}x{ins['grid'][1]} grid of {result.layer}, averaged over every position of "
                  f"{ins['samples']} generated scenes, by the concept at that position (Fig. 4d)")


def _removal_table(result: Result) -> Table:
    r, claim = result.removal, result.claim
    rows = [[n, round(100 * t, 3), round(100 * m, 3), round(100 * s, 3)]
            for n, t, m, s in zip(r["counts"], r["top"], r["random"], r["random_std"], strict=True)]
    verdict = ("holds" if claim["holds"] else "does not hold") if claim["holds"] is not None else "untested"
    return Table(f"{r['concept'].capitalize()} pixels vs units removed from {result.layer} (Fig. 4a)",
                 ["units removed", f"{r['concept']} % (top-IoU units)", f"{r['concept']} % (random, mean)",
                  "random std"], rows,
                 caption=f"Share of {r['concept']} pixels in {result.gan.get('iters')}-iteration "
                 f"{result.gan.get('arch')} samples, labelled by the segmenter (pixel accuracy "
                 f"{100 * result.segmenter['pixel_accuracy']:.1f}% on held-out real scenes). Removing "
                 f"{claim['units']} tree units removes {100 * (claim['removed_fraction'] or 0):.1f}% of the tree "
                 f"pixels ({100 * (claim['removed_fraction_random'] or 0):.1f}% for random units). Paper (Fig. 4a, "
                 f"Progressive GAN on LSUN churches): removing 20 tree units removes more than half: the claim "
                 f"{verdict} here.")


def _others_table(result: Result) -> Table:
    r, claim = result.removal, result.claim
    rows = [[c, round(100 * v["before"], 3), round(100 * v["after"], 3), round(100 * v["after_random"], 3)]
            for c, v in r["others"].items()]
    return Table(f"Every concept before and after removing {claim['units']} {r['concept']} units (Fig. 4b)",
                 ["concept", "% of pixels, unedited", f"% with {claim['units']} {r['concept']} units removed",
                  f"% with {claim['units']} random units removed"], rows,
                 caption=f"What replaces the removed {r['concept']} pixels, as the segmenter sees the same "
                 "generated scenes. Paper (Fig. 4b): removing tree units affects trees while leaving other "
                 "objects intact, revealing what was behind them.")


def _context_table(result: Result) -> Table:
    by = result.insertion["by_context"]
    rows = [[c, None if by[c]["added"] is None else round(100 * by[c]["added"], 4), by[c]["positions"]]
            for c in CONTEXTS]
    return Table("Door pixels added by the context of the activated position (Fig. 4d)",
                 ["context", "door pixels added (% of image)", "positions"], rows,
                 caption=f"{len(result.insertion['units'])} door units (highest door IoU in {result.layer}) set to "
                 f"their 99.5th percentile at one position at a time; context = the segmenter's label at the "
                 "centre of the position in the unedited scene. Paper (Fig. 4d): doors appear at windows and "
                 "on buildings, not on trees or in the sky (plotted without printed values).")
