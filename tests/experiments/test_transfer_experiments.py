"""universal, transfer-table and decision-regions run a tiny config and render (DESIGN.md 8),
and keep their paper-scale (torchvision, ImageNet folder) path working offline."""

from __future__ import annotations

import dataclasses
import json

import pytest

from advlab.experiments import decision_regions, transfer_table, universal
from advlab.experiments.base import RunContext
from advlab.experiments.cache import CLASSIFIER_TRAINING

TINY_TRAINING = dataclasses.replace(CLASSIFIER_TRAINING, epochs=2, warmup_steps=0)  # 46 steps on digits
MODELS = ("fc500-150-10", "mlp-shallow")


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory):
    """One trained-model cache for the module: the three experiments share the classifiers."""
    return tmp_path_factory.mktemp("transfer-cache")


@pytest.fixture
def ctx(tmp_path, model_cache) -> RunContext:
    return RunContext(out_dir=tmp_path, cache_dir=model_cache)


def _figures_exist(rendered, folder) -> None:
    for figure in rendered.figures:
        assert (folder / figure.path).stat().st_size > 2000, figure.path


def test_universal_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(universal.Config.quick(), models=MODELS, data="digits", n_fit=30, n_eval=100,
                                 max_passes=1, fit_sizes=(15, 30), deepfool_steps=10, training=TINY_TRAINING)  # fmt: skip
    result = universal.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert [r["model"] for r in result.rows] == list(MODELS)
    for row in result.rows:
        assert 0 <= row["random_noise"] <= 1 and 0 < row["heldout"] <= 1 and row["norm_of_v"] <= 0.3 + 1e-6
    assert len(result.transfer) == 2 and all(len(r) == 2 for r in result.transfer)
    assert result.transfer[0][0] == result.rows[0]["heldout"]  # the diagonal is Table 1's column
    assert result.size_curve["sizes"] == [15, 30]
    assert [v["variant"] for v in result.variants] == ["sequential", "batched"]
    rendered = universal.render(result, tmp_path)
    assert [len(t.rows) for t in rendered.tables][:3] == [2, 2, 2]
    assert len(rendered.figures) == 3
    _figures_exist(rendered, tmp_path)


def test_transfer_table_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(transfer_table.Config.quick(), models=(*MODELS, "cnn-wide"), data="digits", n=20,
                                 candidates=60, steps=20, lam=10.0, lr=0.02, training=TINY_TRAINING)  # fmt: skip
    result = transfer_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert len(result.ensembles) == len(result.singles) == 3
    for entry in result.ensembles + result.singles:
        assert len(entry["rates"]) == 3 and all(0 <= r <= 1 for r in entry["rates"]) and entry["rmsd"] > 0
    # white-box cells: the attacked models lose accuracy
    assert all(s["rates"][i] < 0.5 for i, s in enumerate(result.singles))
    rendered = transfer_table.render(result, tmp_path)
    assert [len(t.rows) for t in rendered.tables] == [3, 3]
    _figures_exist(rendered, tmp_path)


def test_paper_values_sit_beside_ours(tmp_path) -> None:
    models = list(transfer_table.PAPER_COLUMNS)
    fake = transfer_table.Result(
        models=models, n=10,
        ensembles=[{"held_out": m, "rates": [0.1] * 5, "rmsd": 20.0} for m in models],
        singles=[{"source": m, "rates": [0.5] * 5, "rmsd": 20.0} for m in models],
    )  # fmt: skip
    table4 = transfer_table.render(fake, tmp_path).tables[0]
    first = dict(zip(table4.columns, table4.rows[0], strict=True))
    # Liu et al. 2017, Table 4: -ResNet-152 has RMSD 17.17 and 0% everywhere; -VGG-16 6% on VGG-16
    assert first["RMSD (paper)"] == 17.17 and first["torchvision:resnet152 (paper)"] == 0
    vgg = dict(zip(table4.columns, table4.rows[3], strict=True))
    assert vgg["torchvision:vgg16 (paper)"] == 6 and vgg["RMSD (paper)"] == 17.80
    assert "10.0% against 50.0%" in table4.caption


def test_decision_regions_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(decision_regions.Config.quick(), models=MODELS, data="digits", grid=21,
                                 training=TINY_TRAINING)  # fmt: skip
    result = decision_regions.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert len(result.labels) == 2 and len(result.labels[0]) == 21 and len(result.labels[0][0]) == 21
    assert result.labels[0][10][10] == result.label  # the image itself is classified correctly
    assert result.summary[0]["same_as_first"] == 1.0
    rendered = decision_regions.render(result, tmp_path)
    _figures_exist(rendered, tmp_path)


def test_plane_directions_are_orthogonal_and_scaled() -> None:
    import torch

    gradient = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(1))
    u, w = decision_regions.plane_directions(gradient, torch.Generator().manual_seed(2))
    rms = decision_regions.PIXEL_VALUE
    assert abs(float((u * w).sum())) < 1e-9
    assert float((u * gradient).sum()) > 0  # u points up the gradient
    assert float(u.square().mean().sqrt()) == pytest.approx(rms, rel=1e-5)
    assert float(w.square().mean().sqrt()) == pytest.approx(rms, rel=1e-5)


def _image_folder(root, classes=("n01440764", "n01443537"), per_class: int = 3, size: int = 36) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / name / f"{i}.png")


def test_imagenet_path_runs_offline_with_random_weights(tmp_path, ctx) -> None:
    folder = tmp_path / "val"
    _image_folder(folder)
    data = f"folder:{folder}@32"
    models = ("torchvision:resnet18", "torchvision:squeezenet1_0")
    config = dataclasses.replace(universal.Config.paper(), models=models, data=data, eval_data=data, n_fit=2,
                                 n_eval=4, max_passes=1, fit_sizes=(2,), deepfool_steps=3, eval_batch=2,
                                 pretrained=False, compare_variants=False)  # fmt: skip
    result = universal.run(config, ctx)
    assert [r["model"] for r in result.rows] == list(models) and len(result.transfer) == 2
    universal.render(result, tmp_path)
    table = dataclasses.replace(transfer_table.Config.paper(), models=models, data=data, n=2, steps=2,
                                attack_batch=2, require_correct=False, pretrained=False)  # fmt: skip
    assert len(transfer_table.run(table, ctx).ensembles) == 2
