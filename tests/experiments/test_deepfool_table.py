"""deepfool-table and fgsm-figure run a tiny config and render (DESIGN.md 8)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from advlab.experiments import deepfool_table, fgsm_figure
from advlab.experiments.base import RunContext
from advlab.experiments.cache import CLASSIFIER_TRAINING


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory):
    """One trained-model cache for this module: both experiments reuse the same classifier."""
    return tmp_path_factory.mktemp("deepfool-table-cache")


@pytest.fixture
def ctx(tmp_path, model_cache) -> RunContext:
    return RunContext(out_dir=tmp_path, cache_dir=model_cache)


def test_deepfool_table_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(
        deepfool_table.Config.quick(), rows=("fc500-150-10@digits",), n_attack=60, n_lbfgs=8,
        lbfgs_search_steps=2, lbfgs_max_iter=4, attack_batch=30,
        training=dataclasses.replace(CLASSIFIER_TRAINING, epochs=2),
    )
    result = deepfool_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))  # JSON-serialisable
    row = result.rows[0]
    assert row["deepfool_l2"]["success"] == 1.0
    assert 0 < row["deepfool_l2"]["rho"] < row["fgsm"]["rho_l2"]
    assert 0 < row["deepfool_linf"]["rho"]
    rendered = deepfool_table.render(result, tmp_path)
    assert [len(t.rows) for t in rendered.tables] == [1, 1]
    assert (tmp_path / rendered.figures[0].path).stat().st_size > 1000
    assert deepfool_table.Config.paper().rows[0] == "lenet@mnist"


def test_paper_numbers_beside_ours(tmp_path) -> None:
    fake = deepfool_table.Result(rows=[{
        "row": "lenet@mnist-5k", "n": 10, "test_error": 2.0,
        "deepfool_l2": {"rho": 0.2, "success": 1.0, "ms": 1.0},
        "deepfool_linf": {"rho": 0.1, "success": 1.0, "ms": 1.0},
        "fgsm": {"eps": 0.3, "rho_l2": 0.9, "rho_linf": 0.3, "success": 0.9, "ms": 0.1},
        "lbfgs": {"rho": 0.25, "success": 1.0, "ms": 100.0, "n": 5},
    }])  # fmt: skip
    table1 = deepfool_table.render(fake, tmp_path).tables[0]
    cells = dict(zip(table1.columns, table1.rows[0], strict=True))
    assert cells["rho DeepFool (paper)"] == 0.20 and cells["rho FGSM (paper)"] == 1.0
    assert cells["rho L-BFGS (paper)"] == 0.25 and cells["test error % (paper)"] == 1.0


def test_fgsm_figure_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(fgsm_figure.Config.quick(), row="fc500-150-10@digits",
                                 training=dataclasses.replace(CLASSIFIER_TRAINING, epochs=2), examples=2)
    result = fgsm_figure.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert len(result.examples) == 2 and result.success_rate > 0
    rendered = fgsm_figure.render(result, tmp_path)
    assert (tmp_path / "fgsm_figure.png").stat().st_size > 1000
    assert len(rendered.tables[0].rows) == 2


def test_table2_carries_the_paper_values(tmp_path) -> None:
    rows = []
    for row in ("lenet@mnist-5k", "fc500-150-10@mnist", "nin@cifar10", "lenet-cifar@cifar10"):
        rows.append({
            "row": row, "n": 10, "test_error": 2.0,
            "deepfool_l2": {"rho": 0.2, "success": 1.0, "ms": 1.0},
            "deepfool_linf": {"rho": 0.05, "success": 1.0, "ms": 1.0},
            "fgsm": {"eps": 0.3, "rho_l2": 0.9, "rho_linf": 0.3, "success": 0.9, "ms": 0.1},
        })  # fmt: skip
    table2 = deepfool_table.render(deepfool_table.Result(rows=rows), tmp_path).tables[1]
    paper = [(cells[2], cells[5]) for cells in table2.rows]
    # Moosavi-Dezfooli et al. 2016, Table 2: (DeepFool, FGSM) rho_inf per classifier
    assert paper == [(0.10, 0.26), (0.04, 0.11), (0.008, 0.024), (0.015, 0.028)]
    assert [cells[1] for cells in table2.rows] == [0.05] * 4 and table2.rows[0][4] == 0.3
    assert table2.rows[0][3] == 100.0 and table2.rows[0][6] == 90.0  # success rates beside rho
    assert "||r||_inf / ||x||_inf" in table2.caption and "not available" not in table2.caption


def _image_folder(root, classes: tuple[str, ...], per_class: int = 2, size: int = 40) -> None:
    """A tiny ImageFolder tree root/<class>/<i>.png of seeded random RGB images."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_imagenet_row_runs_offline_with_random_weights(tmp_path, ctx) -> None:
    # the paper-scale `torchvision:<model>@folder:<path>` path end to end, without downloads
    folder = tmp_path / "val"
    _image_folder(folder, ("n01440764", "n01443537", "n01484850"))
    row = f"torchvision:resnet18@folder:{folder}"
    config = dataclasses.replace(
        deepfool_table.Config.quick(), rows=(row,), n_attack=4, n_lbfgs=0, attack_batch=4,
        deepfool_steps=20, pretrained=False,
    )  # fmt: skip
    result = deepfool_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    entry = result.rows[0]
    assert entry["n"] == 4 and entry["weights"] == "random"
    # 3 synset folders are not ImageNet's 1000 classes: folder indices 0-2 are not model labels
    assert entry["test_error"] is None
    assert entry["deepfool_l2"]["success"] == 1.0 and entry["deepfool_l2"]["rho"] > 0
    assert entry["deepfool_linf"]["rho"] > 0 and "lbfgs" not in entry
    rendered = deepfool_table.render(result, tmp_path)
    assert rendered.tables[0].rows[0][0].endswith("[random weights]")
    assert rendered.tables[0].rows[0][2] is None  # no paper row for resnet18


def test_imagenet_labels_only_for_all_synsets() -> None:
    synsets = [f"n{i:08d}" for i in range(1000)]
    assert deepfool_table._imagenet_labels(synsets, 1000)
    assert not deepfool_table._imagenet_labels(synsets[:3], 1000)
    assert not deepfool_table._imagenet_labels(["cat"] + synsets[1:], 1000)


def test_imagenet_row_without_weights_says_how_to_proceed(tmp_path, ctx, monkeypatch) -> None:
    from advlab import models
    from advlab.models.torchvision_models import PretrainedWeightsMissing

    def no_weights(name: str, **kwargs):
        assert kwargs.get("pretrained") is True  # the default config asks for ImageNet weights
        raise PretrainedWeightsMissing("pretrained weights for torchvision:resnet18 are not cached")

    monkeypatch.setattr(models, "create", no_weights)
    folder = tmp_path / "val"
    _image_folder(folder, ("a", "b"), per_class=1, size=8)
    config = dataclasses.replace(deepfool_table.Config.quick(), rows=(f"torchvision:resnet18@folder:{folder}",))
    with pytest.raises(PretrainedWeightsMissing, match=r"not cached.*pretrained=False"):
        deepfool_table.run(config, ctx)
