"""Tables and figures of the `gan-interventions` experiment (Bau et al. 2020, Figure 4):
removing tree units (curves and examples) and inserting door units (examples and the effect
by context), with the typed rows the experiment fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from advlab.data.scenes import concept_index
from advlab.dissect.scores import IOU_THRESHOLD
from advlab.report import dissection_figures as figs
from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Cell, Table
from advlab.zoo.scene_models import GeneratorSummary, SegmenterQuality

CONTEXTS = ("building", "window", "roof", "door", "tree", "sky", "grass", "road")
EXAMPLE_CONTEXTS = ("building", "window", "tree", "sky")  # Fig. 4c, in this order


@dataclass
class ConceptChange:
    """One concept's share of the pixels of generated scenes: unedited, with the removed
    concept's top units removed, and with as many random units removed (mean, least and
    most over the random draws)."""

    before: float
    after: float
    after_random: float
    random_min: float = 0.0
    random_max: float = 0.0


@dataclass
class LayerSpecificity:
    """Removing the `count` top units of the removed concept from `layer` (of `units`) on
    the selection scenes: every concept's share before and after, the fraction of the
    concept's pixels removed, the spill (largest |change| in share of another concept / the
    concept's change in share) and the other concept that changed most."""

    layer: str
    units: int
    count: int
    before: dict[str, float]
    after: dict[str, float]
    removed_fraction: float
    spill: float
    most_changed: str


SPILL_LIMIT = 1.5  # the rule: other concepts change by at most 1.5x the tree share removed
VISIBLE_DOOR = 0.01  # the rule: a shown door insertion adds >= 1% of the image's pixels


@dataclass
class RemovalCurve:
    """Fig. 4a: the removed concept's pixel share for each count of `counts` with the units
    of highest IoU removed (`top`) and with random units (`random`, `random_std` over
    draws); `units` / `iou`: the ranked units and their IoU; `others`: every concept before
    and after removing (about) 20 units (Fig. 4b)."""

    concept: str
    counts: list[int]
    top: list[float]
    random: list[float]
    random_std: list[float]
    units: list[int]
    iou: list[float]
    others: dict[str, ConceptChange]


@dataclass
class RemovalClaim:
    """The paper's claim beside ours: removing `units` (20, or the nearest count) tree units
    removes `removed_fraction` of the tree pixels (random units: `removed_fraction_random`);
    paper: "more than half" (`paper` = 0.5, a lower bound); holds: None when untestable."""

    units: int
    baseline_share: float
    removed_fraction: float | None
    removed_fraction_random: float | None
    paper: float
    holds: bool | None


@dataclass
class ContextEffect:
    """Door pixels added (share of the image) when the units are switched on at positions
    whose unedited concept is this context, averaged over `positions` (None when none)."""

    added: float | None
    positions: int


@dataclass
class InsertionExample:
    """Fig. 4c: in example row `row`, the units were switched on at grid position (`i`, `j`),
    whose unedited concept is `context` (an index into CONCEPTS), adding `added` door pixels."""

    row: int
    context: int
    i: int
    j: int
    added: float


@dataclass
class Insertion:
    """Fig. 4c, d: the inserted concept's `units` (their IoU and 99.5th-percentile `levels`),
    the layer's `grid`, the effect by context over `samples` scenes, and the examples."""

    concept: str
    units: list[int]
    iou: list[float]
    levels: list[float]
    grid: list[int]
    samples: int
    by_context: dict[str, ContextEffect]
    mean_added: float
    examples: list[InsertionExample] = field(default_factory=list)


class GanInterventions(Protocol):
    """What the renderer reads of `advlab.experiments.gan_interventions.Result`."""

    layer: str
    units: int
    layers: list[LayerSpecificity]
    removal: RemovalCurve | None
    claim: RemovalClaim | None
    insertion: Insertion | None
    segmenter: SegmenterQuality | None
    gan: GeneratorSummary | None
    arrays: str


