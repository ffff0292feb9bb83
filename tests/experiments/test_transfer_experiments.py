"""universal, transfer-table and decision-regions run a tiny config and render (DESIGN.md 8),
and keep their paper-scale (torchvision, ImageNet folder) path working offline."""

from __future__ import annotations

import dataclasses
import json

import pytest

from advlab.attacks import DeepFool
from advlab.attacks.ensemble import EnsembleAttack
from advlab.experiments import decision_regions, transfer_table, universal
from advlab.models.checkpoint import load_state
from advlab.report import transfer_figures, universal_figures
from advlab.zoo.cache import CLASSIFIER_TRAINING
from advlab.zoo.context import RunContext

# 46 steps on digits
TINY_TRAINING = dataclasses.replace(CLASSIFIER_TRAINING, epochs=2, warmup_steps=0)
MODELS = ("fc500-150-10", "mlp-shallow")


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory):
    """One trained-model cache for the module: the three experiments share the classifiers."""
    return tmp_path_factory.mktemp("transfer-cache")


@pytest.fixture
def ctx(tmp_path, model_cache) -> RunContext:
    return RunContext(out_dir=tmp_path, cache_dir=model_cache)


def _figures_saved(rendered, folder, names: list[str]) -> None:
    assert [figure.path for figure in rendered.figures] == names
    for name in names:
        assert (folder / name).is_file(), name


def test_universal_tiny(tmp_path, ctx) -> None:
    attack = dataclasses.replace(universal.Config.quick().attack, max_passes=1,
                                 inner=DeepFool(steps=10))
    config = dataclasses.replace(universal.Config.quick(), models=MODELS, data="digits", n_fit=30,
                                 n_eval=100, attack=attack, fit_sizes=(15, 30),
                                 training=TINY_TRAINING)
    result = universal.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert [r.model for r in result.rows] == list(MODELS)
    for row in result.rows:
        assert 0 <= row.random_noise <= 1 and 0 < row.heldout <= 1
        assert row.norm_of_v <= 0.3 + 1e-6 and row.passes == 1
    assert len(result.transfer) == 2 and all(len(r) == 2 for r in result.transfer)
    assert result.transfer[0][0] == result.rows[0].heldout  # the diagonal is Table 1's column
    assert result.size_curve is not None and result.size_curve.sizes == [15, 30]
    assert [v.variant for v in result.variants] == ["sequential", "batched"]
    rendered = universal.render(result, tmp_path)
    assert [len(t.rows) for t in rendered.tables][:3] == [2, 2, 2]
    _figures_saved(rendered, tmp_path, ["fooling_vs_size.png", "perturbations.png", "examples.png"])
    size = universal_figures.size_figure(result)
    (ax,) = size.axes
    assert ax.get_xlabel().startswith("|X|") and ax.get_ylabel() == "held-out fooling rate %"
    assert list(ax.lines[0].get_xdata()) == [15, 30]
    heldout = [100 * r for r in result.size_curve.heldout]
    assert list(ax.lines[0].get_ydata()) == pytest.approx(heldout)
    tensors, _ = load_state(tmp_path / result.perturbations_file)
    panels = universal_figures.perturbations_figure(result, tensors).axes
    assert [a.get_title().split("\n")[0] for a in panels] == list(MODELS)
    examples = universal_figures.examples_figure(result, tensors).axes
    assert len(examples) == 2 * universal.EXAMPLES  # clean row above the perturbed row
    assert result.examples is not None
    assert [a.get_title() for a in examples[: universal.EXAMPLES]] == [
        str(k) for k in result.examples.clean]


def test_transfer_table_tiny(tmp_path, ctx) -> None:
    models = (*MODELS, "cnn-wide")
    config = dataclasses.replace(transfer_table.Config.quick(), models=models, data="digits",
                                 n=20, candidates=60,
                                 attack=EnsembleAttack(lam=10.0, steps=20, lr=0.02),
                                 training=TINY_TRAINING, lams=(0.0, 10.0))
    result = transfer_table.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    # the sweep: lam 10 reuses Table 4's attack; lam 0 (no distance term) perturbs more
    assert [p.lam for p in result.sweep] == [0.0, 10.0]
    free, table = result.sweep
    assert table.held_out == [e.rates[i] for i, e in enumerate(result.ensembles)]
    assert abs(table.rmsd - sum(e.rmsd for e in result.ensembles) / 3) < 1e-9
    assert free.rmsd > table.rmsd and free.mean_held_out <= table.mean_held_out + 0.1
    assert 0 < result.image_std < 255 and result.contrast_rmsd > 0
    assert len(result.ensembles) == len(result.singles) == 3
    for entry in [*result.ensembles, *result.singles]:
        assert len(entry.rates) == 3 and all(0 <= r <= 1 for r in entry.rates) and entry.rmsd > 0
    # no paper values for digit classifiers
    assert all(e.paper_rmsd is None and e.paper_rates == [None] * 3 for e in result.ensembles)
    # white-box cells: the attacked models lose accuracy
    assert all(s.rates[i] < 0.5 for i, s in enumerate(result.singles))
    rendered = transfer_table.render(result, tmp_path)
    assert [len(t.rows) for t in rendered.tables] == [3, 3, 2]
    assert "Rule: held-out accuracy <= 10% at the paper's RMSD" in rendered.tables[2].caption
    _figures_saved(rendered, tmp_path, ["transfer_table.png", "transfer_rmsd.png"])
    (sweep_ax,) = transfer_figures.sweep_figure(result.sweep, list(models), [(17.4, 0.0)],
                                                17.4, 20.0, "accuracy %").axes
    mean_line = sweep_ax.lines[len(models)]
    assert list(mean_line.get_xdata()) == [p.rmsd for p in result.sweep]
    assert list(mean_line.get_ydata()) == pytest.approx([100 * p.mean_held_out
                                                         for p in result.sweep])
    left, right, bar = transfer_table.transfer_figure(result).axes
    assert left.get_title() == "ensembles leaving one model out"
    assert right.get_title() == "single models" and bar.get_ylabel() == "accuracy %"
    for ax, entries in ((left, result.ensembles), (right, result.singles)):
        assert [t.get_text() for t in ax.get_xticklabels()] == list(models)
        shown = [value for row in ax.images[0].get_array().tolist() for value in row]
        assert shown == pytest.approx([100 * r for e in entries for r in e.rates])


