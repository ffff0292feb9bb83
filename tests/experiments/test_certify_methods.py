"""certify-methods: the smallest config runs and renders; the properties every sound set of
bounds must have (alpha-CROWN certifies a superset of CROWN's samples, no method certifies more
than PGD leaves unbroken); the figure's content."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from advlab import data as datasets
from advlab.experiments import certify_methods as cm
from advlab.report.certify_figures import methods_figure
from advlab.zoo.context import RunContext

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny() -> cm.Config:
    quick = cm.Config.quick()
    return replace(quick, rows=("wong-small@digits",), samples=(24,),
                   training=replace(quick.training, epochs=2), robust_epochs=1, pgd_steps=10,
                   alpha_steps=5)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[cm.Result, RunContext]:
    root = tmp_path_factory.mktemp("certify_methods")
    ctx = RunContext(out_dir=root / "out", cache_dir=root / "cache")
    ctx.out_dir.mkdir()
    return cm.run(tiny(), ctx), ctx


def test_smallest_config_runs_and_renders(ran: tuple[cm.Result, RunContext],
                                          run_and_render: Callable[..., Any]) -> None:
    result, ctx = ran
    keys = [(r.training, r.method) for r in result.methods]
    assert keys == [(t, m) for t in cm.TRAININGS for m in cm.METHODS]
    assert [r.training for r in result.trainings] == ["wong", "crown-ibp"]
    assert all(r.paper_verified_error is None for r in result.trainings)  # digits: no paper row
    assert {(p.size, p.eps): p.verified_error for p in result.paper}[("large", 0.3)] == 7.02
    rendered = cm.render(result, ctx.out_dir)
    assert (ctx.out_dir / "certify_methods.png").stat().st_size > 10_000
    methods, trainings, paper = rendered.tables
    assert len(methods.rows) == 15 and methods.columns[3] == "method"
    assert [row[2] for row in trainings.rows] == ["wong", "crown-ibp"]
    assert paper.rows[1] == ["large", None, None, 7.02, None]
    again, _ = run_and_render(cm, tiny(), ctx)  # the shared checks; the cached models reused
    assert [r.certified_accuracy for r in again.methods] == [
        r.certified_accuracy for r in result.methods]  # same models and images: same counts


def test_certified_accuracy_never_exceeds_pgd_accuracy(ran: tuple[cm.Result, RunContext]) -> None:
    result, _ = ran
    for r in result.methods:
        assert 0.0 <= r.certified_accuracy <= r.pgd_accuracy <= r.clean_accuracy <= 100.0, r
        assert r.mean_gap >= 0.0 and r.seconds > 0.0
    for r in result.trainings:
        assert r.crown_certified_accuracy <= r.certified_accuracy <= r.pgd_accuracy


def test_alpha_crown_certifies_a_superset_of_crown(ran: tuple[cm.Result, RunContext]) -> None:
    """Per sample, on each trained model: alpha-CROWN starts from CROWN's slopes and keeps the
    best bound, so every sample CROWN certifies it certifies; both stay inside PGD's survivors;
    Fast-Lin and the exact dual network are the same bound (CROWN, Section 3.3)."""
    from advlab.zoo.cache import trained_classifier

    _, ctx = ran
    config = tiny()
    x, y = datasets.as_tensors(datasets.load("digits", "test"), limit=24)
    for training in cm.TRAININGS:
        loss, name = cm.batch_loss(config, training)
        cfg = config.training if loss is None else replace(config.training, epochs=1)
        model = trained_classifier(ctx, "wong-small", "digits", cfg, batch_loss=loss,
                                   loss_name=name)
        correct, robust, scores = cm.evaluate_methods(model, x, y, config)
        crown, alpha = scores["crown"].certified, scores["alpha-crown"].certified
        assert bool((alpha | ~crown).all()), training  # crown => alpha-crown
        assert scores["alpha-crown"].mean_gap <= scores["crown"].mean_gap + 1e-4
        for s in scores.values():
            assert bool((robust | ~s.certified).all())  # certified => PGD did not break it
        assert robust.sum() <= correct.sum()
        assert scores["fast-lin"].mean_gap == pytest.approx(scores["wong"].mean_gap, rel=1e-3)


def test_figure_has_a_bar_per_method_and_series_and_a_log_time_axis() -> None:
    rows = [cm.MethodRow("wong-small", "mnist-5k", t, m, 10, 10.0 * k, 80.0, 90.0, 1.0,
                         0.01 * 10**k, None)
            for t in ("normal", "wong") for k, m in enumerate(cm.METHODS)]
    fig = methods_figure(rows)
    acc_ax, time_ax = fig.axes
    assert len(acc_ax.patches) == len(time_ax.patches) == 10
    assert time_ax.get_yscale() == "log" and acc_ax.get_yscale() == "linear"
    heights = sorted(p.get_height() for p in acc_ax.patches)
    assert heights == pytest.approx(sorted([0.0, 10.0, 20.0, 30.0, 40.0] * 2))
    assert [t.get_text() for t in acc_ax.get_xticklabels()] == [
        "wong-small\nmnist-5k, normal", "wong-small\nmnist-5k, wong"]
    legend = [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert set(legend) == {*cm.METHODS, "PGD accuracy"}


def test_bad_configs_are_refused(tmp_path: Path) -> None:
    ctx = RunContext(out_dir=tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match="one count per row"):
        cm.run(replace(tiny(), samples=(1, 2)), ctx)
    with pytest.raises(ValueError, match="valid: interval"):
        cm.run(replace(tiny(), methods=("crown-ibp",)), ctx)
    with pytest.raises(ValueError, match="model@data"):
        cm.parse_row("wong-small")
