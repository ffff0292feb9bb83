"""`advlab attack NAME` (the protocols universal and ensemble included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .running import invoke, run_main, untrained_checkpoint


@pytest.mark.parametrize("name,options,expected", [
    ("deepfool", ["--candidates", "3", "--steps", "10", "--overshoot", "0.05"], {"candidates": 3, "steps": 10, "overshoot": 0.05}),
    ("lbfgs", ["--c-init", "0.5", "--search-steps", "2", "--max-iter", "3"], {"c_init": 0.5, "search_steps": 2, "max_iter": 3}),
    ("pgd", ["--eps", "0.1", "--steps", "3", "--no-random-start", "--restarts", "2"], {"random_start": False, "restarts": 2}),
    ("fgsm", ["--eps", "0.1", "--use-predicted-labels"], {"use_predicted_labels": True, "targeted": False}),
    ("pgd", ["--eps=0.05", "--norm", "l2", "--targeted", "--bounds", "0,1"], {"targeted": True, "norm": "l2", "bounds": [0.0, 1.0]}),
])  # fmt: skip
def test_attack_hyperparameters_reach_the_attack(tmp_path: Path, name: str, options: list[str], expected: dict) -> None:
    checkpoint = untrained_checkpoint(tmp_path)
    out = tmp_path / "out"
    invoke("attack", name, "--checkpoint", str(checkpoint), "--data", "digits", "--n", "12", "--out", str(out), *options)
    params = json.loads((out / "result.json").read_text())["params"]
    assert {k: params[k] for k in expected} == expected


def test_a_nested_option_changes_one_part_and_keeps_the_others(tmp_path: Path) -> None:
    """`attack eot --distribution-rotation=-30,30` changes the rotation of EOT's default
    distribution and keeps its translation, scale, brightness and noise."""
    from advlab.attacks.eot import DEFAULT_DISTRIBUTION

    checkpoint = untrained_checkpoint(tmp_path)
    out = tmp_path / "out"
    invoke("attack", "eot", "--checkpoint", str(checkpoint), "--data", "digits", "--n", "4",
           "--out", str(out), "--inner", "fgsm", "--inner-eps", "0.1",
           "--distribution-rotation=-30,30", "--draws", "2")
    distribution = json.loads((out / "result.json").read_text())["params"]["distribution"]
    assert distribution["rotation"] == [-30.0, 30.0]
    for part in ("translation", "scale", "brightness", "noise"):
        assert distribution[part] == list(getattr(DEFAULT_DISTRIBUTION, part)), part


def test_attack_bad_hyperparameters_get_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    missing = str(tmp_path / "none")  # checked before the checkpoint is read
    code, err = run_main(monkeypatch, capsys, "attack", "deepfool", "--checkpoint", missing, "--candidates", "1")
    assert code == 2 and "candidates must be an integer >= 2" in err and len(err.strip().splitlines()) == 1
    code, err = run_main(monkeypatch, capsys, "attack", "lbfgs", "--checkpoint", missing, "--candidates", "3")
    assert code == 2 and "attack lbfgs has no option --candidates" in err and "--search-steps" in err
    code, err = run_main(monkeypatch, capsys, "attack", "pgd", "--checkpoint", missing, "--eps", "0.1", "--norm", "l1")
    assert code == 2 and "norm must be one of" in err
    code, err = run_main(monkeypatch, capsys, "attack", "deepfool", "--checkpoint", missing, "--targeted")
    assert code == 2 and "attack deepfool has no option --targeted" in err
    code, err = run_main(monkeypatch, capsys, "attack", "fgsm", "--checkpoint", missing, "--eps", "0.1", "--targeted", "--use-predicted-labels")
    assert code == 2 and "use_predicted_labels applies to untargeted FGSM only" in err


def test_attack_universal_and_ensemble(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture) -> None:
    first = untrained_checkpoint(tmp_path / "a")
    import torch

    from advlab import models
    from advlab.zoo.cache import model_args_for

    args = model_args_for("mlp-shallow", "digits")
    torch.manual_seed(1)
    second = models.save_checkpoint(tmp_path / "b" / "checkpoint.safetensors", models.create("mlp-shallow", **args),
                                    {"model": "mlp-shallow", "model_args": args})  # fmt: skip
    out = tmp_path / "uap"
    invoke("attack", "universal", "--checkpoint", str(first), "--data", "digits", "--samples", "20", "--xi", "0.2",
           "--n-fit", "16", "--max-passes", "1", "--attack-inner-steps", "5", "--out", str(out))  # fmt: skip
    summary = json.loads((out / "result.json").read_text())
    assert summary["xi"] == 0.2 and summary["n_fit"] == 16 and summary["n_eval"] == 20
    out = tmp_path / "ens"
    invoke("attack", "ensemble", "--checkpoints", f"{first.parent}", "--held-out", str(second.parent), "--data",
           "digits", "--samples", "10", "--attack", "on-ensemble", "--attack-attack", "fgsm",
           "--attack-attack-eps", "0.2", "--out", str(out))  # fmt: skip
    summary = json.loads((out / "result.json").read_text())
    assert [m["role"] for m in summary["models"]] == ["ensemble", "held out"] and summary["n"] == 10
    code, err = run_main(monkeypatch, capsys, "attack", "ensemble", "--data", "digits")
    assert code == 2 and "needs --checkpoints" in err
    code, err = run_main(monkeypatch, capsys, "attack", "universal", "--checkpoint", str(first), "--xii", "1")
    assert code == 2 and "has no option --xii" in err and "--n-fit" in err
