"""evaluate_checkpoint: robust accuracy of a saved classifier, with its files and table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advlab.commands.evaluate import evaluate_checkpoint
from advlab.models.checkpoint import load_state

pytestmark = pytest.mark.usefixtures("single_thread")


def test_writes_adversarial_examples_json_and_table(tmp_path: Path) -> None:
    import torch

    from advlab import models
    from advlab.experiments.cache import model_args_for

    args = model_args_for("fc500-150-10", "digits")
    torch.manual_seed(0)
    net = models.create("fc500-150-10", **args)
    checkpoint = models.save_checkpoint(tmp_path / "checkpoint.safetensors", net,
                                        {"model": "fc500-150-10", "model_args": args})  # fmt: skip
    table, summary = evaluate_checkpoint(checkpoint, "digits", tmp_path / "out", eps=0.3, n=12)
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved["robust_accuracy"] == summary["robust_accuracy"] and saved["points"] == 12
    tensors, meta = load_state(tmp_path / "out" / "adversarial.safetensors")
    assert tensors["x_adv"].shape == (12, 1, 8, 8) and tensors["robust"].shape == (12,)
    assert float(tensors["robust"].float().mean()) == pytest.approx(summary["robust_accuracy"])
    assert [row[0] for row in table.rows] == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert table.rows[-1][3] == pytest.approx(100 * summary["robust_accuracy"])
    assert meta["eps"] == 0.3
