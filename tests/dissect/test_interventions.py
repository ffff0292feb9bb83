"""Removal curves, insertion by context and per-class accuracy under ablation, against direct
computations on toy models whose units have known effects."""

from __future__ import annotations

import torch
from torch import nn

from advlab.dissect import (
    ablate,
    ablated_class_scores,
    concept_fractions,
    insert,
    insertion_effect,
    per_class_accuracy,
    removal_curve,
    unit_importance,
)


class _ToyGenerator(nn.Module):
    """z (N, 4) -> a (N, 6, 4, 4) feature map ("features") -> image (N, 3, 8, 8): channel 0
    is the sum of units 0..2 ("tree" units), upsampled x2; channels 1, 2 copy units 3, 4."""

    def __init__(self) -> None:
        super().__init__()
        self.project = nn.Linear(4, 6 * 16)
        self.features = nn.ReLU()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a = self.features(self.project(z).view(-1, 6, 4, 4))
        image = torch.stack([a[:, :3].sum(1), a[:, 3], a[:, 4]], 1)  # (N, 3, 4, 4)
        return torch.nn.functional.interpolate(image, scale_factor=2.0)  # (N, 3, 8, 8)


def _segment(images: torch.Tensor) -> torch.Tensor:
    """concept 1 ("tree") where channel 0 > 0.5, concept 2 where channel 1 > 1, else 0."""
    labels = torch.zeros(images.shape[0], *images.shape[2:], dtype=torch.long)
    labels[images[:, 0] > 0.5] = 1
    labels[images[:, 1] > 1.0] = 2
    return labels


def _identity(images: torch.Tensor) -> torch.Tensor:
    return images


def test_removal_curve_counts_concept_pixels_per_number_removed() -> None:
    torch.manual_seed(0)
    G = _ToyGenerator().eval()
    z = torch.randn(50, 4)
    orders = torch.tensor([[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]])
    curves = removal_curve(G, "features", orders, [0, 1, 3, 6], z, _segment, _identity, 3,
                           batch_size=16)  # (R, counts, C)
    assert curves.shape == (2, 4, 3) and torch.allclose(curves.sum(2), torch.ones(2, 4))
    curve = curves[..., 1]  # the "tree" concept
    base = concept_fractions(G, z, _segment, _identity, 3)[:, 1].mean()
    assert torch.allclose(curve[:, 0], base.expand(2))
    with ablate(G, "features", [0]):
        one = concept_fractions(G, z, _segment, _identity, 3)[:, 1].mean()
    assert torch.isclose(curve[0, 1], one)
    assert curve[0, 2] == 0  # the three tree units removed: no tree pixel left
    assert curve[1, 1] == base  # unit 5 draws nothing
    assert curve[1, 3] == 0


def test_insertion_effect_per_position_and_by_context() -> None:
    torch.manual_seed(1)
    G = _ToyGenerator().eval()
    z = torch.randn(12, 4)
    units, values = torch.tensor([3]), torch.tensor([5.0])
    effect = insertion_effect(G, "features", units, values, z, _segment, _identity, 2, 3,
                              batch_size=5)
    assert effect.grid == (4, 4) and effect.added.shape == (12, 16)
    base = concept_fractions(G, z, _segment, _identity, 3)[:, 2]
    where = torch.zeros(4, 4, dtype=torch.bool)
    where[2, 1] = True
    with insert(G, "features", units, values, where):
        edited = concept_fractions(G, z, _segment, _identity, 3)[:, 2]
    assert torch.allclose(effect.added[:, 2 * 4 + 1], edited - base)
    labels = _segment(G(z))  # context: the label at the centre pixel (1, 1) of each 2x2 cell
    assert torch.equal(effect.context[:, 2 * 4 + 1], labels[:, 2 * 2 + 1, 1 * 2 + 1])
    means, counts = effect.by_context(3)
    for c in range(3):
        chosen = effect.context == c
        assert counts[c] == chosen.sum()
        if chosen.any():
            assert torch.isclose(means[c], effect.added[chosen].mean(), atol=1e-6)


def test_per_class_accuracy_and_unit_importance() -> None:
    torch.manual_seed(2)
    x = torch.randn(300, 3)
    y = x.argmax(1)
    net = nn.Sequential(nn.Linear(3, 3), nn.Identity())
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(3))
        net[0].bias.zero_()
    recall, balanced = per_class_accuracy(net, x, y, 3, batch_size=64)
    assert torch.allclose(recall, torch.ones(3)) and torch.allclose(balanced, torch.ones(3))
    recall, balanced = per_class_accuracy(net, x, y, 3, layer="1", removed=[0])
    predicted = x.clone()
    predicted[:, 0] = 0
    predicted = predicted.argmax(1)
    for k in range(3):
        true_k, pred_k = y == k, predicted == k
        expected_recall = (true_k & pred_k).sum() / true_k.sum()
        tnr = (~true_k & ~pred_k).sum() / (~true_k).sum()
        assert torch.isclose(recall[k], expected_recall.float())
        assert torch.isclose(balanced[k], ((expected_recall + tnr) / 2).float())
    ranking = unit_importance(net, "1", 3, x, y, 3)  # (U, K): most important first
    assert ranking.shape == (3, 3)
    assert torch.equal(ranking[0], torch.arange(3))  # unit k matters most for class k


def test_sequential_shortcut_equals_rerunning_the_whole_model() -> None:
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 4)).eval()

    class Wrapped(nn.Module):  # not an nn.Sequential: every ablation reruns the model
        def __init__(self) -> None:
            super().__init__()
            self.inner = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)

    x, y = torch.randn(120, 5), torch.randint(0, 4, (120,))
    sets = [torch.tensor([0]), torch.tensor([1, 2, 3]), torch.arange(8)]
    fast = ablated_class_scores(net, "1", sets, x, y, 4, batch_size=50)
    slow = ablated_class_scores(Wrapped(), "inner.1", sets, x, y, 4, batch_size=50)
    for name in ("recall", "balanced", "log_prob"):
        assert torch.allclose(getattr(fast, name), getattr(slow, name), atol=1e-6)
    # every hidden unit removed: the logits are the last bias, whatever the input
    with torch.no_grad():
        expected = net[2].bias.log_softmax(0)
    assert torch.allclose(fast.log_prob[2], expected, atol=1e-5)
    with torch.no_grad():  # one unit removed: the true class's mean log-probability per class
        hidden = net[1](net[0](x))
        hidden[:, 0] = 0
        true_log_prob = net[2](hidden).log_softmax(1).gather(1, y[:, None])[:, 0]
    for k in range(4):
        assert torch.isclose(fast.log_prob[0, k], true_log_prob[y == k].mean(), atol=1e-5)
