"""deepfool-table and fgsm-figure run a tiny config and render (DESIGN.md 8)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from advlab.experiments import deepfool_table, fgsm_figure
from advlab.experiments.base import RunContext


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
        lbfgs_search_steps=2, lbfgs_max_iter=4, epochs=2, attack_batch=30,
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
    config = dataclasses.replace(fgsm_figure.Config.quick(), row="fc500-150-10@digits", epochs=2, examples=2)
    result = fgsm_figure.run(config, ctx)
    json.dumps(dataclasses.asdict(result))
    assert len(result.examples) == 2 and result.success_rate > 0
    rendered = fgsm_figure.render(result, tmp_path)
    assert (tmp_path / "fgsm_figure.png").stat().st_size > 1000
    assert len(rendered.tables[0].rows) == 2