def render_interventions(result: GanInterventions, out_dir: Path) -> Rendered:
    """Fig. 4a (tree share vs units removed), 4b (before / after), 4c (doors at chosen
    positions), 4d (door pixels added by context), with tables."""
    removal, claim, insertion = result.removal, result.claim, result.insertion
    if removal is None or claim is None or insertion is None:
        raise ValueError("a gan-interventions result without removal, claim or insertion")
    figures = [_removal_figure(result, removal, claim, out_dir)]
    arrays = np.load(out_dir / result.arrays, allow_pickle=False) if result.arrays else None
    if arrays is not None:
        n = arrays["before"].shape[0]
        pixels = np.concatenate([arrays["before"], arrays["after"]]).astype(np.float32) / 255
        labels = np.concatenate([arrays["before_labels"], arrays["after_labels"]])
        figs.images_with_masks(torch.from_numpy(pixels), torch.from_numpy(labels.astype(np.int64)),
                               ["before"] * n + ["20 tree units removed"] * n,
                               out_dir / "tree_removal_examples.png",
                               "Generated scenes before / after removing 20 tree units", ncols=n)
        figures.append(Figure("tree_removal_examples.png",
                              f"The {n} scenes with the most tree pixels, before (first rows) and "
                              f"after removing the 20 units of {result.layer} with the highest "
                              "tree IoU (Fig. 4b); below each scene, the segmenter's concepts"))
        if "door_images" in arrays:
            figures.append(_door_figure(result.layer, insertion, arrays, out_dir))
        arrays.close()
    figures.append(_context_figure(result.layer, insertion, out_dir))
    tables = [_layers_table(result), _removal_table(result, removal, claim),
              _others_table(removal, claim), _context_table(result.layer, insertion)]
    return Rendered(tables, figures)


def _removal_figure(result: GanInterventions, r: RemovalCurve, claim: RemovalClaim,
                    out_dir: Path) -> Figure:
    fig, ax = pyplot().subplots(figsize=(5.2, 3.4))
    base = r.top[0] or 1.0
    ax.plot(r.counts, [100 * v / base for v in r.top], marker="o", ms=3, color="#0B6623",
            label=f"{r.concept} units (by IoU)")
    ax.errorbar(r.counts, [100 * v / base for v in r.random],
                yerr=[100 * v / base for v in r.random_std], marker="s", ms=3, color="#7F8C8D",
                capsize=2, label="random units")
    ax.axhline(100 * claim.paper, color="#C0392B", lw=1, ls="--",
               label="half of the tree pixels")
    ax.set_xlabel(f"units removed from {result.layer} ({result.units} units)")
    ax.set_ylabel(f"{r.concept} pixels (% of unedited)")
    ax.set_ylim(0, 110)
    ax.legend(fontsize=8)
    save_figure(fig, out_dir / "tree_removal.png")
    return Figure("tree_removal.png",
                  f"{r.concept.capitalize()} pixels in generated scenes (segmenter) against the "
                  "number of units removed, highest tree IoU first vs random units (mean and "
                  f"std) (Fig. 4a). {claim.units} tree units remove "
                  f"{100 * (claim.removed_fraction or 0):.0f}% of the tree pixels (random: "
                  f"{100 * (claim.removed_fraction_random or 0):.0f}%); paper: more than "
                  f"{100 * claim.paper:.0f}%")


