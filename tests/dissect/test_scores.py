"""The dissection against a direct computation on all activations at once, planted detectors
found, a unit as a classifier, and the model left untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advlab.dissect import (
    MaskLabels,
    Probe,
    SegmentedImages,
    dissect,
    gaussian_kde,
    peak_activations,
)


def _conv_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 5, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(5, 4, 3, stride=2, padding=1))


def test_dissect_matches_direct_computation() -> None:
    net = _conv_net().eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(30, 3, 12, 12, generator=g)
    labels = torch.randint(0, 3, (30, 12, 12), generator=g)
    layers = dissect(Probe(net, ("1", "2"), x, batch_size=7), MaskLabels(labels),
                     ["a", "b", "c"], quantile=0.05, top_k=4)
    for name, module_count in (("1", 2), ("2", 3)):
        acts = net[:module_count](x)  # (N, U, h, w)
        up = F.interpolate(acts, size=(12, 12), mode="bilinear", align_corners=False)
        values = up.permute(1, 0, 2, 3).reshape(up.shape[1], -1)
        thresholds = torch.quantile(values, 0.95, dim=1)
        got = layers[name]
        assert torch.allclose(got.thresholds, thresholds, rtol=1e-5, atol=1e-6)
        # Pixels within a float-rounding band of the threshold may fall either side (the probe
        # runs batches of 7, this reference all 30 at once: other conv kernels), so the IoU must
        # lie between the values with them all out and all in.
        band = 1e-5 * (1 + got.thresholds.abs())[None, :, None, None]
        surely = up > got.thresholds[None, :, None, None] + band  # (N, U, H, W)
        maybe = up > got.thresholds[None, :, None, None] - band
        for u in range(up.shape[1]):
            for c in range(3):
                is_c = labels == c
                low = (surely[:, u] & is_c).sum() / (maybe[:, u] | is_c).sum()
                high = (maybe[:, u] & is_c).sum() / (surely[:, u] | is_c).sum()
                assert float(low) - 1e-6 <= float(got.iou[u, c]) <= float(high) + 1e-6
        peaks = acts.flatten(2).amax(2)  # (N, U)
        assert torch.equal(got.top_indices, peaks.t().topk(4, dim=1).indices)
        assert got.shape == tuple(acts.shape[1:])


def _planted() -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose channel 0 is 1 exactly on concept 2 (a random rectangle), noise else."""
    g = torch.Generator().manual_seed(1)
    n, s = 40, 16
    labels = torch.randint(0, 2, (n, s, s), generator=g)
    y0, x0 = torch.randint(0, 8, (2, n), generator=g)
    rows, cols = torch.arange(s)[None, :, None], torch.arange(s)[None, None, :]
    box = ((rows >= y0[:, None, None]) & (rows < y0[:, None, None] + 6)
           & (cols >= x0[:, None, None]) & (cols < x0[:, None, None] + 7))
    labels[box] = 2
    x = torch.rand(n, 3, s, s, generator=g) * 0.3
    x[:, 0] = box.float()
    return x, labels


def test_planted_detector_is_found_and_ranked_first() -> None:
    x, labels = _planted()
    detector = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.AvgPool2d(2))  # 16 -> 8
    with torch.no_grad():
        detector[0].weight.copy_(torch.eye(3)[:, :, None, None])  # unit u copies channel u
    result = dissect(Probe(detector, ("1",), x), MaskLabels(labels), ["sky", "tree", "door"],
                     quantile=0.1)["1"]
    best_iou, best = result.best()
    assert int(best[0]) == 2 and float(best_iou[0]) > 0.5  # unit 0 is a door detector
    assert float(best_iou[1:].max()) < 0.3  # noise units are not
    assert result.ranked_units("door")[0] == 0
    assert result.detectors(0.4) == [(0, "door", pytest.approx(float(best_iou[0])))]
    assert result.concept_counts(0.4) == {"sky": 0, "tree": 0, "door": 1}
    with pytest.raises(ValueError, match="unknown concept 'window'; valid concepts: sky, tree"):
        result.ranked_units("window")


