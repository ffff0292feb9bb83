"""Linear SVMs trained by scikit-learn's liblinear, as in Gopalakrishnan et al.'s code.

The authors (soorya19/sparsity-based-defenses, linear_svm/) fit
``sklearn.svm.LinearSVC(loss="hinge")`` (C = 1) to MNIST digit pairs scaled to [-1, 1]; the
`linear-svm` registry model holds the same affine function as torch layers, so attacks and
the sparsifying front end treat it like any classifier.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from advlab.models.layers import sequential_layers


def fit_linear_svm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, C: float = 1.0, seed: int = 0,
                   max_iter: int = 5000) -> nn.Module:
    """Fit the last `nn.Linear` of the sequential `model` as a hinge-loss linear SVM (in place).

    The layers before it (a front end, the [-1, 1] scaling, flatten) are applied to x
    (N, C, H, W) first; labels y (N,) in 0..K-1. Two classes: one score w.x + b, positive for
    class 1 (sklearn's convention, read out by `TwoClassLogits`); K > 2: one against the rest.
    Returns `model` in eval mode."""
    from sklearn.svm import LinearSVC

    layers = sequential_layers(model)
    linear_at = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Linear)]
    if not linear_at:
        raise ValueError("fit_linear_svm needs a sequential model with an nn.Linear layer (e.g. 'linear-svm')")
    head = layers[linear_at[-1]]
    assert isinstance(head, nn.Linear)
    with torch.no_grad():
        features = nn.Sequential(*layers[: linear_at[-1]]).eval()(x).flatten(1)  # (N, D)
    classes = np.unique(y.cpu().numpy())
    if head.out_features == 1 and len(classes) > 2:
        raise ValueError(f"the model has one score (two classes) but y has {len(classes)} classes")
    svm = LinearSVC(loss="hinge", C=C, random_state=seed, max_iter=max_iter)
    svm.fit(features.cpu().double().numpy(), y.cpu().numpy())
    weight = torch.as_tensor(svm.coef_, dtype=head.weight.dtype)  # (1, D) or (K, D)
    bias = torch.as_tensor(svm.intercept_, dtype=head.bias.dtype)
    if weight.shape != head.weight.shape:
        raise ValueError(f"the SVM has weights {tuple(weight.shape)} but the model's last layer is "
                         f"{tuple(head.weight.shape)}; train on all of its classes")  # fmt: skip
    with torch.no_grad():
        head.weight.copy_(weight)
        head.bias.copy_(bias)
    return model.eval()