def _door_figure(layer: str, insertion: Insertion, arrays: np.lib.npyio.NpzFile,
                 out_dir: Path) -> Figure:
    images, labels = arrays["door_images"], arrays["door_labels"]
    rows, cols = images.shape[:2]  # (rows, 1 + contexts, 3, H, W)
    flat = torch.from_numpy(images.reshape(rows * cols, *images.shape[2:]).astype(np.float32) / 255)
    seg = torch.from_numpy(labels.reshape(rows * cols, *labels.shape[2:]).astype(np.int64))
    titles = []
    examples = {(e.row, e.context): e for e in insertion.examples}
    for row in range(rows):
        titles.append("original")
        for c in EXAMPLE_CONTEXTS:
            e = examples.get((row, concept_index(c)))
            titles.append(f"at {c}\n+{100 * e.added:.1f}% door" if e else f"no {c} here")
    figs.images_with_masks(flat, seg, titles, out_dir / "door_insertion_examples.png",
                           f"{len(insertion.units)} door units set to their "
                           f"99.5th percentile at one position of {layer}", ncols=cols)
    plausible = [e.added for e in insertion.examples
                 if e.context in (concept_index("building"), concept_index("window"))]
    visible = sum(a >= VISIBLE_DOOR for a in plausible)
    return Figure("door_insertion_examples.png",
                  "Doors inserted by activating the door units at one position (Fig. 4c): the "
                  "same scene, with the units switched on at a position on a building, a window, "
                  "a tree and the sky (the position of each context where the most door pixels "
                  "appeared); the share of door pixels added is in each title. "
                  f"{visible} of the {len(plausible)} insertions on a building or a window add "
                  f"at least {100 * VISIBLE_DOOR:g}% of the image as door pixels (a visible "
                  f"door at {images.shape[-1]}x{images.shape[-2]} pixels)")


def _context_figure(layer: str, insertion: Insertion, out_dir: Path) -> Figure:
    by = insertion.by_context
    shown = [c for c in CONTEXTS if by[c].added is not None]
    fig, ax = pyplot().subplots(figsize=(5.2, 3.2))
    ax.bar(shown, [100 * (by[c].added or 0.0) for c in shown],
           color=[figs.CONCEPT_COLOURS[c] for c in shown], edgecolor="black", lw=0.5)
    ax.set_ylabel("door pixels added (% of image)")
    ax.set_xlabel("concept at the activated position")
    ax.tick_params(axis="x", labelsize=8, rotation=30)
    save_figure(fig, out_dir / "door_context.png")
    return Figure("door_context.png",
                  f"Door pixels added by switching on {len(insertion.units)} door units at one "
                  f"position of the {insertion.grid[0]}x{insertion.grid[1]} grid of {layer}, "
                  f"averaged over every position of {insertion.samples} generated scenes, by the "
                  "concept at that position (Fig. 4d)")


def _removal_table(result: GanInterventions, r: RemovalCurve, claim: RemovalClaim) -> Table:
    rows: list[list[Cell]] = [[n, round(100 * t, 3), round(100 * m, 3), round(100 * s, 3)]
            for n, t, m, s in zip(r.counts, r.top, r.random, r.random_std, strict=True)]
    verdict = "untested" if claim.holds is None else \
        ("holds" if claim.holds else "does not hold")
    gan = result.gan
    samples = f"{gan.iters}-iteration {gan.arch} samples" if gan else "generated samples"
    accuracy = (f" (pixel accuracy {100 * result.segmenter.pixel_accuracy:.1f}% on held-out "
                "real scenes)") if result.segmenter else ""
    return Table(f"{r.concept.capitalize()} pixels vs units removed from {result.layer} "
                 "(Fig. 4a)",
                 ["units removed", f"{r.concept} % (top-IoU units)",
                  f"{r.concept} % (random, mean)", "random std"], rows,
                 caption=f"Share of {r.concept} pixels in {samples}, labelled by the segmenter"
                 f"{accuracy}. Removing {claim.units} tree units removes "
                 f"{100 * (claim.removed_fraction or 0):.1f}% of the tree pixels "
                 f"({100 * (claim.removed_fraction_random or 0):.1f}% for random units). Paper "
                 "(Fig. 4a, Progressive GAN on LSUN churches): removing 20 tree units removes "
                 f"more than half: the claim {verdict} here.")


def removal_spill(r: RemovalCurve) -> tuple[float, str]:
    """(largest |change in share| of another concept / the removed concept's change in
    share, that concept) on the evaluation scenes, with `claim.units` units removed."""
    removed = r.others[r.concept].before - r.others[r.concept].after
    changes = {c: abs(v.after - v.before) for c, v in r.others.items() if c != r.concept}
    other = max(changes, key=lambda c: changes[c])
    return (changes[other] / removed if removed > 0 else float("inf")), other


