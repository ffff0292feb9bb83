"""`run_attack`: the work behind `advlab attack NAME` (files, JSON fields, table)."""

from __future__ import annotations

import json

import pytest
from torch import nn

from advlab.commands.attack import run_attack


@pytest.mark.parametrize("name,params", [("deepfool", {}), ("fgsm", {"eps": 0.2})])
def test_run_attack_writes_result_and_grid(name: str, params: dict, trained_mlp: nn.Module, digits, tmp_path) -> None:
    x, y = digits[0][:40], digits[1][:40]
    table, summary = run_attack(name, trained_mlp, x, y, tmp_path, [str(i) for i in range(10)], **params)
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk == summary
    for key in ("success_rate", "accuracy_clean", "accuracy_adversarial", "rho_adv", "median_norm",
                "seconds_per_sample", "mean_steps", "params"):
        assert key in summary, key
    assert summary["accuracy_adversarial"] < summary["accuracy_clean"]
    assert summary["params"].get("eps") == params.get("eps")
    png = (tmp_path / "examples.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert len(table.rows) == 1 and len(table.rows[0]) == len(table.columns)


def test_run_attack_unknown_param(trained_mlp: nn.Module, digits, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown parameter"):
        run_attack("deepfool", trained_mlp, digits[0][:4], digits[1][:4], tmp_path, [], eps=0.1)
