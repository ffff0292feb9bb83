"""Running `advlab` in tests: through typer's runner (`invoke`) or the console entry point
(`run_main`, exit status and stderr), and a small checkpoint to attack."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advlab.cli import app, main

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["advlab", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0), capsys.readouterr().err


def untrained_checkpoint(folder: Path) -> Path:
    """A seeded, untrained fc500-150-10 for digits saved as a checkpoint (attacks need no accuracy)."""
    import torch

    from advlab import models
    from advlab.zoo.cache import model_args_for

    args = model_args_for("fc500-150-10", "digits")
    torch.manual_seed(0)
    net = models.create("fc500-150-10", **args)
    return models.save_checkpoint(folder / "checkpoint.safetensors", net, {"model": "fc500-150-10", "model_args": args})
