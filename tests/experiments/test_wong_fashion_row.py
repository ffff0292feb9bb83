"""wong-table's Fashion-MNIST row alone, from the paper config by command-line overrides
(`advlab reproduce wong-table --scale paper --rows fashion-mnist@0.1 --robust-epochs N
--projections 50`), run end to end on a tiny Fashion-MNIST-shaped IDX set on every machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advlab.commands.reproduce import build_config
from advlab.data import idx_sets
from advlab.data.idx import write_idx
from advlab.experiments import wong_table
from advlab.zoo.context import RunContext

OVERRIDES = {"rows": "fashion-mnist@0.1", "robust-epochs": "3", "projections": "50"}


def test_paper_config_restricted_to_the_fashion_row() -> None:
    config = build_config(wong_table, "paper", OVERRIDES)
    assert config.rows == ("fashion-mnist@0.1",) and config.model == "wong-small"
    assert (config.training.epochs, config.robust_epochs, config.projections) == (20, 3, 50)
    assert (config.n_test, config.training.lr, config.training.batch_size, config.train_limit) == (
        10_000, 1e-3, 50, 0)


def test_fashion_row_runs_on_a_tiny_idx_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idx_sets, "FASHION_SYSTEM_DIRS", ())
    raw = tmp_path / "root" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    config = build_config(wong_table, "paper", {**OVERRIDES, "epochs": "1", "robust-epochs": "1",
                                                "projections": "5", "n-test": "20", "pgd-steps": "3"})
    ctx = RunContext(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path / "root")
    ctx.out_dir.mkdir()
    result = wong_table.run(config, ctx)
    assert [(r.data, r.robust, r.n_test) for r in result.rows] == [
        ("fashion-mnist", False, 20), ("fashion-mnist", True, 20)]
    assert [r.paper_robust_error_bound for r in result.rows] == [100.0, 34.53]
    assert result.settings.train_samples == {"fashion-mnist": 60}
    (table,) = wong_table.render(result, ctx.out_dir).tables
    assert table.rows[1][3] == "paper, n=10000"
    paper_robust = [v for v in table.rows[3][4:] if v is not None]  # the suite cell: not in the paper
    assert paper_robust == [21.73, 31.25, 31.63, 34.53]
