"""`advlab evaluate` / evaluate_model: robust accuracy of a saved classifier, its files and
table, chunked (the unit of sharding) with per-chunk seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from advlab import models
from advlab.commands.evaluate import evaluate_model
from advlab.evaluate import ThreatModel
from advlab.models.checkpoint import load_state
from advlab.zoo.cache import model_args_for


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return models.create("fc500-150-10", **model_args_for("fc500-150-10", "digits")).eval()


def test_writes_adversarial_examples_json_and_table(tmp_path: Path) -> None:
    from advlab import data

    x, y = data.as_tensors(data.load("digits", "test"), limit=12)
    table, summary = evaluate_model(_net(), x, y, ThreatModel("linf", 0.3), tmp_path / "out",
                                    describe={"data": "digits"}, batch_size=5)
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved["robust_accuracy"] == summary["robust_accuracy"] and saved["points"] == 12
    tensors, meta = load_state(tmp_path / "out" / "adversarial.safetensors")
    assert tensors["x_adv"].shape == (12, 1, 8, 8) and tensors["robust"].shape == (12,)
    assert float(tensors["robust"].float().mean()) == pytest.approx(summary["robust_accuracy"])
    assert (tensors["x_adv"] - x).abs().max() <= 0.3 + 1e-6  # inside the ball
    assert [row[0] for row in table.rows] == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert table.rows[-1][3] == pytest.approx(100 * summary["robust_accuracy"])
    broken = sum(a["broken"] for a in summary["attacks"])
    clean_errors = sum(b == "clean" for b in summary["broken_by"])
    assert broken + clean_errors + round(12 * summary["robust_accuracy"]) == 12  # adds up
    assert meta["eps"] == 0.3


def test_the_cli_prints_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture) -> None:
    import sys

    from advlab.cli import main

    checkpoint = models.save_checkpoint(
        tmp_path / "ckpt" / "checkpoint.safetensors", _net(),
        {"model": "fc500-150-10", "model_args": model_args_for("fc500-150-10", "digits")})
    monkeypatch.setattr(sys, "argv", ["advlab", "evaluate", "--checkpoint", str(checkpoint.parent),
                                      "--data", "digits", "--samples", "6", "--eps", "0.2",
                                      "--steps", "3", "--queries", "20", "--out", str(tmp_path / "ev")])
    main()
    out = capsys.readouterr().out
    assert "Robust accuracy" in out and "apgd-t" in out
    assert (tmp_path / "ev" / "adversarial.safetensors").is_file()
    saved = json.loads((tmp_path / "ev" / "result.json").read_text())
    assert (saved["steps"], saved["queries"]) == (3, 20)  # the budget is recorded with the result
