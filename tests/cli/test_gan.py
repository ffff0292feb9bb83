"""`advlab gan train | sample | interpolate | memorisation`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advlab.cli import app

from .running import invoke, run_main, runner


def test_gan_train_resume_sample_interpolate(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """`advlab gan train --out DIR --iters N --resume` continues with the run's saved settings;
    a setting that would change the trajectory is refused; sample/interpolate write PNGs."""
    run = tmp_path / "gan"
    invoke("gan", "train", "--loss", "wgan-gp", "--arch", "dcgan", "--width", "4", "--batch-size", "16",
           "--iters", "2", "--n-critic", "1", "--data-limit", "64", "--out", str(run))  # fmt: skip
    out = invoke("gan", "train", "--out", str(run), "--iters", "3", "--resume")
    assert "resumed from step" in out and "dcgan" in out
    saved = json.loads((run / "config.json").read_text())
    assert saved["width"] == 4 and saved["iters"] == 3 and saved["n_critic"] == 1
    code, err = run_main(monkeypatch, capsys, "gan", "train", "--out", str(run), "--iters", "4",
                         "--width", "8", "--resume")
    assert code == 2 and "width: saved 4 vs requested 8" in " ".join(err.split())  # rich wraps lines
    invoke("gan", "sample", "--checkpoint", str(run), "--n", "16", "--out", str(tmp_path / "grid.png"))
    invoke("gan", "interpolate", "--checkpoint", str(run), "--out", str(tmp_path / "walk.png"))
    assert (tmp_path / "grid.png").stat().st_size > 500 and (tmp_path / "walk.png").stat().st_size > 500


def test_gan_train_progressive_with_growth_options_and_memorisation(tmp_path: Path) -> None:
    """`advlab gan train --arch progressive` takes the growth schedule's options by flat name,
    resumes mid-fade, and `advlab gan memorisation` checks the run."""
    run = tmp_path / "pgan"
    invoke("gan", "train", "--loss", "wgan-gp-drift", "--arch", "progressive", "--image-pad", "2",
           "--latent-dim", "16", "--width", "4", "--data-limit", "64", "--iters", "3", "--sample-every", "0",
           "--initial-resolution", "16", "--stable-images", "32", "--fade-images", "32", "--batch-sizes", "16",
           "--no-pixel-norm", "--out", str(run), "--device", "cpu")  # fmt: skip
    saved = json.loads((run / "config.json").read_text())
    assert saved["growth"]["fade_images"] == 32 and saved["progressive"]["pixel_norm"] is False
    out = invoke("gan", "train", "--out", str(run), "--iters", "4", "--resume")
    assert "resumed from step" in out
    result = runner.invoke(app, ["gan", "train", "--fade-imagez", "3", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "--growth-fade-images" in str(result.exception)  # valid names
    check = tmp_path / "check"
    out = invoke("gan", "memorisation", "--checkpoint", str(run), "--features", "pixels", "--samples", "16",
                 "--k", "2", "--shown", "2", "--out", str(check))  # fmt: skip
    assert "generated samples" in out and (check / "memorisation_figure10.png").is_file()
