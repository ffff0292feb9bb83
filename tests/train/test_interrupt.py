"""Ctrl-C (SIGINT) during training: the step under way finishes, a checkpoint of it is saved,
`TrainingInterrupted` names it, and `--resume` continues bit-for-bit (the resume promise: the
same computation, so exact equality)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from advlab import data, models
from advlab.errors import TrainingInterrupted
from advlab.gan.config import GANTrainConfig
from advlab.gan.state import read_gan_checkpoint
from advlab.gan.trainer import train as train_gan
from advlab.interrupt import graceful_interrupt
from advlab.train import TrainConfig, fit

ARGS = {"in_channels": 1, "num_classes": 10, "image_size": 8}
META = {"model": "wong-small", "model_args": ARGS, "dataset": "digits"}


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # delivered to the main thread before the next bytecode


@pytest.fixture(autouse=True)
def default_sigint() -> Iterator[None]:
    """Python's own SIGINT handler for each test, whatever the runner inherited: a shell starts
    background jobs with SIGINT ignored, and training then leaves it ignored (by design)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_an_ignored_sigint_stays_ignored() -> None:
    """`cmd &` and nohup ignore SIGINT so that Ctrl-C at the terminal leaves the job running:
    graceful_interrupt must not take SIGINT over there."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with graceful_interrupt() as request:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        _ctrl_c()
    assert not request.requested and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the usual case, for contrast
    with graceful_interrupt() as request:
        _ctrl_c()
    assert request.requested and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_in_fit_checkpoints_the_step_and_resume_matches(tmp_path: Path) -> None:
    train, test = data.load("digits", "train"), data.load("digits", "test")
    cfg = TrainConfig(epochs=2, batch_size=100, lr=0.01)

    torch.manual_seed(0)
    full = models.create("wong-small", **ARGS)
    fit(full, train, test, cfg, tmp_path / "full", meta=META)

    def interrupt_at_step_4(model: torch.nn.Module, step: int) -> None:
        if step == 4:
            _ctrl_c()

    torch.manual_seed(0)
    cut = models.create("wong-small", **ARGS)
    with pytest.raises(TrainingInterrupted, match="checkpoint saved at") as stopped:
        fit(cut, train, test, cfg, tmp_path / "cut", meta=META, after_step=interrupt_at_step_4)
    assert stopped.value.step == 4
    assert Path(stopped.value.checkpoint) == tmp_path / "cut" / "checkpoint.safetensors"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored

    resumed = models.create("wong-small", **ARGS)
    fit(resumed, train, test, cfg, tmp_path / "cut", meta=META, resume=True)
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_ctrl_c_in_gan_training_checkpoints_the_step(tmp_path: Path) -> None:
    cfg = GANTrainConfig(width=8, batch_size=32, data_limit=96, iters=5, checkpoint_every=0,
                         sample_every=0, seed=1, device="cpu")

    def interrupt_at_step_2(step: int, parts: dict) -> None:
        if step == 2:
            _ctrl_c()

    with pytest.raises(TrainingInterrupted) as stopped:
        train_gan(cfg, tmp_path / "cut", on_step=interrupt_at_step_2, tensorboard=False)
    assert stopped.value.step == 2
    assert read_gan_checkpoint(tmp_path / "cut")[1]["step"] == 2
    result = train_gan(cfg, tmp_path / "cut", resume=True, tensorboard=False)
    assert result.resumed_from == 2 and result.step == 5
    train_gan(cfg, tmp_path / "full", tensorboard=False)
    full, cut = read_gan_checkpoint(tmp_path / "full")[0], read_gan_checkpoint(tmp_path / "cut")[0]
    for key in full:
        assert torch.equal(full[key], cut[key]), key