def _others_table(r: RemovalCurve, claim: RemovalClaim) -> Table:
    rows: list[list[Cell]] = [
        [c, round(100 * v.before, 3), round(100 * v.after, 3),
         round(100 * (v.after - v.before), 3), round(100 * v.after_random, 3),
         f"{100 * v.random_min:.2f}-{100 * v.random_max:.2f}"] for c, v in r.others.items()]
    spill, other = removal_spill(r)
    verdict = "holds" if spill <= SPILL_LIMIT else "does not hold"
    return Table(f"Every concept before and after removing {claim.units} {r.concept} units "
                 "(Fig. 4b)",
                 ["concept", "% of pixels, unedited",
                  f"% with {claim.units} {r.concept} units removed", "change (points)",
                  f"% with {claim.units} random units removed (mean)",
                  "random units: range over draws"], rows,
                 caption=f"What replaces the removed {r.concept} pixels, as the segmenter sees "
                 "the same generated scenes, beside removing as many random units. Spill: the "
                 f"largest change of another concept ({other}) is {spill:.2f}x the {r.concept} "
                 f"share removed. Paper (Fig. 4b): removing tree units affects trees while "
                 "leaving other objects intact, revealing what was behind them; rule: spill <= "
                 f"{SPILL_LIMIT:g} (what fills the removed trees may all be one concept): "
                 f"{verdict}.")


def _layers_table(result: GanInterventions) -> Table:
    rows: list[list[Cell]] = [
        [s.layer + (" (chosen)" if s.layer == result.layer else ""), s.units, s.count,
         round(100 * s.removed_fraction, 1), round(s.spill, 2),
         f"{s.most_changed} {100 * s.before[s.most_changed]:.1f}% -> "
         f"{100 * s.after[s.most_changed]:.1f}%"] for s in result.layers]
    return Table("Choosing the layer: removing its top tree units, every layer",
                 ["layer", "units", "units removed", "tree pixels removed %", "spill",
                  "other concept changed most"], rows,
                 caption="Units ranked by IoU with tree, thresholds at the top 1% of each "
                 "unit's raw feature map values (the authors' dissect_experiment.py), on the "
                 "dissection scenes. Spill: the largest change in share of another concept "
                 "divided by the tree share removed. Rule, fixed before measuring: the layer of "
                 "least spill among those where removing the units takes away more than half "
                 "the tree pixels (of least spill overall if none does).")


def _context_table(layer: str, insertion: Insertion) -> Table:
    by = insertion.by_context
    rows = [[c, None if by[c].added is None else round(100 * (by[c].added or 0.0), 4),
             by[c].positions] for c in CONTEXTS]
    return Table("Door pixels added by the context of the activated position (Fig. 4d)",
                 ["context", "door pixels added (% of image)", "positions"], rows,
                 caption=f"{len(insertion.units)} door units (highest door IoU in {layer}) set "
                 "to their 99.5th percentile at one position at a time; context = the "
                 "segmenter's label at the centre of the position in the unedited scene. Paper "
                 "(Fig. 4d): doors appear at windows and on buildings, not on trees or in the sky "
                 f"(plotted without printed values).{_no_unit_note(layer, insertion)}")


def _no_unit_note(layer: str, insertion: Insertion) -> str:
    """A sentence when no chosen unit reaches the IoU at which dissection labels a unit: the
    layer then has no unit of the concept, and activating the chosen ones cannot draw it."""
    best = max(insertion.iou, default=0.0)
    if best > IOU_THRESHOLD:
        return ""
    return (f" The best {insertion.concept} IoU among these units is {best:.3f}, under the "
            f"{IOU_THRESHOLD:g} at which dissection labels a unit: {layer} has no "
            f"{insertion.concept} unit, so no {insertion.concept} can be expected to appear.")
