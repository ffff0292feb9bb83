"""The small classifiers of Gopalakrishnan et al. (2018) and a linear SVM, by registry name.

From the authors' code (soorya19/sparsity-based-defenses): a fully connected network with one
hidden layer of 10 ReLU units for binary MNIST ("two_layer_nn"), the four-layer CNN of
Nielsen's "Neural Networks and Deep Learning", ch. 6 ("four_layer_cnn"), and a linear SVM on
images scaled to [-1, 1] (their scikit-learn LinearSVC; `advlab.train.svm.fit_linear_svm`
trains ours the same way). With two classes the networks end in ONE score s, as the authors'
sigmoid output does, read out as the logits (-s/2, s/2): cross-entropy on those is the
logistic loss on s, and Theorem 2's last layer is a single row.
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.models.classifiers import _flat_features
from advlab.models.layers import Normalize


class TwoClassLogits(nn.Module):
    """(N, 1) score s -> (N, 2) logits (-s/2, s/2): class 1 iff s > 0, softmax = sigmoid(s)."""

    def forward(self, score: torch.Tensor) -> torch.Tensor:
        return torch.cat([-0.5 * score, 0.5 * score], dim=1)


def _head(features: int, num_classes: int) -> list[nn.Module]:
    """The output layer: one score for two classes (read out by TwoClassLogits), else K logits."""
    if num_classes == 2:
        return [nn.Linear(features, 1), TwoClassLogits()]
    return [nn.Linear(features, num_classes)]


def sparsity_mlp(
    in_channels: int = 1, num_classes: int = 2, image_size: int = 28, hidden: int = 10
) -> nn.Sequential:
    """Gopalakrishnan et al. (2018)'s binary classifier: fc `hidden` (10) ReLU, then one score
    (two classes) or `num_classes` logits. No normalisation (inputs are [0, 1] pixels)."""
    n = in_channels * image_size * image_size
    return nn.Sequential(nn.Flatten(), nn.Linear(n, hidden), nn.ReLU(), *_head(hidden, num_classes))


def sparsity_cnn(
    in_channels: int = 1, num_classes: int = 10, image_size: int = 28, dropout: float = 0.5
) -> nn.Sequential:
    """The four-layer CNN of Gopalakrishnan et al. (2018) (Nielsen 2015, ch. 6): conv 20@5x5
    'same', ReLU, max-pool 2; conv 40@5x5 'valid', ReLU, max-pool 2; fc 1000, fc 1000 (ReLU,
    dropout); fc `num_classes`. No normalisation, as in the authors' current code."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 20, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(20, 40, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    n = _flat_features(features, in_channels, image_size)
    return nn.Sequential(
        *features,
        nn.Linear(n, 1000),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(1000, 1000),
        nn.ReLU(),
        nn.Dropout(dropout),
        *_head(1000, num_classes),
    )


def linear_svm(in_channels: int = 1, num_classes: int = 2, image_size: int = 28) -> nn.Sequential:
    """A linear classifier on images scaled to [-1, 1] (the authors' LinearSVC set-up):
    Normalize(0.5, 0.5), flatten, one score w.x + b (two classes) or one per class (one
    against the rest). Train it with `advlab.train.svm.fit_linear_svm` (hinge loss, C = 1)."""
    n = in_channels * image_size * image_size
    return nn.Sequential(
        Normalize((0.5,) * in_channels, (0.5,) * in_channels), nn.Flatten(), *_head(n, num_classes)
    )
