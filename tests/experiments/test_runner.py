from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from advlab import experiments
from advlab.experiments import classifier_baselines
from advlab.experiments.runner import build_config, run_experiment
from advlab.options import coerce
from advlab.registry import UnknownNameError


def test_every_experiment_module_follows_the_convention() -> None:
    for name in experiments.names():
        module = experiments.get(name)
        assert module.NAME == name
        assert module.TITLE and module.PAPER
        for scale in ("demo", "quick", "paper"):
            config = build_config(module, scale)
            assert type(config) is module.Config
            json.dumps(dataclasses.asdict(config), default=str)  # config.json can be written
        assert callable(module.run) and callable(module.render)


def test_overrides_are_coerced_to_field_types() -> None:
    cfg = build_config(classifier_baselines, "quick", {"epochs": "2", "rows": "fc500-150-10@digits,wong-small@digits", "lr": "0.1"})
    assert cfg.training.epochs == 2 and cfg.training.lr == 0.1 and cfg.rows == ("fc500-150-10@digits", "wong-small@digits")
    assert coerce("none", int | None, "x") is None and coerce("yes", bool, "x") is True
    with pytest.raises(ValueError, match="valid fields: .*epochs"):
        build_config(classifier_baselines, "quick", {"epoch": "2"})
    with pytest.raises(ValueError, match="expects int"):
        build_config(classifier_baselines, "quick", {"epochs": "two"})
    dotted = build_config(classifier_baselines, "quick", {"training.schedule": "step"})
    assert dotted.training.schedule == "step" and dotted.training.epochs == 10
    with pytest.raises(ValueError, match="training.lr"):
        build_config(classifier_baselines, "quick", {"training.rate": "0.1"})
    with pytest.raises(ValueError, match="quick, paper"):
        build_config(classifier_baselines, "huge")
    with pytest.raises(UnknownNameError, match="classifier-baselines"):
        experiments.get("deepfool")


def test_seed_sets_every_seed_field_before_the_overrides() -> None:
    from advlab.experiments import deepfool_table

    reseeded = build_config(deepfool_table, "quick", None, seed=3)
    assert reseeded.seed == 3 and reseeded.training.seed == 3  # the attack's and the training's
    assert build_config(deepfool_table, "quick").training.seed == 0
    explicit = build_config(deepfool_table, "quick", {"training.seed": "5"}, seed=3)
    assert explicit.seed == 3 and explicit.training.seed == 5


def test_classifier_baselines_runs_caches_and_renders(tmp_path: Path) -> None:
    overrides = {"rows": "fc500-150-10@digits,wong-small@digits", "epochs": "3", "lr": "0.05",
                 "schedule": "constant", "warmup_steps": "0"}
    ctx = {"cache_dir": tmp_path / "cache"}
    first = run_experiment("classifier-baselines", "quick", tmp_path / "out", overrides, ctx)
    result = json.loads((tmp_path / "out" / "classifier-baselines" / "result.json").read_text())
    rows = result["result"]["rows"]
    assert [r["model"] for r in rows] == ["fc500-150-10", "wong-small"]
    assert all(0 <= r["test_error"] < 30 for r in rows)
    assert (first.out_dir / "test_error.png").stat().st_size > 1000
    assert first.rendered is not None and first.rendered.tables[0].rows[0][0] == "fc500-150-10"
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 2
    # a second run reuses the cached models: same errors, no new cache entries
    second = run_experiment("classifier-baselines", "quick", tmp_path / "again", overrides, ctx)
    again = json.loads((second.out_dir / "result.json").read_text())["result"]["rows"]
    assert [r["test_error"] for r in again] == [r["test_error"] for r in rows]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == cached


def test_the_demo_runs_every_family_at_demo_size() -> None:
    """`make demo` lists registered experiments only, each with its own demo-sized config,
    and at least one of every family of the lecture."""
    from advlab.cli_experiments import DEMO_EXPERIMENTS

    for name in DEMO_EXPERIMENTS:
        assert hasattr(experiments.get(name).Config, "demo"), f"{name} has no Config.demo()"
    families = {"attacks": "deepfool-table", "transformations": "eot-table", "universal": "universal",
                "certification": "wong-table", "sparsity": "sparsity-curves", "gans": "progressive-gan",
                "dissection": "classifier-dissection"}  # fmt: skip
    assert set(families.values()) <= set(DEMO_EXPERIMENTS)
