"""sparsity-curves and sparsity-table run end to end on tiny configs and render."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from advlab.experiments import sparsity_curves, sparsity_table
from advlab.experiments.base import RunContext
from advlab.train import TrainConfig

TINY_TRAINING = TrainConfig(epochs=2, lr=0.05)


def _ctx(tmp_path: Path) -> RunContext:
    ctx = RunContext(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    ctx.out_dir.mkdir()
    return ctx


def test_curves_tiny_config_runs_and_renders(tmp_path: Path) -> None:
    config = replace(sparsity_curves.Config.quick(), data="digits", basis="haar", rhos=(0.25,), budgets=("2,2",),
                     eps=(0.1, 0.3), pgd_steps=2, training=TINY_TRAINING)  # fmt: skip
    ctx = _ctx(tmp_path)
    result = sparsity_curves.run(config, ctx)
    json.dumps(asdict(result))
    assert result.eps == [0.0, 0.1, 0.3] and result.n_test > 20
    kinds = {(c["defence"], c["attack"], c["gradient"]) for c in result.curves}
    assert ("front end", "pgd", "worst") in kinds and ("none", "fgsm", "-") in kinds
    assert ("network sparsity", "pgd", "-") in kinds
    for attack in sparsity_curves.ATTACKS:
        by_mode = {c["gradient"]: c["accuracy"] for c in result.curves if c["defence"] == "front end" and c["attack"] == attack}
        for i in range(len(result.eps)):  # the worse of both gradients is below each of them
            assert by_mode["worst"][i] <= min(by_mode["bpda"][i], by_mode["exact"][i]) + 1e-12
    sparse = next(m for m in result.models if m["defence"] == "network sparsity")
    assert max(sparse["gammas"]) <= 2 + 1e-4 and sparse["bound_per_eps"] <= 4 + 1e-3
    rendered = sparsity_curves.render(result, ctx.out_dir)
    assert (ctx.out_dir / "sparsity_curves.png").exists() and len(rendered.tables) == 2
    assert sparsity_curves.run(config, ctx).curves == result.curves  # cached models, same numbers


def test_table_tiny_config_runs_and_renders(tmp_path: Path) -> None:
    config = replace(sparsity_table.Config.quick(), data="digits", basis="haar", svm_rho=0.25, cnn_rho=0.25,
                     cnn_model="sparsity-mlp", cnn_training=TINY_TRAINING, pgd_steps=2, n_test=40,
                     distortion_rhos=(0.25, 1.0))  # fmt: skip
    ctx = _ctx(tmp_path)
    result = sparsity_table.run(config, ctx)
    json.dumps(asdict(result))
    problems = {r["problem"] for r in result.rows}
    assert any(p.startswith("SVM 3 vs 7") for p in problems) and any(p.startswith("CNN digits") for p in problems)
    assert all(r["paper_accuracy"] is None for r in result.rows)  # not readable here: never invented
    svm_clean = [r["accuracy"] for r in result.rows if r["problem"].startswith("SVM") and r["attack"] == "clean"]
    assert len(svm_clean) == 2 and min(svm_clean) > 80  # 3 vs 7 is easy for a linear SVM
    assert {r["gradient"] for r in result.rows} == {"-", "bpda", "exact", "worst"}
    keep_all = result.distortion[-1]  # rho = 1 keeps every coefficient: no attenuation
    assert keep_all["k_over_n"] == 1.0 and keep_all["semi_white_ratio"] == pytest.approx(1.0, abs=1e-4)
    rendered = sparsity_table.render(result, ctx.out_dir)
    for name in ("distortion_ratio.png", "front_end_images.png"):
        assert (ctx.out_dir / name).exists()
    assert "accuracy % (paper)" in rendered.tables[0].columns


def test_table_refuses_unknown_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid: svm, cnn"):
        sparsity_table.run(replace(sparsity_table.Config.quick(), rows=("svn",)), _ctx(tmp_path))
