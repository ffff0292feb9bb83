"""`advlab certify --method NAME` (every bounding method of `METHODS`, unknown names refused
before any work) and `advlab train classifier --robust crown-ibp`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advlab.defenses.certify import METHODS

from .running import invoke, run_main, untrained_checkpoint


def test_certify_help_names_every_method_and_train_help_both_robust_losses() -> None:
    certify_help = " ".join(invoke("certify", "--help").split())
    assert "--method" in certify_help
    for name in METHODS:
        assert name in certify_help, name
    train_help = " ".join(invoke("train", "classifier", "--help").split())
    assert "'wong'" in train_help and "'crown-ibp'" in train_help


@pytest.mark.parametrize("method", ["interval", "crown"])
def test_certify_by_method_writes_the_method(method: str, tmp_path: Path) -> None:
    ckpt = untrained_checkpoint(tmp_path / "ckpt").parent
    out = invoke("certify", "--checkpoint", str(ckpt), "--data", "digits", "--samples", "6",
                 "--eps", "0.05", "--pgd-steps", "3", "--method", method, "--out",
                 str(tmp_path / "out"))
    assert f"Certification by {method}" in " ".join(out.split())
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["method"] == method and result["n"] == 6
    # a certified sample is one no attack in the ball can break
    assert 0.0 <= result["pgd_error"] <= result["robust_error_bound"] <= 1.0


def test_crown_certifies_at_least_what_interval_bounds_do(tmp_path: Path) -> None:
    ckpt = untrained_checkpoint(tmp_path / "ckpt").parent
    bound = {}
    for method in ("interval", "crown"):
        invoke("certify", "--checkpoint", str(ckpt), "--data", "digits", "--samples", "8",
               "--eps", "0.002", "--pgd-steps", "2", "--method", method, "--out",
               str(tmp_path / method))
        bound[method] = json.loads((tmp_path / method / "result.json").read_text())
    assert bound["crown"]["certified_accuracy"] >= bound["interval"]["certified_accuracy"]
    assert bound["crown"]["certified_accuracy"] > 0  # a tiny radius: CROWN certifies something


def test_unknown_method_lists_the_valid_ones_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import advlab.data
    import advlab.models

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("work done before the method name was checked")

    monkeypatch.setattr(advlab.data, "load", no_work)
    monkeypatch.setattr(advlab.models, "load_checkpoint", no_work)
    status, err = run_main(monkeypatch, capsys, "certify", "--checkpoint", str(tmp_path),
                           "--method", "crown-ibp", "--out", str(tmp_path / "out"))
    assert status == 2, err
    assert "unknown certification method 'crown-ibp'" in err
    for name in METHODS:
        assert name in err
    assert not (tmp_path / "out").exists()


def test_train_classifier_with_crown_ibp(tmp_path: Path) -> None:
    out = invoke("train", "classifier", "--model", "wong-small", "--data", "digits", "--epochs",
                 "1", "--robust", "crown-ibp", "--eps", "0.05", "--out", str(tmp_path / "run"))
    assert "robust_error" in out and "eps" in out
    from advlab.models.checkpoint import read_checkpoint

    meta = read_checkpoint(tmp_path / "run").meta
    assert meta["robust"]["method"] == "crown-ibp" and meta["robust"]["eps"] == 0.05