def test_held_out_rate_interpolates_along_rmsd() -> None:
    sweep = [transfer_table.SweepPoint(lam=4.0, rmsd=10.0, held_out=[0.6], mean_held_out=0.6),
             transfer_table.SweepPoint(lam=1.0, rmsd=30.0, held_out=[0.2], mean_held_out=0.2)]
    assert transfer_table.interpolate_held_out(sweep, 15.0) == pytest.approx(0.5)
    assert transfer_table.interpolate_held_out(sweep, 10.0) == pytest.approx(0.6)
    assert transfer_table.interpolate_held_out(sweep, 40.0) is None
    assert transfer_table.PAPER_RMSD == pytest.approx((17.17 + 17.25 + 17.25 + 17.80 + 17.41) / 5)


def test_paper_values_sit_beside_ours(tmp_path) -> None:
    models = list(transfer_table.PAPER_COLUMNS)
    fake = transfer_table.Result(
        models=models, n=10,
        ensembles=[transfer_table.ensemble_row(m, [0.1] * 5, 20.0, models, targeted=False)
                   for m in models],
        singles=[transfer_table.SingleRow(source=m, rates=[0.5] * 5, rmsd=20.0) for m in models],
    )
    table4 = transfer_table.render(fake, tmp_path).tables[0]
    first = dict(zip(table4.columns, table4.rows[0], strict=True))
    # Liu et al. 2017, Table 4: -ResNet-152 has RMSD 17.17 and 0% everywhere; -VGG-16 6% on VGG-16
    assert first["RMSD (paper)"] == 17.17 and first["torchvision:resnet152 (paper)"] == 0
    vgg = dict(zip(table4.columns, table4.rows[3], strict=True))
    assert vgg["torchvision:vgg16 (paper)"] == 6 and vgg["RMSD (paper)"] == 17.80
    assert "10.0% against 50.0%" in table4.caption


def test_decision_regions_tiny(tmp_path, ctx) -> None:
    config = dataclasses.replace(decision_regions.Config.quick(), models=MODELS, data="digits",
                                 grid=21, training=TINY_TRAINING)
    result = decision_regions.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert len(result.labels) == 2 and len(result.labels[0]) == 21
    assert len(result.labels[0][0]) == 21
    assert result.labels[0][10][10] == result.label  # the image itself is classified correctly
    assert result.summary[0].same_as_first == 1.0
    rendered = decision_regions.render(result, tmp_path)
    _figures_saved(rendered, tmp_path, ["decision_regions.png"])
    fig = decision_regions.regions_figure(result)
    *panels, bar = fig.axes
    assert [ax.get_title() for ax in panels] == list(MODELS)
    assert panels[0].images[0].get_array().tolist() == result.labels[0]
    assert bar.get_ylabel() == "predicted label"
    title = f"decision regions around a test image of class {result.label}"
    assert fig.get_suptitle().startswith(title)


def test_plane_directions_are_orthogonal_and_scaled() -> None:
    import torch

    gradient = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(1))
    u, w = decision_regions.plane_directions(gradient, torch.Generator().manual_seed(2))
    rms = decision_regions.PIXEL_VALUE
    assert abs(float((u * w).sum())) < 1e-9
    assert float((u * gradient).sum()) > 0  # u points up the gradient
    assert float(u.square().mean().sqrt()) == pytest.approx(rms, rel=1e-5)
    assert float(w.square().mean().sqrt()) == pytest.approx(rms, rel=1e-5)


def _image_folder(root, classes=("n01440764", "n01443537"), per_class: int = 3,
                  size: int = 36) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_imagenet_path_runs_offline_with_random_weights(tmp_path, ctx) -> None:
    folder = tmp_path / "val"
    _image_folder(folder)
    data = f"folder:{folder}@32"
    models = ("torchvision:resnet18", "torchvision:squeezenet1_0")
    paper = universal.Config.paper()
    attack = dataclasses.replace(paper.attack, max_passes=1, inner=DeepFool(steps=3))
    config = dataclasses.replace(paper, models=models, data=data, eval_data=data, n_fit=2,
                                 n_eval=4, attack=attack, fit_sizes=(2,), eval_batch=2,
                                 pretrained=False, compare_variants=False)
    result = universal.run(config, ctx)
    assert [r.model for r in result.rows] == list(models) and len(result.transfer) == 2
    universal.render(result, tmp_path)
    paper_table = transfer_table.Config.paper()
    table = dataclasses.replace(paper_table, models=models, data=data, n=2,
                                attack=dataclasses.replace(paper_table.attack, steps=2),
                                attack_batch=2, require_correct=False, pretrained=False)
    assert len(transfer_table.run(table, ctx).ensembles) == 2
