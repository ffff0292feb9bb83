"""`dissect_command` (the work behind `advlab dissect`) and `show_masks` (`advlab data show
scenes`): files, JSON fields, tables, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from advlab import models
from advlab.commands.dissect import dissect_command, show_masks
from advlab.data.scenes import load_scenes
from advlab.models import create_segmenter
from advlab.train import TrainConfig, fit
from advlab.zoo.scene_models import pixel_cross_entropy

pytestmark = pytest.mark.usefixtures("single_thread")


def _classifier(folder: Path) -> Path:
    scenes = load_scenes(32, "train", n=32)
    args = {"in_channels": 3, "num_classes": 6, "image_size": 32, "width": 2}
    torch.manual_seed(0)
    fit(models.create("scene-vgg", **args), (scenes.images, scenes.labels), None,
        TrainConfig(epochs=1, batch_size=16), folder,
        meta={"model": "scene-vgg", "model_args": args, "dataset": "scenes-32"})
    return folder


def _segmenter(folder: Path) -> Path:
    scenes = load_scenes(32, "train", n=16)
    args = {"in_channels": 3, "num_classes": 12, "width": 2}
    fit(create_segmenter("scene-unet", **args), (scenes.images, scenes.masks), None,
        TrainConfig(epochs=1, batch_size=16), folder, batch_loss=pixel_cross_entropy,
        meta={"model": "scene-unet", "model_args": args})
    return folder


def test_show_masks_draws_images_above_masks(tmp_path: Path) -> None:
    png = show_masks("scenes-32", tmp_path / "scenes.png", n=6)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with pytest.raises(ValueError, match="has no concept masks"):
        show_masks("digits", tmp_path / "digits.png")


def test_dissect_a_classifier_on_exact_masks(tmp_path: Path) -> None:
    checkpoint = _classifier(tmp_path / "clf")
    tables = dissect_command(checkpoint, ["conv3_1", "conv4_2"], tmp_path / "out", data="scenes-32",
                             n=40, top_units=2, top_images=3)
    report = json.loads((tmp_path / "out" / "dissection.json").read_text())
    assert report["kind"] == "classifier" and report["inputs"] == 40
    assert [layer["layer"] for layer in report["layers"]] == ["conv3_1", "conv4_2"]
    units = report["layers"][1]["units_detail"]
    assert len(units) == 16 and len(units[0]["ious"]) == 12
    for name in ("units_per_layer.png", "conv4_2_concepts.png", "conv4_2_units.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
    assert len(tables) == 3 and len(tables[0].rows) == 2
    everything = dissect_command(checkpoint, ["all"], tmp_path / "all", data="scenes-32", n=20)
    assert [row[0] for row in everything[0].rows] == ["conv1_1", "conv2_1", "conv3_1", "conv3_2",
                                                      "conv4_1", "conv4_2"]


def test_dissect_a_generator_needs_and_uses_a_segmenter(tmp_path: Path) -> None:
    from advlab.gan.config import GANTrainConfig
    from advlab.gan.trainer import train

    gan = tmp_path / "gan"
    train(GANTrainConfig(loss="nonsaturating", data="scenes-32", width=4, iters=1, batch_size=16,
                         sample_every=0, checkpoint_every=0, device="cpu"), gan, tensorboard=False)
    with pytest.raises(ValueError, match="pass --segmenter"):
        dissect_command(gan, ["all"], tmp_path / "out")
    tables = dissect_command(gan, ["all"], tmp_path / "out", n=24,
                             segmenter=_segmenter(tmp_path / "seg"), top_units=2)
    report = json.loads((tmp_path / "out" / "dissection.json").read_text())
    assert report["kind"] == "generator" and [row[0] for row in tables[0].rows] == ["net.2", "net.5", "net.8"]
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        dissect_command(gan, ["conv9"], tmp_path / "bad", n=4, segmenter=tmp_path / "seg")


def test_cli_dissect_and_data_show_masks(tmp_path: Path) -> None:
    """`advlab dissect` and `advlab data show --masks` as a user types them."""
    from typer.testing import CliRunner

    from advlab.cli import app

    runner = CliRunner()
    checkpoint = _classifier(tmp_path / "clf")
    out = tmp_path / "dissect"
    result = runner.invoke(app, ["dissect", "--checkpoint", str(checkpoint), "--layer", "conv4_2",
                                 "--layer", "conv3_1", "--data", "scenes-32", "--samples", "24",
                                 "--out", str(out)], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "conv4_2" in result.output and (out / "dissection.json").exists()
    report = json.loads((out / "dissection.json").read_text())
    assert report["quantile"] == 0.01 and report["inputs"] == 24
    again = runner.invoke(app, ["dissect", "--checkpoint", str(checkpoint), "--layer", "conv4_2",
                                "--data", "scenes-32", "--out", str(out)])  # fmt: skip
    assert again.exit_code != 0 and "--force" in str(again.exception)  # never overwritten silently
    png = tmp_path / "masks.png"
    shown = runner.invoke(app, ["data", "show", "scenes-32", "--masks", "--samples", "4", "--out", str(png)],
                          catch_exceptions=False)  # fmt: skip
    assert shown.exit_code == 0 and png.stat().st_size > 5000
