"""`advlab data`, `advlab train classifier` and `advlab eval`."""

from __future__ import annotations

from pathlib import Path

import pytest

from .running import invoke, run_main


def test_data_list_and_show(tmp_path: Path) -> None:
    out = invoke("data", "list")
    assert "mnist-5k" in out and "embedded" in out and "cifar10" in out
    invoke("data", "show", "mnist-5k", "--out", str(tmp_path / "grid.png"), "--n", "12")
    assert (tmp_path / "grid.png").stat().st_size > 5000


def test_train_eval_resume_flow(tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = invoke("train", "classifier", "--model", "wong-small", "--data", "digits", "--epochs", "2",
                 "--lr", "0.05", "--out", str(run))  # fmt: skip
    assert "test acc" in out and (run / "checkpoint.safetensors").exists()
    out = invoke("train", "classifier", "--model", "wong-small", "--data", "digits", "--epochs", "3",
                 "--lr", "0.05", "--out", str(run), "--resume")  # fmt: skip
    assert len((run / "metrics.csv").read_text().splitlines()) == 4
    out = invoke("eval", "--checkpoint", str(run), "--data", "digits")
    assert "Per-class accuracy" in out and "Overall" in out


def test_train_behind_a_front_end_with_an_l1_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "sparse"
    out = invoke("train", "classifier", "--model", "fc500-150-10", "--data", "digits", "--epochs", "1",
                 "--lr", "0.05", "--front-end", "dct:0.25", "--l1-budget", "8", "--out", str(run))  # fmt: skip
    assert "Theorem 2 bound" in out
    from advlab.commands.sparsity import _classifier
    from advlab.models import load_checkpoint, read_checkpoint

    meta = read_checkpoint(run / "checkpoint.safetensors").meta
    assert meta["model"] == "sparsified" and meta["front_end"] == "dct:0.25"
    assert meta["l1_budget"] == [8.0] * 3
    inner = _classifier(load_checkpoint(run))  # the budget holds for the trained weights
    assert all(float(m.weight.detach().abs().sum(1).max()) <= 8.0 * (1 + 1e-5)
               for m in inner.modules() if isinstance(m, __import__("torch").nn.Linear))
    assert "Overall" in invoke("eval", "--checkpoint", str(run), "--data", "digits")
    code, err = run_main(monkeypatch, capsys, "train", "classifier", "--model", "fc500-150-10", "--data", "digits",
                         "--front-end", "nobasis:0.1", "--out", str(tmp_path / "bad"))  # fmt: skip
    assert code == 2 and "dct" in err
