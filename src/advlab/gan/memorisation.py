"""The nearest-neighbour memorisation check of Karras et al. 2018 (Figure 10; the lecture's
"examples of synthetic faces"): does a generator reproduce its training images?

Figure 10 shows generated images above their nearest training images in a feature space
(activations of five VGG layers, after Chen & Koltun 2017). Pictures alone cannot tell a
good generator from a copying one, so `memorisation_check` also compares distributions: the
distance from each generated image to its nearest training image against the same distance for
held-out real images of the same distribution. A generator that memorises sits closer to the
training set than held-out data does (distance ratio well below 1, many generated images
closer than almost all held-out ones); one that generalises sits about as far (ratio about 1
or above: samples that are merely worse are farther).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from advlab.gan.metrics import Neighbours, nearest_neighbours


@dataclass(frozen=True)
class MemorisationReport:
    """generated: the k nearest training images of each generated image (indices, distances);
    heldout_distances / generated_distances: (M,) nearest-training-image distances of the
    held-out real images and of the generated ones; median_ratio: median generated distance
    over median held-out distance; closer_than_heldout: the fraction of generated images
    nearer to the training set than the 5th percentile of the held-out distances (about 0.05
    for a generator that does not copy, near 1 for one that does)."""

    generated: Neighbours
    generated_distances: Tensor
    heldout_distances: Tensor
    median_ratio: float
    closer_than_heldout: float


@torch.no_grad()
def memorisation_check(generated: Tensor, training: Tensor, heldout: Tensor, embed, k: int = 5,
                       *, batch_size: int = 1024) -> MemorisationReport:
    """Nearest training images of `generated` and of `heldout` images in the feature space of
    `embed` (as `nearest_neighbours` takes it: a feature extractor, a classifier, a callable
    images -> (N, F), or None for pixels). All images (N, C, H, W) in [0, 1]; the training set
    is embedded once."""
    if heldout.shape[1:] != training.shape[1:]:
        raise ValueError(f"held-out images {tuple(heldout.shape[1:])} and training images "
                         f"{tuple(training.shape[1:])} must have the same shape")
    both = torch.cat([generated, heldout])  # one pass over the training set for both
    found = nearest_neighbours(both, training, embed, k=k, batch_size=batch_size)
    m = generated.shape[0]
    mine = Neighbours(found.indices[:m], found.distances[:m])
    gen_d, held_d = found.distances[:m, 0], found.distances[m:, 0]  # (M,), (H,)
    ratio = float(gen_d.median() / held_d.median().clamp_min(1e-12))
    fifth = torch.quantile(held_d.double(), 0.05)
    closer = float((gen_d.double() < fifth).double().mean())
    return MemorisationReport(mine, gen_d, held_d, ratio, closer)
