"""Streaming statistics against computations on all values at once: torch.quantile,
torch.topk and brute-force intersection-over-union."""

from __future__ import annotations

import itertools

import pytest
import torch

from advlab.dissect import ConceptOverlap, HistogramQuantile, RunningTopK


def _run(est: HistogramQuantile, batches: list[torch.Tensor]) -> torch.Tensor:
    while not est.done:
        for batch in batches:
            est.add(batch)
        est.finish_pass()
    return est.result()


@pytest.mark.parametrize("q", [0.99, 0.995, 0.5, 0.0, 1.0])
@pytest.mark.parametrize("kind", ["relu-heavy-tail", "ties", "normal"])
def test_histogram_quantile_matches_torch_quantile(q: float, kind: str) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20_000, 5, generator=g)
    if kind == "relu-heavy-tail":
        x = x.relu() ** 3 * 10  # half zeros, long tail: like a ReLU unit
    elif kind == "ties":
        x = (x * 3).round()  # few distinct values
    est = HistogramQuantile(5, q, bins=256)
    result = _run(est, list(x.split(1234)))  # uneven batches
    expected = torch.quantile(x, q, dim=0)
    # the top quantiles of dissection are pinned down exactly within 3 counting passes; else
    # the estimate is within the final bin width of the quantile
    assert est.exact.all() or q < 0.99
    exact = est.exact
    assert torch.allclose(result[exact], expected[exact], rtol=1e-5, atol=1e-5)
    assert ((result - expected).abs() <= est.resolution + 1e-5 * (1 + expected.abs())).all()


def test_histogram_quantile_on_feature_maps_and_resolution_bound() -> None:
    g = torch.Generator().manual_seed(2)
    maps = torch.rand(40, 3, 6, 6, generator=g) ** 4  # (N, U, H, W): every position a sample
    values = maps.permute(1, 0, 2, 3).reshape(3, -1)  # (U, N*H*W)
    est = HistogramQuantile(3, 0.99, bins=4, passes=1)  # too coarse to be exact
    result = _run(est, list(maps.split(7)))
    expected = torch.quantile(values, 0.99, dim=1)
    assert ((result - expected).abs() <= est.resolution + 1e-6).all()
    assert torch.allclose(_run(HistogramQuantile(3, 0.99), list(maps.split(7))), expected,
                          atol=1e-6)


def test_histogram_quantile_refuses_bad_streams() -> None:
    est = HistogramQuantile(2, 0.99)
    with pytest.raises(ValueError, match=r"values must be \(S, 2\)"):
        est.add(torch.rand(5, 3))
    with pytest.raises(ValueError, match="stream is empty"):
        est.finish_pass()
    est.add(torch.rand(10, 2))
    est.finish_pass()
    est.add(torch.rand(9, 2))
    with pytest.raises(ValueError, match="must repeat exactly"):
        est.finish_pass()
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\]"):
        HistogramQuantile(2, 1.5)


def test_running_topk_matches_topk_on_everything() -> None:
    g = torch.Generator().manual_seed(3)
    values = torch.rand(103, 4, generator=g)
    top = RunningTopK(4, k=6)
    for batch in values.split(10):
        top.add(batch)
    expected = values.t().topk(6, dim=1)
    assert torch.equal(top.values, expected.values)
    assert torch.equal(top.indices, expected.indices)


def _brute_force_iou(indicator: torch.Tensor, labels: torch.Tensor, concepts: int) -> torch.Tensor:
    n, units, h, w = indicator.shape
    iou = torch.zeros(units, concepts)
    for u, c in itertools.product(range(units), range(concepts)):
        inter = union = 0
        for i, y, x in itertools.product(range(n), range(h), range(w)):
            a, b = bool(indicator[i, u, y, x]), int(labels[i, y, x]) == c
            inter += a and b
            union += a or b
        iou[u, c] = inter / union if union else 0.0
    return iou


def test_concept_overlap_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(4)
    indicator = torch.rand(5, 3, 4, 6, generator=g) > 0.7  # (N, U, H, W)
    labels = torch.randint(-1, 4, (5, 4, 6), generator=g)  # -1: unlabelled pixels
    overlap = ConceptOverlap(3, 4)
    overlap.add(indicator[:2], labels[:2])
    overlap.add(indicator[2:], labels[2:])
    assert torch.allclose(overlap.iou(), _brute_force_iou(indicator, labels, 4), atol=1e-6)
    assert overlap.unit_area.tolist() == indicator.sum(dim=(0, 2, 3)).double().tolist()
    assert overlap.images == 5
    with pytest.raises(ValueError, match=r"indicator must be \(N, 3, H, W\)"):
        overlap.add(indicator[:, :2], labels)
