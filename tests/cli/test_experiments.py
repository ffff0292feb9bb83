"""`advlab list | reproduce | report`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from advlab.cli import main

from .running import invoke


def test_reproduce_with_overrides_and_report(tmp_path: Path) -> None:
    out = invoke("reproduce", "classifier-baselines", "--out", str(tmp_path / "res"),
                 "--cache-dir", str(tmp_path / "cache"), "--rows", "fc500-150-10@digits", "--epochs=2")  # fmt: skip
    assert "report:" in out
    config = json.loads((tmp_path / "res" / "classifier-baselines" / "config.json").read_text())
    assert config["config"]["rows"] == ["fc500-150-10@digits"] and config["config"]["training"]["epochs"] == 2
    assert (tmp_path / "res" / "report.html").exists()
    invoke("report", str(tmp_path / "res"), "--out", str(tmp_path / "r.html"))
    assert "classifier-baselines" in (tmp_path / "r.html").read_text()
    assert "classifier-baselines" in invoke("list")
    assert "wong-small" in invoke("list", "--models")


def test_reproduce_validates_before_printing_anything(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "argv", ["advlab", "reproduce", "classifier-baselines", "--scale", "huge",
                                      "--out", str(tmp_path)])  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    assert info.value.code == 2 and "demo, quick, paper" in captured.err
    assert captured.out == ""  # no header rule before the error


def test_reproduce_overrides_nested_parts_by_full_name(tmp_path: Path) -> None:
    """`advlab reproduce NAME --training-epochs 2`: the one grammar's name of a nested part;
    the other parts of the training config stay the experiment's."""
    from advlab.experiments import classifier_baselines

    invoke("reproduce", "classifier-baselines", "--out", str(tmp_path / "res"), "--cache-dir",
           str(tmp_path / "cache"), "--rows", "fc500-150-10@digits", "--training-epochs", "2")
    config = json.loads((tmp_path / "res" / "classifier-baselines" / "config.json").read_text())
    training = classifier_baselines.Config.quick().training
    assert config["config"]["training"]["epochs"] == 2
    assert config["config"]["training"]["lr"] == training.lr
    assert config["config"]["training"]["schedule"] == training.schedule
