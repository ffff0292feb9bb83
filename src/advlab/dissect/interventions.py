"""What removing or activating units does: to a classifier's per-class accuracy, and to the
concepts a generator draws.

Bau et al. 2020 (PNAS, arXiv:2009.05041) with the protocols of the authors' code
(davidbau/dissect experiment/intervention_experiment.py, generator_int_experiment.py):
- classifier (Fig. 2): a unit's importance to class k is the class's balanced accuracy
  (binary k-vs-rest: (recall + true-negative rate) / 2) after removing that unit alone,
  measured on training images; removing the n most important units of k is then tested on
  held-out images, against removing n random units;
- generator, removal (Fig. 4a, b): the units of a layer ranked by IoU with "tree" are removed
  in growing sets (0..30) and the fraction of tree pixels in the generated images, labelled
  by a segmenter, is measured against removing as many random units;
- generator, insertion (Fig. 4c, d): the 20 units with the highest IoU with "door" are set to
  their 99.5th percentile at one position of the layer, and the door pixels added are
  averaged by the concept the segmenter saw at that position in the unedited image.

Everything is batched over images; loops run over unit counts, positions or units, never
over samples. Models are evaluated through `inference_view` and never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from advlab.attacks.base import inference_view
from advlab.dissect.hooks import ablate, ablation_rule, insert, layer_shapes
from advlab.dissect.scores import Segmenter

ToImages = Callable[[Tensor], Tensor]


@torch.no_grad()
def concept_fractions(generator: nn.Module, latents: Tensor, segmenter: Segmenter,
                      to_images: ToImages, concepts: int, batch_size: int = 100) -> Tensor:
    """(N, C) fraction of each generated image's pixels that the segmenter labels with each
    of the C concepts (whatever edit contexts are active on `generator`)."""
    parts = []
    for start in range(0, latents.shape[0], batch_size):
        images = to_images(generator(latents[start:start + batch_size]))
        labels = segmenter(images).long()  # (n, H, W)
        onehot = torch.nn.functional.one_hot(labels.clamp_min(0), concepts).float()
        onehot = onehot * (labels >= 0)[..., None].float()  # -1: no concept
        parts.append(onehot.flatten(1, 2).mean(1).cpu())  # (n, C)
    return torch.cat(parts)


@torch.no_grad()
def removal_curve(generator: nn.Module, layer: str, orders: Tensor, counts: Sequence[int],
                  latents: Tensor, segmenter: Segmenter, to_images: ToImages, concepts: int,
                  batch_size: int = 100) -> Tensor:
    """Mean fraction of each concept's pixels in generated images with the first n units of
    each order removed from `layer`, for n in `counts`: orders (R, U) of unit indices (a
    ranking by IoU, or random permutations) -> (R, len(counts), C) (Bau et al. 2020, Fig.
    4a: the tree column against the number of tree units removed)."""
    net = inference_view(generator)
    curve = torch.zeros(orders.shape[0], len(counts), concepts)
    for r in range(orders.shape[0]):
        for j, n in enumerate(counts):
            with ablate(net, layer, orders[r, :n]):
                curve[r, j] = concept_fractions(net, latents, segmenter, to_images, concepts,
                                                batch_size).mean(0)
    return curve


@dataclass
class InsertionEffect:
    """Units inserted at each position of a layer's (h, w) grid, one position at a time:
    added (N, h*w) change in the fraction of `concept` pixels per image and position, and
    context (N, h*w) the concept the segmenter saw at the centre of that position's image
    cell in the unedited image."""

    added: Tensor
    context: Tensor
    grid: tuple[int, int]

    def by_context(self, concepts: int, min_count: int = 1) -> tuple[Tensor, Tensor]:
        """(mean added fraction (C,), number of (image, position) pairs (C,)) per context
        concept; NaN where fewer than `min_count` pairs (Bau et al. 2020, Fig. 4d)."""
        flat = self.context.flatten()
        valid = flat >= 0
        counts = torch.bincount(flat[valid], minlength=concepts).float()
        sums = torch.bincount(flat[valid], weights=self.added.flatten()[valid].double(),
                              minlength=concepts).float()
        means = torch.where(counts >= min_count, sums / counts.clamp_min(1), torch.nan)
        return means, counts


@torch.no_grad()
def insertion_effect(generator: nn.Module, layer: str, units: Tensor, values: Tensor,
                     latents: Tensor, segmenter: Segmenter, to_images: ToImages, concept: int,
                     concepts: int, batch_size: int = 100) -> InsertionEffect:
    """Insert `units` of `layer` at `values` (U,) at every position of its grid in turn and
    measure the `concept` pixels added, with the context of each position (Bau et al.
    2020, Fig. 4d; generator_int_experiment.py: one position of layer4 at a time, context =
    the label at the centre of the position's cell)."""
    net = inference_view(generator)
    _, h, w = layer_shapes(net, [layer], latents[:1])[layer]
    base = concept_fractions(net, latents, segmenter, to_images, concepts, batch_size)
    labels = torch.cat([segmenter(to_images(net(latents[i:i + batch_size]))).long().cpu()
                        for i in range(0, latents.shape[0], batch_size)])  # (N, H, W)
    height, width = labels.shape[-2:]
    rows = (torch.arange(h) * height // h + height // (2 * h))  # centre pixel of each cell
    cols = (torch.arange(w) * width // w + width // (2 * w))
    context = labels[:, rows][:, :, cols].flatten(1)  # (N, h*w)
    added = torch.zeros(latents.shape[0], h * w)
    for position in range(h * w):
        where = torch.zeros(h, w, dtype=torch.bool)
        where[position // w, position % w] = True
        with insert(net, layer, units, values, where):
            edited = concept_fractions(net, latents, segmenter, to_images, concepts, batch_size)
        added[:, position] = edited[:, concept] - base[:, concept]
    return InsertionEffect(added, context, (h, w))


# ------------------------------------------------------------------------- classifiers


def _class_scores(predicted: Tensor, truth: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """(recall (K,), balanced accuracy (K,)) of predictions (N,) against labels (N,)."""
    true_counts = torch.bincount(truth, minlength=num_classes).float()
    predicted_counts = torch.bincount(predicted, minlength=num_classes).float()
    correct = torch.bincount(truth[predicted == truth], minlength=num_classes).float()
    negatives = truth.numel() - true_counts
    true_negatives = negatives - (predicted_counts - correct)
    recall = correct / true_counts.clamp_min(1)
    return recall, (recall + true_negatives / negatives.clamp_min(1)) / 2


def _split_at(model: nn.Module, layer: str) -> tuple[nn.Module, nn.Module] | None:
    """(model up to `layer`, the rest) when `model` is an nn.Sequential and `layer` one of
    its children: then removing units of that layer only needs the rest to be rerun."""
    if not isinstance(model, nn.Sequential):
        return None
    names = [name for name, _ in model.named_children()]
    if layer not in names:
        return None
    cut = names.index(layer) + 1
    return model[:cut], model[cut:]


@dataclass
class ClassScores:
    """Per-class scores of a classifier under S unit removals: recall (S, K), balanced
    accuracy (S, K) and the mean log-probability of the true class over each class's
    images (S, K)."""

    recall: Tensor
    balanced: Tensor
    log_prob: Tensor


@torch.no_grad()
def ablated_class_scores(model: nn.Module, layer: str, removed: Sequence[Tensor | Sequence[int]],
                         x: Tensor, y: Tensor, num_classes: int,
                         batch_size: int = 250) -> ClassScores:
    """Scores of a classifier with each set of units removed[s] of `layer` ablated in turn.
    Balanced accuracy of class k: (recall_k + true-negative rate_k) / 2, the binary
    k-vs-rest accuracy of the authors' test_perclass_pra. For an nn.Sequential cut at
    `layer`, the layers before it run once."""
    net = inference_view(model)
    split = _split_at(net, layer)
    head = split[0] if split is not None else None
    features = ([head(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
                if head is not None else [])
    truth = y.cpu()
    per_class = torch.bincount(truth, minlength=num_classes).double().clamp_min(1)
    recalls, balanced, log_probs = [], [], []
    for units in removed:
        if split is not None:
            rule = ablation_rule(layer, units)
            logits = torch.cat([split[1](rule(f)) for f in features]).cpu()
        else:
            with ablate(net, layer, units):
                logits = torch.cat([net(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]).cpu()
        scores = _class_scores(logits.argmax(1), truth, num_classes)
        recalls.append(scores[0])
        balanced.append(scores[1])
        true_log_prob = logits.log_softmax(1).gather(1, truth[:, None])[:, 0].double()  # (N,)
        log_probs.append((torch.bincount(truth, true_log_prob, minlength=num_classes) / per_class).float())
    return ClassScores(torch.stack(recalls), torch.stack(balanced), torch.stack(log_probs))


def per_class_accuracy(model: nn.Module, x: Tensor, y: Tensor, num_classes: int,
                       layer: str | None = None, removed: Tensor | Sequence[int] = (),
                       batch_size: int = 250) -> tuple[Tensor, Tensor]:
    """(recall (K,), balanced accuracy (K,)) of a classifier, with `removed` units of
    `layer` ablated (none when layer is None)."""
    if layer is None:
        net = inference_view(model)
        with torch.no_grad():
            predicted = torch.cat([net(x[i:i + batch_size]).argmax(1).cpu()
                                   for i in range(0, x.shape[0], batch_size)])
        return _class_scores(predicted, y.cpu(), num_classes)
    scores = ablated_class_scores(model, layer, [removed], x, y, num_classes, batch_size)
    return scores.recall[0], scores.balanced[0]


def unit_importance(model: nn.Module, layer: str, units: int, x: Tensor, y: Tensor,
                    num_classes: int, batch_size: int = 250) -> Tensor:
    """(U, K) ranking of the units of `layer` by importance to each class: column k lists
    the units, most important first, by the class's balanced accuracy with the unit removed
    alone (the authors' criterion: lower = more important), ties broken by the mean
    log-probability of the true class (lower = more important)."""
    scores = ablated_class_scores(model, layer, [[u] for u in range(units)], x, y, num_classes,
                                  batch_size)
    by_log_prob = scores.log_prob.argsort(dim=0, stable=True)  # (U, K)
    balanced = scores.balanced.gather(0, by_log_prob)
    return by_log_prob.gather(0, balanced.argsort(dim=0, stable=True))
