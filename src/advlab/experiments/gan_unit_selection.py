"""Unit and layer selection for gan-interventions, following Bau et al. 2020 (PNAS,
arXiv:2009.05041) and the authors' code (davidbau/dissect, experiment/dissect_experiment.py):

- units: each unit's threshold t_u is the top-1% quantile of its *raw* feature map values
  (``rq.quantiles(0.99)`` over every position of the layer's own grid, before upsampling),
  then IoU_{u,c} = |{up(a_u) > t_u} & {label = c}| / |{up(a_u) > t_u} | {label = c}| with
  the maps upsampled bilinearly to the segmentation; the units of a concept are those of
  highest IoU with it. NetDissect's category-restricted counting (pixels counted only in
  images where the concept's category is labelled) changes nothing here: the scene
  segmenter labels every pixel with one of the 12 concepts, so every category is labelled in
  every image.
- layer (our rule, decided before measuring): remove the ``count`` top tree units of every
  candidate layer on the selection scenes and measure every concept's pixel share before and
  after; the *spill* of a layer is the largest absolute change of any other concept divided
  by the tree share removed (1: the removed trees are replaced by one other concept; much
  more than 1: the units also draw other concepts). The layer edited is the one of least
  spill among those whose removal takes away more than half the tree pixels (the paper's
  claim), or of least spill overall if none does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.dissect import (
    ConceptOverlap,
    LayerDissection,
    Probe,
    ablate,
    concept_fractions,
    unit_quantiles,
    upsample,
)
from advlab.dissect.interventions import ToImages
from advlab.dissect.scores import Segmenter
from advlab.report.gan_intervention_figures import LayerSpecificity


def dissect_raw_threshold(generator: nn.Module, layer: str, latents: Tensor, segment: Segmenter,
                          to_images: ToImages, concepts: list[str],
                          quantile: float) -> LayerDissection:
    """IoU (U, C) of every unit of `layer` with every concept, thresholds from the raw maps
    (the module docstring). One or more passes for the quantiles, one for the counts."""
    probe = Probe(generator, (layer,), latents)
    thresholds = unit_quantiles(probe, layer, 1.0 - quantile)  # (U,) on the raw maps
    overlap = ConceptOverlap(int(thresholds.numel()), len(concepts))
    shape: tuple[int, ...] = ()
    for _, _, out, acts in probe.batches():
        labels = segment(to_images(out))  # (n, H, W)
        a = acts[layer]  # (n, U, h, w)
        shape = tuple(a.shape[1:])
        up = upsample(a, (labels.shape[-2], labels.shape[-1]))
        overlap.add(up > thresholds.to(a.device)[None, :, None, None], labels)
    empty = torch.zeros(int(thresholds.numel()), 0, dtype=torch.long)
    return LayerDissection(layer, thresholds, overlap.iou(), empty, empty.float(),
                           list(concepts), quantile, shape)


def layer_specificity(generator: nn.Module, dissection: LayerDissection, concept: str,
                      count: int, latents: Tensor, segment: Segmenter,
                      to_images: ToImages) -> LayerSpecificity:
    """`LayerSpecificity` of one layer (the rule of the module docstring)."""
    names = dissection.concepts
    k, c = len(names), names.index(concept)
    units = dissection.ranked_units(concept)[:count]
    before = concept_fractions(generator, latents, segment, to_images, k).mean(0)  # (C,)
    with ablate(generator, dissection.layer, units):
        after = concept_fractions(generator, latents, segment, to_images, k).mean(0)
    change = (after - before).abs()
    removed = float(before[c] - after[c])
    change[c] = -1.0
    other = int(change.argmax())
    spill = float(change[other]) / removed if removed > 0 else float("inf")
    return LayerSpecificity(
        layer=dissection.layer, units=dissection.units, count=int(units.numel()),
        before={n: float(before[i]) for i, n in enumerate(names)},
        after={n: float(after[i]) for i, n in enumerate(names)},
        removed_fraction=removed / float(before[c]) if float(before[c]) > 0 else 0.0,
        spill=spill, most_changed=names[other])


def choose_layer(specificities: list[LayerSpecificity]) -> str:
    """The layer of least spill among those removing more than half the concept's pixels
    (all layers when none does)."""
    if not specificities:
        raise ValueError("no candidate layer to choose from")
    removing = [s for s in specificities if s.removed_fraction > 0.5] or specificities
    return min(removing, key=lambda s: s.spill).layer
