"""wong-table (Wong & Kolter 2018, Table 1) runs end to end on a tiny config and renders."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from advlab.experiments import wong_table
from advlab.zoo.context import RunContext


def test_tiny_config_runs_and_renders(tmp_path: Path) -> None:
    quick = wong_table.Config.quick()
    config = replace(quick, training=replace(quick.training, epochs=1, batch_size=50),
                     robust_epochs=1, train_limit=100, n_test=20, pgd_steps=5, projections=10,
                     suite_samples=12)
    ctx = RunContext(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    ctx.out_dir.mkdir()
    result = wong_table.run(config, ctx)
    assert [(r.data, r.robust) for r in result.rows] == [("mnist-5k", False), ("mnist-5k", True)]
    for r in result.rows:
        # Attacks cannot beat the certificate: test <= FGSM-or-PGD error <= robust bound.
        assert 0 <= r.test_error <= r.pgd_error <= r.robust_error_bound <= 100
        assert r.test_error <= r.fgsm_error <= r.robust_error_bound
        # The suite, compared point by point with the certificates and PGD on its 12 samples.
        # A certified point has no misclassified point in its ball, and every suite output is
        # in the ball: the suite breaks no certified point, so its error <= the bound (sound
        # bounds make this a theorem). Against PGD only a set identity is guaranteed (suite
        # error >= PGD error - the PGD points the suite missed); that the suite misses at most
        # one of them is an expectation (100-step APGD-CE alone dominates 5-step PGD), not a
        # theorem: PGD's random start can land on a point the suite's runs do not reach.
        suite = r.suite
        assert suite is not None and suite.n == 12
        assert suite.certified_broken == 0
        assert suite.error <= suite.bound
        assert suite.error >= suite.pgd_error - 100 * suite.pgd_missed / suite.n - 1e-9
        assert suite.pgd_missed <= 1
        assert isinstance(suite.warnings, list)
    # the paper's MNIST values beside ours, normal then robust training
    assert [r.paper() for r in result.rows] == [[1.07, 50.01, 81.68, 100.0],
                                                [1.80, 3.93, 4.11, 5.82]]
    saved = json.loads(json.dumps(asdict(result)))  # JSON-serialisable, the same keys as before
    assert set(saved["rows"][0]) == {"data", "robust", "eps", "n_test", *wong_table.METRICS,
                                     *[f"paper_{m}" for m in wong_table.METRICS], "suite"}
    assert saved["settings"]["train_samples"] == {"mnist-5k": 100}
    assert saved["settings"]["epochs"] == saved["settings"]["robust_epochs"] == 1
    rendered = wong_table.render(result, ctx.out_dir)
    assert (ctx.out_dir / "wong_table.png").exists()
    (table,) = rendered.tables
    assert table.columns == ["data", "training", "eps", "source", "test", "FGSM", "PGD", "suite",
                             "bound"]
    # Ours and the paper's rows alternate: mnist-5k normal, MNIST normal, mnist-5k robust, ...
    assert [row[:2] + row[3:4] for row in table.rows] == [
        ["mnist-5k", "normal", "ours, n=20; suite n=12"], ["mnist", "normal", "paper, n=10000"],
        ["mnist-5k", "robust", "ours, n=20; suite n=12"], ["mnist", "robust", "paper, n=10000"],
    ]
    assert table.rows[3][4:] == [1.80, 3.93, 4.11, None, 5.82]  # Table 1, MNIST, robust
    assert table.rows[2][7] == round(result.rows[1].suite.error, 1)
    assert "standard suite" in table.caption and "0 certified points broken" in table.caption
    assert "100 mnist-5k samples" in table.caption and "robust 1 epoch with" in table.caption
    # A second run reuses the cached models (no retraining, same numbers).
    again = wong_table.run(config, ctx)
    assert again.rows == result.rows


def _row(data: str, robust: bool, errors: list[float],
         paper: list[float | None]) -> wong_table.Row:
    values = dict(zip(wong_table.METRICS, errors, strict=True))
    values |= {f"paper_{m}": v for m, v in zip(wong_table.METRICS, paper, strict=True)}
    return wong_table.Row(data=data, robust=robust, eps=0.1, n_test=20, **values)


def test_errors_figure_has_one_panel_per_row_with_the_paper_beside_ours() -> None:
    settings = wong_table.Settings({"mnist-5k": 100}, 1, 1, 2e-3, "constant", 0.01, 0.5, 10, 5,
                                   "wong-small")
    result = wong_table.Result([
        _row("mnist-5k", False, [10.0, 50.0, 70.0, 100.0], [1.07, 50.01, 81.68, 100.0]),
        _row("digits", True, [5.0, 20.0, 25.0, 30.0], [None] * 4),
    ], settings)
    fig = wong_table.errors_figure(result)
    first, second = fig.axes
    assert first.get_title() == "mnist-5k, normal training, eps 0.1"
    assert second.get_title() == "digits, robust training, eps 0.1"
    assert first.get_ylabel() == "error (%)"
    assert [t.get_text() for t in first.get_xticklabels()] == ["test", "FGSM", "PGD", "bound"]
    # ours (4 bars) and the paper's (4 hatched bars) where the paper has the row; ours alone else
    assert len(first.patches) == 8 and len(second.patches) == 4
    assert [round(p.get_height(), 2) for p in first.patches[4:]] == [1.07, 50.01, 81.68, 100.0]
    assert [t.get_text() for t in first.get_legend().get_texts()] == [
        "ours (mnist-5k, n=20)", "paper (mnist, n=10000)"]


def test_bad_row_is_refused() -> None:
    with pytest.raises(ValueError, match="dataset@eps"):
        wong_table.parse_row("mnist-5k")
