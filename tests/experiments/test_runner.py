from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from advlab import experiments
from advlab.commands.experiments import DEMO_EXPERIMENTS, build_configs
from advlab.commands.reproduce import RunSettings, build_config, run_experiment
from advlab.experiments import classifier_baselines
from advlab.options import coerce
from advlab.registry import UnknownNameError


def test_every_experiment_module_follows_the_convention() -> None:
    for name in experiments.names():
        module = experiments.get(name)
        assert module.NAME == name
        assert module.TITLE and module.PAPER
        for scale in ("demo", "quick", "paper"):
            if scale == "demo" and name not in DEMO_EXPERIMENTS:  # a demo size is optional
                try:
                    config = build_config(module, scale)
                except NotImplementedError:
                    continue
            config = build_config(module, scale)
            assert type(config) is module.Config
            json.dumps(dataclasses.asdict(config), default=str)  # config.json can be written
        assert callable(module.run) and callable(module.render)


def test_overrides_are_coerced_to_field_types() -> None:
    cfg = build_config(classifier_baselines, "quick", {"epochs": "2", "rows": "fc500-150-10@digits,wong-small@digits", "lr": "0.1"})
    assert cfg.training.epochs == 2 and cfg.training.lr == 0.1 and cfg.rows == ("fc500-150-10@digits", "wong-small@digits")
    assert coerce("none", int | None, "x") is None and coerce("yes", bool, "x") is True
    with pytest.raises(ValueError, match="its options: .*--training-epochs"):
        build_config(classifier_baselines, "quick", {"epoch": "2"})
    with pytest.raises(ValueError, match="expects int"):
        build_config(classifier_baselines, "quick", {"epochs": "two"})
    nested = build_config(classifier_baselines, "quick", ["--training-schedule", "step"])
    assert nested.training.schedule == "step" and nested.training.epochs == 10
    with pytest.raises(ValueError, match="has no option --training-rate; its options: .*--training-lr"):
        build_config(classifier_baselines, "quick", ["--training-rate", "0.1"])
    with pytest.raises(ValueError, match="quick, paper"):
        build_config(classifier_baselines, "huge")
    with pytest.raises(UnknownNameError, match="classifier-baselines"):
        experiments.get("deepfool")


def test_reproduce_overrides_go_through_the_one_grammar() -> None:
    """`advlab reproduce NAME --training-epochs 20`: words as typed, nested parts by full or
    bare name, and a nested part keeps the rest of the config's current value."""
    quick = classifier_baselines.Config.quick()
    cfg = build_config(classifier_baselines, "quick", ["--training-epochs", "20", "--lr=0.5"])
    assert cfg.training == dataclasses.replace(quick.training, epochs=20, lr=0.5)
    assert cfg.rows == quick.rows
    # an experiment config holding an attack: its parts change, the others stay
    from advlab.experiments import eot_table

    eot = build_config(eot_table, "quick", ["--attack-distribution-rotation=-10,10",
                                            "--attack-inner-steps", "3"])
    default = eot_table.Config.quick().attack
    assert eot.attack == dataclasses.replace(
        default, distribution=dataclasses.replace(default.distribution, rotation=(-10.0, 10.0)),
        inner=dataclasses.replace(default.inner, steps=3))
    with pytest.raises(ValueError, match="one experiment"):
        build_configs(["classifier-baselines", "wong-table"], "quick", ["--epochs", "2"], None)


def test_build_configs_refuses_an_experiment_without_that_size(monkeypatch) -> None:
    from advlab.experiments.base import ExperimentConfig

    monkeypatch.setattr(classifier_baselines.Config, "demo", classmethod(ExperimentConfig.demo.__func__))
    with pytest.raises(ValueError, match="experiment classifier-baselines has no demo size"):
        build_configs(["classifier-baselines"], "demo", [], None)


def test_seed_sets_every_seed_field_before_the_overrides() -> None:
    from advlab.experiments import deepfool_table

    reseeded = build_config(deepfool_table, "quick", None, seed=3)
    assert reseeded.seed == 3 and reseeded.training.seed == 3  # the attack's and the training's
    assert build_config(deepfool_table, "quick").training.seed == 0
    explicit = build_config(deepfool_table, "quick", ["--training-seed", "5"], seed=3)
    assert explicit.seed == 3 and explicit.training.seed == 5


def test_classifier_baselines_runs_caches_and_renders(tmp_path: Path) -> None:
    overrides = {"rows": "fc500-150-10@digits,wong-small@digits", "epochs": "3", "lr": "0.05",
                 "schedule": "constant", "warmup_steps": "0", "suite_samples": "10"}
    settings = RunSettings(cache_dir=tmp_path / "cache")
    config = build_config(classifier_baselines, "quick", overrides)
    first = run_experiment("classifier-baselines", config, "quick", tmp_path / "out", settings)
    result = json.loads((tmp_path / "out" / "classifier-baselines" / "result.json").read_text())
    rows = result["result"]["rows"]
    assert [r["model"] for r in rows] == ["fc500-150-10", "wong-small"]
    assert all(0 <= r["test_error"] < 30 for r in rows)
    # the suite on the first 10 test digits at the lecture's MNIST radius (Wong & Kolter, 0.1)
    assert all(r["suite"]["n"] == 10 and r["suite"]["eps"] == 0.1 for r in rows)
    assert all(0 <= r["suite"]["robust_accuracy"] <= 100 for r in rows)
    assert (first.out_dir / "test_error.png").is_file()
    typed = classifier_baselines.Result(rows=[classifier_baselines.Row(**r) for r in rows])
    (ax,) = classifier_baselines.test_error_figure(typed).axes
    assert ax.get_ylabel() == "test error (%)"
    assert [bar.get_height() for bar in ax.patches[:2]] == [r["test_error"] for r in rows]
    assert first.rendered is not None and first.rendered.tables[0].rows[0][0] == "fc500-150-10"
    table = first.rendered.tables[0]
    assert table.columns[-2:] == ["suite eps", "robust accuracy % (suite)"]
    assert table.rows[0][-2:] == [0.1, round(rows[0]["suite"]["robust_accuracy"], 1)]
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 2
    # a second run reuses the cached models: same errors, no new cache entries
    second = run_experiment("classifier-baselines", config, "quick", tmp_path / "again", settings)
    again = json.loads((second.out_dir / "result.json").read_text())["result"]["rows"]
    assert [r["test_error"] for r in again] == [r["test_error"] for r in rows]
    assert [r["suite"] for r in again] == [r["suite"] for r in rows]  # seeded: the same
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == cached


def test_the_demo_runs_every_family_at_demo_size() -> None:
    """`make demo` lists registered experiments only, each with its own demo-sized config,
    and at least one of every family of the lecture."""
    for name in DEMO_EXPERIMENTS:  # its own demo(): the base class's raises NotImplementedError
        assert type(build_config(experiments.get(name), "demo")) is experiments.get(name).Config
    families = {"attacks": "deepfool-table", "transformations": "eot-table", "universal": "universal",
                "certification": "wong-table", "sparsity": "sparsity-curves", "gans": "progressive-gan",
                "dissection": "classifier-dissection"}  # fmt: skip
    assert set(families.values()) <= set(DEMO_EXPERIMENTS)
