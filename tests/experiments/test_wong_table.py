"""wong-table (Wong & Kolter 2018, Table 1) runs end to end on a tiny config and renders."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from advlab.experiments import wong_table
from advlab.experiments.base import RunContext


def test_tiny_config_runs_and_renders(tmp_path: Path) -> None:
    config = replace(
        wong_table.Config.quick(), epochs=1, robust_epochs=1, train_limit=100, n_test=20,
        pgd_steps=5, projections=10, batch_size=50,
    )  # fmt: skip
    ctx = RunContext(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    ctx.out_dir.mkdir()
    result = wong_table.run(config, ctx)
    assert [(r["data"], r["robust"]) for r in result.rows] == [("mnist-5k", False), ("mnist-5k", True)]
    for r in result.rows:
        # Attacks cannot beat the certificate: test <= FGSM-or-PGD error <= robust bound.
        assert 0 <= r["test_error"] <= r["pgd_error"] <= r["robust_error_bound"] <= 100
        assert r["test_error"] <= r["fgsm_error"] <= r["robust_error_bound"]
        assert r["paper_test_error"] in (1.07, 1.80)
    json.dumps(asdict(result))  # JSON-serialisable
    rendered = wong_table.render(result, ctx.out_dir)
    assert (ctx.out_dir / "wong_table.png").exists()
    (table,) = rendered.tables
    assert table.columns == ["data", "training", "eps", "source", "test", "FGSM", "PGD", "bound"]
    # Ours and the paper's rows alternate: mnist-5k normal, MNIST normal, mnist-5k robust, ...
    assert [row[:2] + row[3:4] for row in table.rows] == [
        ["mnist-5k", "normal", "ours, n=20"], ["mnist", "normal", "paper, n=10000"],
        ["mnist-5k", "robust", "ours, n=20"], ["mnist", "robust", "paper, n=10000"],
    ]  # fmt: skip
    assert table.rows[3][4:] == [1.80, 3.93, 4.11, 5.82]  # Table 1, MNIST, robust
    assert "100 mnist-5k samples" in table.caption and "robust 1 epoch with" in table.caption
    # A second run reuses the cached models (no retraining, same numbers).
    again = wong_table.run(config, ctx)
    assert again.rows == result.rows


def test_bad_row_is_refused() -> None:
    with pytest.raises(ValueError, match="dataset@eps"):
        wong_table.parse_row("mnist-5k")
