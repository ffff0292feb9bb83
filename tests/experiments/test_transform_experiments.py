"""spatial-table, spatial-landscape, eot-table and rp2-table run a tiny config and render
(DESIGN.md 8); the paper numbers sit beside ours where the paper gives them."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from advlab.attacks import EOT, PGD, SpatialGrid
from advlab.experiments import (
    eot_table,
    rp2_factors,
    rp2_table,
    spatial_landscape,
    spatial_table,
)
from advlab.train import TrainConfig
from advlab.transforms import TransformDistribution
from advlab.zoo.context import RunContext

TINY_TRAINING = TrainConfig(epochs=2, lr=0.05, schedule="cosine")
ROW = "fc500-150-10@digits"


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("transform-experiments-cache")


@pytest.fixture
def ctx(tmp_path, model_cache) -> RunContext:
    return RunContext(out_dir=tmp_path, cache_dir=model_cache)


def _figures_saved(rendered, out_dir, names: list[str]) -> None:
    assert [figure.path for figure in rendered.figures] == names
    for name in names:
        assert (out_dir / name).is_file(), name


def test_spatial_table_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(
        spatial_table.Config.quick(), rows=(ROW,), trainings=("worst-of-10",), canvases=(0, 2),
        max_translation=1.0, rotations=5, translations=3, pgd_steps=3, n_test=40,
        training=dataclasses.replace(TINY_TRAINING, epochs=1),
    )
    result = spatial_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert [(r.training, r.canvas) for r in result.rows] == [("worst-of-10", 0), ("worst-of-10", 2)]
    for r in result.rows:
        # the grid is the strongest adversary
        assert r.grid <= r.natural and r.grid <= r.worst_of_10 + 1e-9
        assert r.grid_points == 45 and r.n == 40 and r.paper is None
    rendered = spatial_table.render(result, tmp_path)
    assert len(rendered.tables[0].rows) == 2
    _figures_saved(rendered, tmp_path, ["spatial_accuracy.png"])
    (ax,) = spatial_table.accuracy_figure(result).axes
    assert ax.get_ylabel() == "accuracy %"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["worst-of-10\nno canvas",
                                                            "worst-of-10\ncanvas 2"]
    # one bar per (adversary, row), adversary by adversary
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == pytest.approx([r.accuracy(name) for name in spatial_table.ADVERSARIES
                                     for r in result.rows])
    with pytest.raises(ValueError, match="unknown training"):
        dataclasses.replace(config, trainings=("adversarial",))
    assert spatial_table.Config.paper().rows[-1].startswith("torchvision:")


def test_spatial_landscape_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(spatial_landscape.Config.quick(), row=ROW, examples=2,
                                 grid=SpatialGrid(max_rotation=30.0, max_translation=1.0),
                                 rotation_steps=11, translation_steps=5, training=TINY_TRAINING)
    result = spatial_landscape.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert len(result.examples) == 2 and len(result.examples[0].loss) == 11
    assert result.translations[-1] == 1.0 and result.rotations[-1] == 30.0
    for ex in result.examples:
        # the dense plane holds the coarse grid's points, so its maximum is at least the grid's
        assert ex.max_loss >= ex.grid_worst_loss - 1e-5 or ex.grid_fooled
    rendered = spatial_landscape.render(result, tmp_path)
    _figures_saved(rendered, tmp_path, ["landscape.png"])
    fig = spatial_landscape.landscape_figure(result)
    assert len(fig.axes) == 2 * 2 + 2  # image and landscape per example, and a colour bar each
    for i, ex in enumerate(result.examples):
        image_ax, landscape_ax = fig.axes[i], fig.axes[2 + i]
        assert image_ax.get_title() == f"label {ex.label}"
        assert landscape_ax.get_xlabel() == "x-translation (px)"
        assert landscape_ax.get_title().startswith(f"{ex.local_maxima} local maxima")
        worst = landscape_ax.lines[0]  # the red x at (dx, rotation) of the grid's worst point
        assert [worst.get_xdata()[0], worst.get_ydata()[0]] == ex.grid_worst[::-1]
    assert fig.axes[2].get_ylabel() == "rotation (degrees)"


def test_local_maxima_count() -> None:
    import torch

    surface = torch.zeros(5, 5)
    surface[1, 1], surface[3, 3], surface[3, 4] = 1.0, 2.0, 2.0  # a plateau is no strict maximum
    assert spatial_landscape.strict_local_maxima(surface) == 1
    assert spatial_landscape.strict_local_maxima(surface, above=1.5) == 0


def test_eot_table_tiny(tmp_path, ctx) -> None:
    distribution = TransformDistribution(rotation=(-10, 10), noise=(0, 0.05))
    attack = EOT(PGD(eps=0.25, steps=5, step_size=0.05, targeted=True),
                 distribution=distribution, draws=2)
    config = dataclasses.replace(eot_table.Config.quick(), row=ROW, n_images=8, attack=attack,
                                 eval_transforms=20, training=TINY_TRAINING)
    result = eot_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    rows = {r.images: r for r in result.rows}
    assert set(rows) == {"clean", "pgd", "eot"} and rows["clean"].l2_mean == 0
    eps = attack.inner.eps
    assert rows["pgd"].linf_max <= eps + 1e-6 and rows["eot"].linf_max <= eps + 1e-6
    assert rows["pgd"].untransformed_adversariality > rows["clean"].untransformed_adversariality
    assert all(r.paper is None for r in result.rows)
    rendered = eot_table.render(result, tmp_path)
    assert len(rendered.tables[0].rows) == 3
    _figures_saved(rendered, tmp_path, ["eot_examples.png", "adversariality.png"])
    examples = eot_table.examples_figure(result)
    columns = 1 + eot_table.SHOWN_TRANSFORMS
    assert len(examples.axes) == 2 * 3 * columns  # 2 examples x (clean, pgd, eot) rows
    first = result.examples[0]
    titles = [ax.get_title() for ax in examples.axes[:columns]]
    assert titles == [result.classes[k] for k in first.clean.pred]
    assert [examples.axes[k * columns].get_ylabel() for k in range(3)] == list(eot_table.IMAGES)
    (ax,) = eot_table.adversariality_figure(result).axes
    assert ax.get_ylabel() == "images"
    assert ax.get_legend_handles_labels()[1] == [eot_table.IMAGE_LABELS["pgd"],
                                                 eot_table.IMAGE_LABELS["eot"]]
    # two histograms of 20 bins, each counting every image once
    assert len(ax.patches) == 2 * 20
    assert sum(bar.get_height() for bar in ax.patches) == 2 * 8


def test_rp2_nearest_target_skips_the_object_class() -> None:
    probs = torch.tensor([[[0.7, 0.2, 0.1]], [[0.6, 0.1, 0.3]]])  # (n=2, Q=1, K=3)
    assert rp2_factors.nearest_target(probs, object_class=0) == 2  # mean 0.15 vs 0.2
    assert rp2_factors.nearest_target(probs, object_class=2) == 0
    with pytest.raises(ValueError, match="valid"):
        rp2_factors.factor_variant(rp2_table.QUICK_ATTACK, "bigger", 8, 2)


def test_rp2_table_tiny(tmp_path, ctx) -> None:
    attack = dataclasses.replace(rp2_table.QUICK_ATTACK, steps=5, mask_steps=3, draws=2,
                                 sticker_size=(0.25, 0.5))
    config = dataclasses.replace(rp2_table.Config.quick(), row=ROW, n_objects=3, attack=attack,
                                 training=TINY_TRAINING)
    assert config.factors == rp2_factors.FACTORS and rp2_table.Config.demo().factors == ()
    result = rp2_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert set(result.masks) == {"object", "stickers"} and len(result.conditions) == 15
    assert 50 < result.classifier_accuracy <= 100
    factors = {f.factor: f for f in result.factors}
    assert list(factors) == list(rp2_factors.FACTORS)
    # sqrt(2) x the side: 3 x 6 px stickers, more area than the 2 x 4 px of the main run
    assert factors["larger stickers"].mask_area <= 100 * attack.stickers * (3 * 6) / 64
    assert factors["larger stickers"].mask_area > result.masks["stickers"].mask_area
    assert factors["nearest target"].target != config.object_class
    assert all(f.target == config.target_class for f in result.factors
               if f.factor != "nearest target")
    assert result.masks["object"].mask_area == 100.0
    # 2x4 px stickers on 8x8
    assert result.masks["stickers"].mask_area <= 100 * attack.stickers * (2 * 4) / 64
    assert result.paper_conditions[0] == rp2_table.PAPER_TABLE5[(5, 0)]
    rendered = rp2_table.render(result, tmp_path)
    table5, summary, factor_table = rendered.tables
    assert [row[0] for row in factor_table.rows] == ["none (main run)", *rp2_factors.FACTORS]
    assert "larger stickers" in summary.caption
    assert f"{result.masks['stickers'].mask_area:.1f}% of the image" in summary.caption
    cells = dict(zip(table5.columns, table5.rows[0], strict=True))
    assert cells["distance & angle"] == "5' 0°"
    assert cells["paper: top class (conf.)"] == "Speed Limit 80 (0.88)"
    assert summary.rows[-1][-1] == 80.0  # the paper's success rate beside the sticker row
    _figures_saved(rendered, tmp_path, ["rp2_masks.png", "rp2_conditions.png"])
    assert result.example is not None
    masks = rp2_table.masks_figure(result.example)
    assert [ax.get_title() for ax in masks.axes] == [
        "object", "RP2, object mask", "sticker mask (from the l1 stage)", "RP2, stickers",
        "|sticker perturbation|"]
    conditions = rp2_table.conditions_figure(result)
    shown = len(rp2_table.SHOWN_CONDITIONS)
    assert len(conditions.axes) == 3 * shown
    rows = [conditions.axes[r * shown].get_ylabel() for r in range(3)]
    assert rows == ["clean", "object mask", "stickers"]
    top = result.masks["stickers"].top[0]  # condition (5, 0) is the first shown and evaluated
    assert conditions.axes[2 * shown].get_title().startswith(f"5' 0°: {result.classes[top]} (")
