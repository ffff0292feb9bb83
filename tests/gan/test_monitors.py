"""Divergence that is not yet NaN stops a run: the detector against hand-made sequences, the
trainer keeping its last good checkpoint, the command line exiting 3 with one line."""

from __future__ import annotations

import sys

import pytest
import torch

from advlab.errors import TrainingDiverged
from advlab.gan.config import GANTrainConfig
from advlab.gan.monitors import DivergenceDetector
from advlab.gan.state import read_gan_checkpoint
from advlab.gan.trainer import train


def test_detector_compares_against_the_running_scale_with_a_floor():
    detector = DivergenceDetector(factor=100.0, decay=0.5)
    detector.update(1, {"d_loss": 0.01, "g_loss": -2.0})  # first values only set the scales
    assert detector.scales == {"d_loss": 0.01, "g_loss": 2.0}
    detector.update(2, {"d_loss": 0.03, "g_loss": -4.0})
    assert detector.scales == pytest.approx({"d_loss": 0.02, "g_loss": 3.0})  # EMA of |x|
    # a loss near 0.01 may rise to order 1: the floor (1) keeps it from counting as a blow-up
    detector.update(3, {"d_loss": 50.0, "g_loss": -3.0})
    # but not past factor * max(scale, floor): here 100 * 25.01
    with pytest.raises(TrainingDiverged, match=r"step 4: g_loss = -4e\+04, more than 100 times"):
        detector.update(4, {"d_loss": 1.0, "g_loss": -4e4})
    # gradient norms are watched too, and inf counts as a blow-up
    with pytest.raises(TrainingDiverged, match="d_grad_norm"):
        DivergenceDetector(1000.0, scales={"d_grad_norm": 2.0}).update(9, {"d_grad_norm": 2e4})
    with pytest.raises(TrainingDiverged, match="g_grad_norm"):
        DivergenceDetector(1000.0).update(1, {"g_grad_norm": float("inf")})
    DivergenceDetector(0.0).update(1, {"d_loss": 1e30})  # 0 = off
    with pytest.raises(ValueError, match="factor must be > 1"):
        DivergenceDetector(0.5)


def test_goodfellow_style_blow_up_is_stopped_and_the_last_good_checkpoint_kept(tmp_path):
    """A minimax run whose D loss jumps from ~1 to ~1e5 within a step (as the README's
    Goodfellow example did at steps 1993-2000) stops with TrainingDiverged; the checkpoint of
    step 4, written before the blow-up, stays (the run would otherwise go on to step 10)."""

    def blow_up(step, parts):
        if step == 5:  # after the checkpoint of step 4: D calls everything real, by 1e5 logits
            with torch.no_grad():
                last = [m for m in parts["D"].modules() if isinstance(m, torch.nn.Linear)][-1]
                last.bias.add_(1e5)

    cfg = GANTrainConfig(loss="minimax", arch="mlp", width=4, batch_size=32, data_limit=128,
                         iters=10, checkpoint_every=2, sample_every=0, latent_prior="uniform",
                         seed=0, device="cpu")
    with pytest.raises(TrainingDiverged, match=r"training diverged at generator step 6: "
                       r".*times its running scale.*last good checkpoint .*step 4\) is kept"):
        train(cfg, tmp_path, on_step=blow_up, tensorboard=False)
    _, meta = read_gan_checkpoint(tmp_path)
    assert meta["step"] == 4


def test_command_line_exits_3_with_one_line(monkeypatch, capsys, tmp_path):
    from advlab.cli import main

    # a limit of 1.01 x the running scale is crossed within a few steps of a real run
    monkeypatch.setattr(sys, "argv", [
        "advlab", "gan", "train", "--loss", "nonsaturating", "--arch", "mlp", "--width", "4",
        "--batch-size", "32", "--iters", "30", "--data-limit", "128", "--latent-prior", "uniform",
        "--divergence-factor", "1.01", "--out", str(tmp_path / "run")])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 3
    assert "training diverged at generator step" in err and "Traceback" not in err
