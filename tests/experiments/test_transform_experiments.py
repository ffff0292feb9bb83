"""spatial-table, spatial-landscape, eot-table and rp2-table run a tiny config and render
(DESIGN.md 8); the paper numbers sit beside ours where the paper gives them."""

from __future__ import annotations

import dataclasses
import json

import pytest

from advlab.experiments import eot_table, rp2_table, spatial_landscape, spatial_table
from advlab.experiments.base import RunContext
from advlab.train import TrainConfig
from advlab.transforms import TransformDistribution

TINY_TRAINING = TrainConfig(epochs=2, lr=0.05, schedule="cosine")
ROW = "fc500-150-10@digits"


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("transform-experiments-cache")


@pytest.fixture
def ctx(tmp_path, model_cache) -> RunContext:
    return RunContext(out_dir=tmp_path, cache_dir=model_cache)


def _rendered_files_exist(rendered, out_dir) -> None:
    for figure in rendered.figures:
        assert (out_dir / figure.path).stat().st_size > 1000


def test_spatial_table_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(
        spatial_table.Config.quick(), rows=(ROW,), trainings=("worst-of-10",), canvases=(0, 2),
        max_translation=1.0, rotations=5, translations=3, pgd_steps=3, n_test=40,
        training=dataclasses.replace(TINY_TRAINING, epochs=1),
    )  # fmt: skip
    result = spatial_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert [(r["training"], r["canvas"]) for r in result.rows] == [("worst-of-10", 0), ("worst-of-10", 2)]
    for r in result.rows:
        assert r["grid"] <= r["natural"] and r["grid"] <= r["worst_of_10"] + 1e-9  # the grid is the strongest
        assert r["grid_points"] == 45 and r["n"] == 40
    rendered = spatial_table.render(result, tmp_path)
    assert len(rendered.tables[0].rows) == 2
    _rendered_files_exist(rendered, tmp_path)
    with pytest.raises(ValueError, match="unknown training"):
        dataclasses.replace(config, trainings=("adversarial",))
    assert spatial_table.Config.paper().rows[-1].startswith("torchvision:")


def test_spatial_landscape_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(spatial_landscape.Config.quick(), row=ROW, examples=2, max_translation=1.0,
                                 rotation_steps=11, translation_steps=5, training=TINY_TRAINING)  # fmt: skip
    result = spatial_landscape.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert len(result.examples) == 2 and len(result.examples[0]["loss"]) == 11
    for ex in result.examples:
        # the dense plane holds the coarse grid's points, so its maximum is at least the grid's
        assert ex["max_loss"] >= ex["grid_worst_loss"] - 1e-5 or ex["grid_fooled"]
    rendered = spatial_landscape.render(result, tmp_path)
    _rendered_files_exist(rendered, tmp_path)


def test_local_maxima_count() -> None:
    import torch

    surface = torch.zeros(5, 5)
    surface[1, 1], surface[3, 3], surface[3, 4] = 1.0, 2.0, 2.0  # a plateau is no strict maximum
    assert spatial_landscape.strict_local_maxima(surface) == 1
    assert spatial_landscape.strict_local_maxima(surface, above=1.5) == 0


def test_eot_table_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(eot_table.Config.quick(), row=ROW, n_images=8, steps=5, step_size=0.05, samples=2,
                                 eval_transforms=20, training=TINY_TRAINING,
                                 distribution=TransformDistribution(rotation=(-10, 10), noise=(0, 0.05)))  # fmt: skip
    result = eot_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    rows = {r["images"]: r for r in result.rows}
    assert set(rows) == {"clean", "pgd", "eot"} and rows["clean"]["l2_mean"] == 0
    assert rows["pgd"]["linf_max"] <= config.eps + 1e-6 and rows["eot"]["linf_max"] <= config.eps + 1e-6
    assert rows["pgd"]["untransformed_adversariality"] > rows["clean"]["untransformed_adversariality"]
    rendered = eot_table.render(result, tmp_path)
    assert len(rendered.tables[0].rows) == 3
    _rendered_files_exist(rendered, tmp_path)


def test_rp2_table_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(rp2_table.Config.quick(), row=ROW, n_objects=3, steps=5, mask_steps=3, samples=2,
                                 sticker_size=(0.25, 0.5), training=TINY_TRAINING)  # fmt: skip
    result = rp2_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert set(result.masks) == {"object", "stickers"} and len(result.conditions) == 15
    assert result.masks["object"]["mask_area"] == 100.0
    assert result.masks["stickers"]["mask_area"] <= 100 * config.stickers * (2 * 4) / 64  # 2x4 px stickers on 8x8
    rendered = rp2_table.render(result, tmp_path)
    table5, summary = rendered.tables
    cells = dict(zip(table5.columns, table5.rows[0], strict=True))
    assert cells["distance & angle"] == "5' 0°" and cells["paper: top class (conf.)"] == "Speed Limit 80 (0.88)"
    assert summary.rows[-1][-1] == 80.0  # the paper's success rate beside the sticker row
    _rendered_files_exist(rendered, tmp_path)
