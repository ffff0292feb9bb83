"""Inputs a user met that gave tracebacks or were accepted silently (issue 22): devices the
machine lacks, vacuous radii, models the bounds cannot represent, data that does not fit the
model, and Ctrl-C, which must exit 130 with a resume hint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from advlab import models
from advlab.errors import TrainingInterrupted

from .running import run_main, untrained_checkpoint

NO_CUDA = not torch.cuda.is_available()


@pytest.mark.parametrize("verb", [
    ["attack", "deepfool", "--checkpoint", "CKPT", "--data", "digits", "--samples", "4"],
    ["certify", "--checkpoint", "CKPT", "--data", "digits", "--samples", "4"],
    ["train", "classifier", "--epochs", "1", "--out", "OUT"],
    ["gan", "train", "--iters", "1", "--out", "OUT"],
    ["eval", "--checkpoint", "CKPT", "--data", "digits"],
    ["dissect", "--checkpoint", "CKPT", "--layer", "0", "--samples", "4", "--out", "OUT"],
    ["gan", "sample", "--checkpoint", "CKPT", "--out", "OUT/grid.png"],
])
@pytest.mark.parametrize("device", ["gpu", "cuda"])
def test_every_verb_refuses_a_device_in_one_line(verb: list[str], device: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    if device == "cuda" and not NO_CUDA:
        pytest.skip("this machine has CUDA")
    ckpt = untrained_checkpoint(tmp_path / "ckpt").parent
    words = [w.replace("CKPT", str(ckpt)).replace("OUT", str(tmp_path / "out")) for w in verb]
    status, err = run_main(monkeypatch, capsys, *words, "--device", device)
    assert status == 2, err
    assert "Traceback" not in err
    assert ("unknown device 'gpu'" in err) if device == "gpu" else ("no CUDA device" in err)


def test_vacuous_radii_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    ckpt = untrained_checkpoint(tmp_path / "ckpt").parent
    status, err = run_main(monkeypatch, capsys, "attack", "pgd", "--eps", "2",
                           "--checkpoint", str(ckpt), "--data", "digits")
    assert status == 2 and "covers the whole input box [0, 1]" in err
    status, err = run_main(monkeypatch, capsys, "attack", "pgd", "--eps", "9", "--norm", "l2",
                           "--checkpoint", str(ckpt), "--data", "digits", "--samples", "4",
                           "--out", str(tmp_path / "l2"))  # 8x8 digits: l2 diameter 8
    assert status == 2 and "l2 diameter is 8" in err
    status, err = run_main(monkeypatch, capsys, "certify", "--eps", "1.5",
                           "--checkpoint", str(ckpt), "--data", "digits")
    assert status == 2 and "vacuous" in err


def test_certify_refuses_an_unsupported_model_before_loading_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    lenet = models.save_checkpoint(tmp_path / "lenet" / "checkpoint.safetensors",
                                   models.create("lenet"), {"model": "lenet", "model_args": {}})
    import advlab.data

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("data loaded before the model was checked")

    monkeypatch.setattr(advlab.data, "load", no_loading)
    status, err = run_main(monkeypatch, capsys, "certify", "--checkpoint", str(lenet.parent))
    assert status == 2 and "MaxPool2d" in err and "supported:" in err


def test_dissect_checks_the_data_against_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    lenet = models.save_checkpoint(tmp_path / "lenet" / "checkpoint.safetensors",
                                   models.create("lenet"), {"model": "lenet", "model_args": {}})
    status, err = run_main(monkeypatch, capsys, "dissect", "--checkpoint", str(lenet.parent),
                           "--layer", "0", "--samples", "4", "--out", str(tmp_path / "d"))
    assert status == 2 and "does not take scenes images of shape 3x64x64" in err


def test_ctrl_c_in_training_exits_130_with_a_resume_hint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import advlab.commands.train as train_command

    def interrupted(*args: object, **kwargs: object) -> None:
        raise TrainingInterrupted("interrupted after 1 epochs and 3 batches (step 10); checkpoint "
                                  "saved at X", str(tmp_path / "run" / "checkpoint.safetensors"), 10)

    monkeypatch.setattr(train_command, "train_classifier", interrupted)
    status, err = run_main(monkeypatch, capsys, "train", "classifier", "--epochs", "3",
                           "--out", str(tmp_path / "run"))
    assert status == 130
    assert f"resume with: advlab train classifier --epochs 3 --out {tmp_path / 'run'} --resume" in err


def test_ctrl_c_elsewhere_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture) -> None:
    import advlab.commands.data as data_command

    def ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(data_command, "dataset_table", ctrl_c)
    status, err = run_main(monkeypatch, capsys, "data", "list")
    assert status == 130 and "interrupted" in err


@pytest.mark.parametrize("threads", ["0", "many"])
def test_bad_thread_counts_are_refused(threads: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture) -> None:
    status, err = run_main(monkeypatch, capsys, "--threads", threads, "list")
    assert status == 2 and "--threads" in err