def test_generator_outputs_are_segmented_and_the_model_is_untouched() -> None:
    torch.manual_seed(2)
    generator = nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Unflatten(1, (3, 8, 8)),
                              nn.BatchNorm2d(3), nn.Conv2d(3, 2, 3, padding=1), nn.Tanh())
    generator.train()  # batch norm in training mode: dissection must not update its statistics
    state = {k: v.clone() for k, v in generator.state_dict().items()}
    z = torch.randn(20, 4)
    seen: list[torch.Tensor] = []

    def segmenter(images: torch.Tensor) -> torch.Tensor:
        seen.append(images)
        return (images[:, 0] > 0.5).long()  # (N, H, W): concept 1 where channel 0 is bright

    labels = SegmentedImages(segmenter, of="outputs", to_images=lambda out: (out + 1) / 2)
    layers = dissect(Probe(generator, ("3",), z, batch_size=8), labels, ["dark", "bright"])
    assert layers["3"].iou.shape == (2, 2) and seen and seen[0].min() >= 0
    # unit 0 of conv "3" is the pre-tanh channel 0 that defines "bright": a perfect detector
    # up to the top-1% threshold being stricter than 0.5
    assert int(layers["3"].best()[1][0]) == 1
    assert all(torch.equal(v, state[k]) for k, v in generator.state_dict().items())
    assert generator.training


def test_peak_activations_and_kde_against_scipy() -> None:
    net = _conv_net().eval()
    x = torch.rand(9, 3, 12, 12)
    peaks = peak_activations(Probe(net, (), x, batch_size=4), "2", 3)
    assert torch.allclose(peaks, net(x)[:, 3].flatten(1).amax(1))
    with pytest.raises(ValueError, match="has 4 units; got unit 7"):
        peak_activations(Probe(net, (), x), "2", 7)
    from scipy.stats import gaussian_kde as scipy_kde

    samples = torch.randn(200, generator=torch.Generator().manual_seed(5)) * 2 + 1
    points = torch.linspace(-6, 8, 50)
    ours = gaussian_kde(samples, points)
    reference = scipy_kde(samples.numpy().astype(np.float64))(points.numpy())
    assert np.allclose(ours.numpy(), reference, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="at least 2 samples"):
        gaussian_kde(torch.ones(1), points)


def test_dissect_refuses_vector_layers_and_bad_quantiles() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    x = torch.rand(4, 3, 2, 2)
    with pytest.raises(ValueError, match=r"needs \(N, U, h, w\) feature maps"):
        dissect(Probe(net, ("1",), x), MaskLabels(torch.zeros(4, 2, 2)), ["a"])
    with pytest.raises(ValueError, match=r"quantile must be in \(0, 1\)"):
        dissect(Probe(net, ("1",), x), MaskLabels(torch.zeros(4, 2, 2)), ["a"], quantile=1.0)


def test_dissect_at_a_lower_mask_resolution() -> None:
    net = _conv_net().eval()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(12, 3, 12, 12, generator=g)
    labels = torch.randint(0, 3, (12, 12, 12), generator=g)
    got = dissect(Probe(net, ("2",), x), MaskLabels(labels), ["a", "b", "c"], quantile=0.1,
                  mask_size=6)["2"]
    up = F.interpolate(net(x), size=(6, 6), mode="bilinear", align_corners=False)  # (N, U, 6, 6)
    small = labels[:, ::2, ::2]  # nearest-neighbour sampling of the labels
    thresholds = torch.quantile(up.transpose(0, 1).reshape(up.shape[1], -1), 0.9, dim=1)
    assert torch.allclose(got.thresholds, thresholds, atol=1e-5)
    above = up > thresholds[None, :, None, None]
    for u in range(up.shape[1]):
        inter = (above[:, u] & (small == 1)).sum()
        union = (above[:, u] | (small == 1)).sum()
        assert abs(float(got.iou[u, 1]) - float(inter / union)) < 1e-6
