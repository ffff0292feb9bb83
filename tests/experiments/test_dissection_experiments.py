"""The dissection experiments run their smallest configs end to end (tiny models trained for a
step or two through the real cached-training paths) and render tables and figures."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from advlab import models
from advlab.experiments import classifier_dissection, gan_dissection, gan_interventions
from advlab.experiments.gan_unit_selection import choose_layer
from advlab.report.gan_intervention_figures import (
    ConceptChange,
    Insertion,
    LayerSpecificity,
    RemovalCurve,
    removal_spill,
)
from advlab.zoo.context import RunContext
from advlab.zoo.scene_models import (
    SCENE_GAN,
    SEGMENTER_TRAINING,
    scene_gan_folder,
    trained_scene_gan,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def ctx(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    return RunContext(out_dir=out, cache_dir=tmp_path / "cache")


def test_classifier_dissection_smallest(ctx, monkeypatch, run_and_render):
    def untrained(ctx, data, width, training=None):
        torch.manual_seed(0)
        return models.create("scene-vgg", in_channels=3, num_classes=6, image_size=32, width=width).eval()

    monkeypatch.setattr(classifier_dissection, "trained_scene_classifier", untrained)
    config = dataclasses.replace(classifier_dissection.Config.demo(), width=2, images=60,
                                 ranking_images=30, removal_counts=(0, 1, 4), random_draws=2,
                                 example_units=2, top_images=2)
    result, rendered = run_and_render(classifier_dissection, config, ctx)
    assert [layer.layer for layer in result.layers] == ["conv1_1", "conv2_1", "conv3_1", "conv3_2",
                                                        "conv4_1", "conv4_2"]
    assert result.layers[-1].units == 16 and len(result.examples) == 2
    assert sum(result.layers[0].counts.values()) == result.layers[0].detectors
    uc = result.unit_classifier
    assert len(uc.peaks_with) + len(uc.peaks_without) == 60
    assert result.paper_iou_threshold == 0.04 and uc.paper_images_per_side == 1000
    removal = result.removal.classes["forest"]
    assert len(removal.top) == 3 and removal.top[0] == removal.random[0]
    assert [table.title for table in rendered.tables] == [
        "Units per concept category and layer (Fig. 1e)", "Example units of the last layer",
        "Removing a class's most important units vs random units (Fig. 2)"]
    assert [figure.path for figure in rendered.figures] == [
        "units_per_layer.png", "last_layer_concepts.png", "example_units.png",
        "unit_classifier.png", "unit_removal.png"]
    assert len(rendered.tables[0].rows) == 6 and len(rendered.tables[2].rows) == 6  # classes


def _tiny(module):
    return dict(gan=SCENE_GAN.replace(width=4, iters=2, batch_size=16, checkpoint_every=0),
                segmenter_width=4, segmenter_images=32, quality_images=40,
                segmenter_training=dataclasses.replace(SEGMENTER_TRAINING, epochs=1))


def test_gan_dissection_smallest(ctx, run_and_render):
    config = dataclasses.replace(gan_dissection.Config.quick(), **_tiny(gan_dissection), samples=40,
                                 example_units=2, top_images=2, grid=4, classifier_samples=50,
                                 per_side=20)
    result, rendered = run_and_render(gan_dissection, config, ctx)
    assert [layer.layer for layer in result.layers] == ["net.2", "net.5", "net.8"]  # 4, 8, 16 px
    assert result.layers[0].shape == [16, 4, 4]
    assert 0.0 <= result.segmenter.pixel_accuracy <= 1.0 and result.segmenter.images == 40
    assert abs(sum(c.generated for c in result.concepts) - 1.0) < 1e-5
    uc = result.unit_classifier
    assert len(uc.peaks_with) == min(20, uc.images_with)
    assert len(uc.peaks_without) == min(20, 50 - uc.images_with)
    assert [table.title for table in rendered.tables] == [
        "The segmenter on held-out real scenes",
        "Generator units per concept category and layer (Fig. 3c, d)",
        "Concepts in generated and real scenes (% of pixels)"]
    assert {"samples_segmented.png", "units_per_layer.png", "layer_concepts.png",
            "unit_classifier.png"} <= {figure.path for figure in rendered.figures}
    # the models are cached: a second run trains nothing and gives the same numbers
    again = gan_dissection.run(config, ctx)
    assert again.layers == result.layers


def test_gan_interventions_smallest(ctx, run_and_render):
    config = dataclasses.replace(gan_interventions.Config.quick(), **_tiny(gan_interventions),
                                 dissect_samples=30, samples=10, removal_counts=(0, 2, 20),
                                 random_draws=2, door_units=3, insertion_samples=4, examples=2,
                                 layer="net.5")
    result, rendered = run_and_render(gan_interventions, config, ctx)
    # every layer measured (20 units asked: all of each tiny layer), net.5 edited as asked
    assert [(s.layer, s.units, s.count) for s in result.layers] == [
        ("net.2", 16, 16), ("net.5", 8, 8), ("net.8", 4, 4)]
    assert all(0 <= s.removed_fraction <= 1 or s.before["tree"] == 0 for s in result.layers)
    assert result.layer == "net.5" and rendered.tables[0].rows[1][0] == "net.5 (chosen)"
    assert result.removal.counts == [0, 2]  # counts above the layer's 8 units are dropped
    tree = result.removal.others["tree"]
    assert tree.random_min <= tree.after_random <= tree.random_max
    assert result.claim.units == 2 and result.claim.paper == 0.5
    assert result.insertion.grid == [8, 8] and len(result.insertion.units) == 3
    positions = sum(v.positions for v in result.insertion.by_context.values())
    assert positions == 4 * 64
    assert [figure.path for figure in rendered.figures] == [
        "tree_removal.png", "tree_removal_examples.png", "door_insertion_examples.png",
        "door_context.png"]
    assert len(rendered.tables) == 4 and len(rendered.tables[1].rows) == 2  # one row per count


def _specificity(layer: str, removed: float, spill: float) -> LayerSpecificity:
    return LayerSpecificity(layer, 64, 20, {}, {}, removed, spill, "grass")


def test_layer_rule_prefers_least_spill_among_layers_removing_half() -> None:
    layers = [_specificity("net.2", 0.4, 0.5), _specificity("net.5", 0.9, 3.0),
              _specificity("net.8", 0.6, 1.2)]
    assert choose_layer(layers) == "net.8"  # net.2 spills least but removes < half
    assert choose_layer([_specificity("a", 0.1, 2.0), _specificity("b", 0.2, 1.0)]) == "b"
    with pytest.raises(ValueError, match="no candidate"):
        choose_layer([])


def test_door_caption_says_when_the_layer_has_no_door_unit() -> None:
    """Below dissection's labelling IoU (0.04) no chosen unit is a door unit: the caption of
    the door table says so with the measured IoU; above it, it adds nothing."""
    from advlab.report.gan_intervention_figures import CONTEXTS, ContextEffect, _context_table

    def caption(iou: list[float]) -> str:
        by_context = {c: ContextEffect(0.001, 5) for c in CONTEXTS}
        insertion = Insertion("door", [3, 7], iou, [2.0, 2.0], [4, 4], 10, by_context, 0.0)
        return _context_table("net.2", insertion).caption

    assert "door IoU among these units is 0.012, under the 0.04" in caption([0.012, 0.004])
    assert "net.2 has no door unit" in caption([0.012, 0.004])
    assert "no door unit" not in caption([0.09, 0.004])


def test_removal_spill_is_the_largest_other_change_over_the_tree_change() -> None:
    others = {"tree": ConceptChange(0.06, 0.01, 0.05), "grass": ConceptChange(0.26, 0.01, 0.2),
              "sky": ConceptChange(0.40, 0.45, 0.4)}
    curve = RemovalCurve("tree", [0, 20], [0.06, 0.01], [0.06, 0.05], [0, 0], [], [], others)
    spill, other = removal_spill(curve)
    assert other == "grass" and abs(spill - 0.25 / 0.05) < 1e-9


def test_cached_gan_resumes_an_interrupted_run(ctx):
    from advlab.gan.state import read_gan_checkpoint
    from advlab.gan.trainer import train

    cfg = SCENE_GAN.replace(width=4, iters=4, batch_size=16, checkpoint_every=2, device="cpu")
    folder = scene_gan_folder(ctx, cfg)
    train(cfg.replace(iters=2), folder, tensorboard=False)  # as if stopped at step 2 of 4
    gan = trained_scene_gan(ctx, cfg)
    assert gan.folder == str(folder) and gan.config.iters == 4
    assert read_gan_checkpoint(folder / "checkpoint.safetensors")[1]["step"] == 4
    assert len((folder / "metrics.csv").read_text().splitlines()) == 1 + 4  # header + 4 steps


def test_classifier_dissection_paper_path_on_photographs(ctx, tmp_path, monkeypatch, run_and_render):
    """The paper-scale path (a torchvision classifier on an image folder, a torchvision
    segmenter's VOC labels) with untrained weights standing in for the pretrained ones."""
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for i in range(3):
            pixels = (torch.rand(32, 32, 3) * 255).byte().numpy()
            Image.fromarray(pixels).save(tmp_path / "photos" / label / f"{i}.png")
    create, create_segmenter = models.create, models.create_segmenter
    monkeypatch.setattr(models, "create", lambda name, pretrained=False, **kw: create(name, **kw))
    monkeypatch.setattr(models, "create_segmenter",
                        lambda name, pretrained=False, **kw: create_segmenter(name, **kw))
    config = dataclasses.replace(classifier_dissection.Config.paper(), model="torchvision:alexnet",
                                 data=f"folder:{tmp_path / 'photos'}@64", images=6,
                                 segmenter="torchvision:lraspp_mobilenet_v3_large",
                                 classifier_concept="auto", example_units=2, top_images=2)
    result, _ = run_and_render(classifier_dissection, config, ctx)
    assert [layer.layer for layer in result.layers] == ["1.features.0", "1.features.3",
                                                           "1.features.6", "1.features.8",
                                                           "1.features.10"]
    assert result.removal is None and len(result.layers[0].counts) == 21  # the VOC classes
