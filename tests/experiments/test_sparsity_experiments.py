"""sparsity-curves and sparsity-table run end to end on tiny configs and render."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from advlab.experiments import sparsity_curves, sparsity_table
from advlab.train import TrainConfig
from advlab.zoo.context import RunContext

TINY_TRAINING = TrainConfig(epochs=2, lr=0.05)


def _ctx(tmp_path: Path) -> RunContext:
    ctx = RunContext(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    ctx.out_dir.mkdir()
    return ctx


def test_curves_tiny_config_runs_and_renders(tmp_path: Path) -> None:
    config = replace(sparsity_curves.Config.quick(), data="digits", basis="haar", rhos=(0.25,),
                     budgets=("2,2",), eps=(0.1, 0.3), pgd_steps=2, training=TINY_TRAINING,
                     suite_samples=8)
    ctx = _ctx(tmp_path)
    result = sparsity_curves.run(config, ctx)
    saved = json.loads(json.dumps(asdict(result)))
    assert set(saved["curves"][0]) == {"defence", "setting", "attack", "gradient", "accuracy",
                                       "n", "warnings"}
    assert result.eps == [0.0, 0.1, 0.3] and result.n_test > 20
    kinds = {(c.defence, c.attack, c.gradient) for c in result.curves}
    assert ("front end", "pgd", "worst") in kinds and ("none", "fgsm", "-") in kinds
    assert ("network sparsity", "pgd", "-") in kinds
    suite = [c for c in result.curves if c.attack == sparsity_curves.SUITE]
    # the suite through the front end with both gradients and the worse of the two; one
    # curve for each model without a front end; each on the first 8 images, warnings kept
    assert sorted((c.defence, c.gradient) for c in suite) == [
        ("front end", "bpda"), ("front end", "exact"), ("front end", "worst"),
        ("network sparsity", "-"), ("none", "-")]
    assert all(c.n == 8 and isinstance(c.warnings, list) for c in suite)
    assert all(c.warnings is None and c.n is None for c in result.curves if c not in suite)
    for attack in (*sparsity_curves.ATTACKS, sparsity_curves.SUITE):
        by_mode = {c.gradient: c.accuracy for c in result.curves
                   if c.defence == "front end" and c.attack == attack}
        for i in range(len(result.eps)):  # the worse of both gradients is below each of them
            assert by_mode["worst"][i] <= min(by_mode["bpda"][i], by_mode["exact"][i]) + 1e-12
    sparse = next(m for m in result.models if m.defence == "network sparsity")
    assert sparse.gammas is not None and sparse.bound_per_eps is not None
    assert max(sparse.gammas) <= 2 + 1e-4 and sparse.bound_per_eps <= 4 + 1e-3
    front = next(m for m in result.models if m.defence == "front end")
    assert front.gammas is None and front.bound_per_eps is None  # no Theorem 2 bound
    rendered = sparsity_curves.render(result, ctx.out_dir)
    assert (ctx.out_dir / "sparsity_curves.png").exists() and len(rendered.tables) == 2
    values = rendered.tables[0]
    assert values.columns[:5] == ["defence", "setting", "attack", "gradient", "n"]
    assert {row[4] for row in values.rows if row[2] == "suite"} == {8}
    assert "worst-case suite" in values.caption and "checks" in values.caption
    assert len(sparsity_curves.curves_figure(result).axes) == 3 * len(sparsity_curves.PANELS)
    assert rendered.tables[1].rows[1][3:] == ["-", "-"]  # the front-end model's bound
    assert sparsity_curves.run(config, ctx).curves == result.curves  # cached models, same numbers


def test_curves_figure_has_a_panel_per_attack_and_defence() -> None:
    curve = sparsity_curves.Curve
    result = sparsity_curves.Result(eps=[0.0, 0.1], n_test=50, curves=[
        curve("none", "", "fgsm", "-", [1.0, 0.5]),
        curve("front end", "rho 0.25", "fgsm", "bpda", [1.0, 0.8]),
        curve("front end", "rho 0.25", "fgsm", "worst", [1.0, 0.4]),
        curve("none", "", "pgd", "-", [1.0, 0.3]),
    ])
    fig = sparsity_curves.curves_figure(result)
    assert len(fig.axes) == len(sparsity_curves.ATTACKS) * len(sparsity_curves.PANELS) == 6
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["(a) no defence, FGSM", "(b) sparsifying front end, FGSM",
                          "(c) network sparsity, FGSM"]
    assert titles[3] == "(a) no defence, PGD"
    assert fig.axes[0].get_ylabel() == "accuracy (%)" and fig.axes[1].get_ylabel() == ""
    assert fig.axes[3].get_xlabel() == "eps (l_inf, pixels in [0, 1])"
    assert fig._suptitle.get_text().endswith("(50 test images)")
    # panel (b), FGSM: the undefended curve for reference, then the two front-end curves
    lines = fig.axes[1].get_lines()
    assert [line.get_label() for line in lines] == ["no defence", "rho 0.25 bpda",
                                                    "rho 0.25 worst"]
    assert list(lines[2].get_ydata()) == [100.0, 40.0]
    assert fig.axes[2].get_legend() is None  # no network-sparsity model in this result


def test_table_tiny_config_runs_and_renders(tmp_path: Path) -> None:
    config = replace(sparsity_table.Config.quick(), data="digits", basis="haar", svm_rho=0.25,
                     cnn_rho=0.25, cnn_model="sparsity-mlp", cnn_training=TINY_TRAINING,
                     pgd_steps=2, n_test=40, distortion_rhos=(0.25, 1.0), suite_samples=6)
    ctx = _ctx(tmp_path)
    result = sparsity_table.run(config, ctx)
    saved = json.loads(json.dumps(asdict(result)))
    assert set(saved["rows"][0]) == {"problem", "defence", "attack", "gradient", "accuracy",
                                     "paper_accuracy", "n", "warnings"}
    problems = {r.problem for r in result.rows}
    assert any(p.startswith("SVM 3 vs 7") for p in problems)
    assert any(p.startswith("CNN digits") for p in problems)
    assert all(r.paper_accuracy is None for r in result.rows)  # not readable here: never invented
    svm_clean = [r.accuracy for r in result.rows
                 if r.problem.startswith("SVM") and r.attack == "clean"]
    assert len(svm_clean) == 2 and min(svm_clean) > 80  # 3 vs 7 is easy for a linear SVM
    assert {r.gradient for r in result.rows} == {"-", "bpda", "exact", "worst"}
    suite = [r for r in result.rows if r.attack == sparsity_table.SUITE]
    # per problem: the undefended model once, the front end with bpda, exact and worst
    assert sorted((r.problem.split()[0], r.defence, r.gradient) for r in suite) == sorted(
        (p, d, g) for p in ("CNN", "SVM")
        for d, g in (("none", "-"), ("haar:0.25", "bpda"), ("haar:0.25", "exact"),
                     ("haar:0.25", "worst")))
    assert all(r.n == 6 and isinstance(r.warnings, list) for r in suite)
    for problem in {r.problem for r in suite}:
        by_mode = {r.gradient: r.accuracy for r in suite
                   if r.problem == problem and r.defence != "none"}
        assert by_mode["worst"] <= min(by_mode["bpda"], by_mode["exact"]) + 1e-9
    keep_all = result.distortion[-1]  # rho = 1 keeps every coefficient: no attenuation
    assert keep_all.k_over_n == 1.0 and keep_all.semi_white_ratio == pytest.approx(1.0, abs=1e-4)
    images = result.figure_images
    assert images is not None and images.front_end == "haar:0.25" and len(images.image) == 6
    rendered = sparsity_table.render(result, ctx.out_dir)
    assert [f.path for f in rendered.figures] == ["distortion_ratio.png", "front_end_images.png"]
    for figure in rendered.figures:
        assert (ctx.out_dir / figure.path).exists()
    assert "accuracy % (paper)" in rendered.tables[0].columns
    assert "worst-case suite" in rendered.tables[0].caption

    distortion = sparsity_table.distortion_figure(result.distortion)
    (ax,) = distortion.axes
    assert ax.get_xlabel() == "K/N (fraction of coefficients kept)"
    assert ax.get_ylabel() == "output distortion ratio"
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "K/N", "semi-white box (sign w)", "semi-white, support of x fixed",
        "white box (projected w)"]
    assert list(ax.get_lines()[0].get_xdata()) == [d.k_over_n for d in result.distortion]

    grid = sparsity_table.images_figure(images)
    assert len(grid.axes) == len(sparsity_table.IMAGE_ROWS) * 6
    assert [grid.axes[6 * r].get_ylabel() for r in range(4)] == [
        "image", "top-K reconstruction", "perturbation e", "f(x+e) - f(x)"]
    assert grid._suptitle.get_text().startswith("front end haar:0.25; white-box FGSM")
    # the perturbation rows are drawn in +-eps, the images in [0, 1]
    assert grid.axes[12].get_images()[0].get_clim() == (-images.eps, images.eps)
    assert grid.axes[0].get_images()[0].get_clim() == (0, 1)


def test_table_refuses_unknown_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid: svm, cnn"):
        sparsity_table.run(replace(sparsity_table.Config.quick(), rows=("svn",)), _ctx(tmp_path))


def test_curves_suite_row_skips_the_eps_it_did_not_run(tmp_path: Path) -> None:
    curve = sparsity_curves.Curve
    result = sparsity_curves.Result(eps=[0.0, 0.1, 0.3], n_test=50, curves=[
        curve("none", "", "pgd", "-", [1.0, 0.5, 0.1]),
        curve("none", "", "suite", "-", [0.9, None, 0.0], n=10, warnings=[]),
    ])
    fig = sparsity_curves.curves_figure(result)
    assert len(fig.axes) == 3 * len(sparsity_curves.PANELS)  # FGSM, PGD and the suite
    assert fig.axes[6].get_title() == "(a) no defence, worst-case suite"
    (line,) = fig.axes[6].get_lines()
    assert list(line.get_xdata()) == [0.0, 0.3] and list(line.get_ydata()) == [90.0, 0.0]
    assert fig._suptitle.get_text().endswith("(50 test images; suite: the first 10)")
    table = sparsity_curves.render(result, tmp_path).tables[0]
    assert table.rows[1][4:] == [10, 90.0, None, 0.0]
    with pytest.raises(ValueError, match="not among eps"):
        sparsity_curves.run(replace(sparsity_curves.Config.quick(), suite_eps=(0.12,)),
                            _ctx(tmp_path))
