"""deepfool-table and fgsm-figure run a tiny config and render (DESIGN.md 8)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from advlab.attacks import LBFGS, DeepFool
from advlab.experiments import deepfool_table, fgsm_figure
from advlab.report.deepfool_figures import rho_figure
from advlab.zoo.cache import CLASSIFIER_TRAINING
from advlab.zoo.context import RunContext


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
        lbfgs=LBFGS(search_steps=2, max_iter=4), attack_batch=30,
        training=dataclasses.replace(CLASSIFIER_TRAINING, epochs=2), suite_samples=8,
    )
    result = deepfool_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))  # JSON-serialisable
    row = result.rows[0]
    assert row.deepfool_l2.success == 1.0
    assert row.deepfool_l2.rho is not None and row.fgsm.rho_l2 is not None
    assert 0 < row.deepfool_l2.rho < row.fgsm.rho_l2
    assert row.deepfool_linf.rho is not None and 0 < row.deepfool_linf.rho
    assert row.lbfgs is not None and row.lbfgs.n == 8 and row.weights is None
    assert row.paper_table1 is None and row.paper_table2 is None  # no paper row on digits
    # the suite on the first 8 attacked digits at the lecture's MNIST radius (Wong & Kolter)
    assert row.suite is not None and row.suite.n == 8 and row.suite.eps == 0.1
    assert 0 <= row.suite.robust_accuracy <= 100
    rendered = deepfool_table.render(result, tmp_path)
    assert [len(t.rows) for t in rendered.tables] == [1, 1]
    table2 = rendered.tables[1]
    assert table2.columns[-2:] == ["suite eps", "robust accuracy % (suite)"]
    assert table2.rows[0][-2:] == [0.1, round(row.suite.robust_accuracy, 1)]
    assert "worst-case suite" in table2.caption
    assert [f.path for f in rendered.figures] == ["rho_adv.png"]
    assert (tmp_path / "rho_adv.png").is_file()
    fig = rho_figure(result)
    (ax,) = fig.axes
    assert ax.get_ylabel() == "rho_adv (l2)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc500-150-10@digits"]
    # per classifier: DeepFool, FGSM, L-BFGS, ours then the paper's (0: no paper row)
    heights = [bar.get_height() for bar in ax.patches]
    ours = [row.deepfool_l2.rho, row.fgsm.rho_l2, row.lbfgs.rho]
    assert heights == pytest.approx([h for value in ours for h in (value, 0.0)])
    labels = ax.get_legend_handles_labels()[1]
    assert labels == [f"{m} ({who})" for m in ("DeepFool", "FGSM", "L-BFGS")
                      for who in ("ours", "paper")]
    assert deepfool_table.Config.paper().rows[0] == "lenet@mnist"


def _row(name: str, deepfool_linf_rho: float = 0.1, lbfgs: bool = True) -> deepfool_table.Row:
    """A made-up result row for `name`, carrying the paper's values as `run` does."""
    key = deepfool_table.paper_key(name)
    return deepfool_table.Row(
        row=name, n=10, test_error=2.0, weights=None,
        deepfool_l2=deepfool_table.AttackStats(rho=0.2, success=1.0, ms=1.0),
        deepfool_linf=deepfool_table.AttackStats(rho=deepfool_linf_rho, success=1.0, ms=1.0),
        fgsm=deepfool_table.FGSMStats(eps=0.3, rho_l2=0.9, rho_linf=0.3, success=0.9, ms=0.1),
        lbfgs=deepfool_table.LBFGSStats(rho=0.25, success=1.0, ms=100.0, n=5,
                                        rho_same_samples=0.25, deepfool_rho_same_samples=0.2)
        if lbfgs else None,
        paper_table1=deepfool_table.PAPER_TABLE1.get(key),
        paper_table2=deepfool_table.PAPER_TABLE2.get(key),
    )


def test_paper_numbers_beside_ours(tmp_path) -> None:
    fake = deepfool_table.Result(rows=[_row("lenet@mnist-5k")])
    table1 = deepfool_table.render(fake, tmp_path).tables[0]
    cells = dict(zip(table1.columns, table1.rows[0], strict=True))
    assert cells["rho DeepFool (paper)"] == 0.20 and cells["rho FGSM (paper)"] == 1.0
    assert cells["rho L-BFGS (paper)"] == 0.25 and cells["test error % (paper)"] == 1.0
    # the chart's hatched bars are the paper's rho_adv of LeNet on MNIST (Table 1)
    paper_bars = [bar.get_height() for bar in rho_figure(fake).axes[0].patches][1::2]
    assert paper_bars == [0.20, 1.0, 0.25]


def test_fgsm_figure_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(fgsm_figure.Config.quick(), row="fc500-150-10@digits",
                                 training=dataclasses.replace(CLASSIFIER_TRAINING, epochs=2),
                                 examples=2)
    result = fgsm_figure.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert len(result.examples) == 2 and result.success_rate > 0
    assert result.eps == config.attack.eps == 0.2
    rendered = fgsm_figure.render(result, tmp_path)
    assert (tmp_path / "fgsm_figure.png").is_file()
    assert len(rendered.tables[0].rows) == 2
    fig = fgsm_figure.fgsm_figure(result)
    assert len(fig.axes) == 2 * 3  # one row of three panels per example
    for ex, row in zip(result.examples, range(2), strict=True):
        x_panel, sign_panel, adv_panel = fig.axes[3 * row : 3 * row + 3]
        assert x_panel.get_title().startswith(f"x: {ex.pred} (")
        assert sign_panel.get_title() == "sign(grad_x J)"
        assert adv_panel.get_title().startswith(f"x + 0.2 sign: {ex.pred_adv} (")
    assert fig.legends[0].get_title().get_text() == "sign map"


def test_table2_carries_the_paper_values(tmp_path) -> None:
    names = ("lenet@mnist-5k", "fc500-150-10@mnist", "nin@cifar10", "lenet-cifar@cifar10")
    rows = [_row(name, deepfool_linf_rho=0.05, lbfgs=False) for name in names]
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
        deepfool=DeepFool(steps=20), pretrained=False,
    )
    result = deepfool_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    entry = result.rows[0]
    assert entry.n == 4 and entry.weights == "random"
    # 3 synset folders are not ImageNet's 1000 classes: folder indices 0-2 are not model labels
    assert entry.test_error is None
    assert entry.deepfool_l2.success == 1.0 and (entry.deepfool_l2.rho or 0) > 0
    assert (entry.deepfool_linf.rho or 0) > 0 and entry.lbfgs is None
    assert entry.suite is None  # folder labels are not the model's classes: no robust accuracy
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
    row = f"torchvision:resnet18@folder:{folder}"
    config = dataclasses.replace(deepfool_table.Config.quick(), rows=(row,))
    with pytest.raises(PretrainedWeightsMissing, match=r"not cached.*pretrained=False"):
        deepfool_table.run(config, ctx)
