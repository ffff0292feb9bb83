"""Network dissection: score every unit of named layers against concept masks, and test one
unit as a classifier of a concept.

Bau et al. 2020 (PNAS, arXiv:2009.05041), Methods, with the conventions of the authors' code
(davidbau/dissect experiment/dissect_experiment.py, netdissect/upsample.py, tally.py):
1. each unit's feature map a_u (N, h, w) is upsampled bilinearly to the resolution of the
   concept masks (H, W) (F.interpolate, align_corners=False: feature pixel centres land on
   image pixel centres, as NetDissect-Lite's bilinear imresize);
2. its threshold t_u is the top-q quantile of the upsampled values over every position of
   every image, q = 0.01 (`quantile`; NetDissect used 0.005);
3. IoU_{u,c} = |{a_u > t_u} & {label = c}| / |{a_u > t_u} | {label = c}|, summed over all
   pixels of the dataset;
4. unit u is labelled with argmax_c IoU_{u,c}, and counts as a detector of that concept when
   the IoU exceeds `iou_threshold` = 0.04 (the code's --miniou 0.04; NetDissect's
   SCORE_THRESHOLD 0.04).
Concept labels per pixel come from a `ConceptLabels` source: the exact masks of a dataset
(`MaskLabels`), or a segmenter (any callable images (N, 3, H, W) in [0, 1] -> labels
(N, H, W) long) applied to the model's inputs (classifiers) or outputs (generators).

Everything streams over the inputs in batches; memory does not grow with their number
(`advlab.dissect.stats`). The model is evaluated in eval mode through
`advlab.attacks.base.inference_view` and never changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.attacks.base import inference_view
from advlab.dissect.hooks import record
from advlab.dissect.stats import ConceptOverlap, HistogramQuantile, RunningTopK

Segmenter = Callable[[Tensor], Tensor]
"""images (N, 3, H, W) in [0, 1] -> concept labels (N, H, W) long (-1: no concept)."""

QUANTILE_PAPER = 0.01  # Bau et al. 2020: "its top 1% quantile level" (Fig. 1b, 3b)
QUANTILE_NETDISSECT = 0.005  # Bau et al. 2017 / NetDissect-Lite settings.QUANTILE
IOU_THRESHOLD = 0.04  # davidbau/dissect --miniou; NetDissect-Lite SCORE_THRESHOLD


class ConceptLabels(Protocol):
    """Per-pixel concept labels of one batch: rows of the inputs, the inputs and the model's
    outputs for them -> (n, H, W) long; `size` says (H, W) without computing them."""

    def __call__(self, rows: slice, inputs: Tensor, outputs: Tensor) -> Tensor: ...

    def size(self, inputs: Tensor, outputs: Tensor) -> tuple[int, int]: ...


@dataclass(frozen=True)
class MaskLabels:
    """The exact masks (N, H, W) of a dataset whose images are the inputs (e.g. scenes)."""

    masks: Tensor

    def __call__(self, rows: slice, inputs: Tensor, outputs: Tensor) -> Tensor:
        return self.masks[rows].to(inputs.device).long()

    def size(self, inputs: Tensor, outputs: Tensor) -> tuple[int, int]:
        return int(self.masks.shape[-2]), int(self.masks.shape[-1])


@dataclass(frozen=True)
class SegmentedImages:
    """A segmenter applied to the inputs (`of="inputs"`, classifiers) or to images made from
    the outputs (`of="outputs"`, generators; `to_images` maps outputs to [0, 1] images)."""

    segmenter: Segmenter
    of: str = "inputs"
    to_images: Callable[[Tensor], Tensor] | None = None

    def __call__(self, rows: slice, inputs: Tensor, outputs: Tensor) -> Tensor:
        if self.of not in ("inputs", "outputs"):
            raise ValueError(f"SegmentedImages.of must be 'inputs' or 'outputs', got {self.of!r}")
        images = inputs if self.of == "inputs" else outputs
        if self.to_images is not None:
            images = self.to_images(images)
        with torch.no_grad():
            return self.segmenter(images).long()

    def size(self, inputs: Tensor, outputs: Tensor) -> tuple[int, int]:
        images = inputs if self.of == "inputs" else outputs
        return int(images.shape[-2]), int(images.shape[-1])


@dataclass(frozen=True)
class Probe:
    """A model, the layers to watch and the inputs to feed (images for a classifier,
    latents for a generator), in batches of `batch_size`."""

    model: nn.Module
    layers: tuple[str, ...]
    inputs: Tensor
    batch_size: int = 100

    def batches(self) -> Iterator[tuple[slice, Tensor, Tensor, dict[str, Tensor]]]:
        """(rows, inputs, outputs, {layer: activations (n, U, h, w)}) per batch."""
        net = inference_view(self.model)
        with torch.no_grad(), record(net, self.layers) as seen:
            for start in range(0, self.inputs.shape[0], self.batch_size):
                rows = slice(start, min(start + self.batch_size, self.inputs.shape[0]))
                x = self.inputs[rows]
                out = net(x)
                yield rows, x, out, {name: seen[name] for name in self.layers}


def upsample(activations: Tensor, size: tuple[int, int]) -> Tensor:
    """Feature maps (N, U, h, w) -> (N, U, H, W) by bilinear interpolation with pixel
    centres aligned (align_corners=False); unchanged when already (H, W)."""
    if activations.ndim != 4:
        raise ValueError(f"dissection needs (N, U, h, w) feature maps, got {tuple(activations.shape)}")
    if tuple(activations.shape[-2:]) == tuple(size):
        return activations
    return F.interpolate(activations, size=size, mode="bilinear", align_corners=False)


@dataclass
class LayerDissection:
    """The dissection of one layer: thresholds (U,), iou (U, C), the top-activating inputs
    of each unit (U, k) with their peak activations, and the concept names."""

    layer: str
    thresholds: Tensor
    iou: Tensor
    top_indices: Tensor
    top_values: Tensor
    concepts: list[str]
    quantile: float
    shape: tuple[int, ...] = ()

    @property
    def units(self) -> int:
        return int(self.iou.shape[0])

    def best(self) -> tuple[Tensor, Tensor]:
        """(best IoU (U,), index of the best concept (U,)) of every unit."""
        values, index = self.iou.max(dim=1)
        return values, index

    def ranked_units(self, concept: str) -> Tensor:
        """Every unit, by decreasing IoU with `concept` (the order in which the paper removes
        tree units and picks door units, Fig. 4)."""
        return self.iou[:, self._concept(concept)].argsort(descending=True, stable=True)

    def detectors(self, iou_threshold: float = IOU_THRESHOLD) -> list[tuple[int, str, float]]:
        """(unit, best concept, IoU) of the units whose best IoU exceeds the threshold."""
        values, index = self.best()
        return [(u, self.concepts[int(index[u])], float(values[u]))
                for u in range(self.units) if float(values[u]) > iou_threshold]

    def concept_counts(self, iou_threshold: float = IOU_THRESHOLD) -> dict[str, int]:
        """Concept -> number of units labelled with it (IoU above the threshold), every
        concept listed (units per concept per layer, Fig. 1d-e, 3c-d)."""
        counts = dict.fromkeys(self.concepts, 0)
        for _, concept, _ in self.detectors(iou_threshold):
            counts[concept] += 1
        return counts

    def _concept(self, concept: str) -> int:
        if concept not in self.concepts:
            raise ValueError(f"unknown concept {concept!r}; valid concepts: {', '.join(self.concepts)}")
        return self.concepts.index(concept)

    def to_dict(self) -> dict[str, Any]:
        values, index = self.best()
        return {"layer": self.layer, "shape": list(self.shape), "quantile": self.quantile,
                "thresholds": self.thresholds.tolist(), "best_iou": values.tolist(),
                "best_concept": [self.concepts[int(i)] for i in index],
                "iou": self.iou.tolist(), "top_indices": self.top_indices.tolist(),
                "top_values": self.top_values.tolist(), "concepts": list(self.concepts)}


def dissect(
    probe: Probe,
    labels: ConceptLabels,
    concepts: Sequence[str],
    quantile: float = QUANTILE_PAPER,
    top_k: int = 8,
    bins: int = 2048,
    mask_size: int | None = None,
    progress: Callable[[str], Any] | None = None,
) -> dict[str, LayerDissection]:
    """Dissect every layer of `probe` against the concepts of `labels` (Bau et al. 2020,
    Methods; steps 1-3 of the module docstring). Returns layer -> LayerDissection.

    Passes over the inputs: one for each unit's range and peak activations (top_k inputs per
    unit), one or more to pin the thresholds down (`HistogramQuantile`; usually one or two),
    one for the IoU counts. mask_size: compare at (mask_size, mask_size) instead of the
    labels' resolution, the labels sampled by nearest neighbour (the authors work at a
    quarter of the image resolution: 56x56 for 224-px classifier inputs, 64x64 for 256-px
    generator outputs). `progress(description)` is called at the start of each pass."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    estimators: dict[str, HistogramQuantile] = {}
    tops: dict[str, RunningTopK] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    level = 1.0 - quantile
    pass_number = 0
    while pass_number == 0 or not all(est.done for est in estimators.values()):
        if progress is not None:
            progress(f"thresholds, pass {pass_number + 1}")
        for _, x, out, acts in probe.batches():
            size = (mask_size, mask_size) if mask_size else labels.size(x, out)
            for name, a in acts.items():
                if name not in estimators:
                    if a.ndim != 4:
                        raise ValueError(f"layer {name!r} outputs {tuple(a.shape)}; dissection "
                                         f"needs (N, U, h, w) feature maps")
                    estimators[name] = HistogramQuantile(a.shape[1], level, bins=bins)
                    tops[name] = RunningTopK(a.shape[1], top_k)
                    shapes[name] = tuple(a.shape[1:])
                if estimators[name].done:
                    continue
                if pass_number == 0:
                    tops[name].add(a.flatten(2).amax(dim=2))  # (n, U): peak per input
                estimators[name].add(upsample(a, size))
        for est in estimators.values():
            if not est.done:
                est.finish_pass()
        pass_number += 1
    thresholds = {name: est.result() for name, est in estimators.items()}
    overlaps = {name: ConceptOverlap(est.units, len(concepts)) for name, est in estimators.items()}
    if progress is not None:
        progress("IoU with concepts")
    for rows, x, out, acts in probe.batches():
        truth = labels(rows, x, out)  # (n, H, W)
        if mask_size and tuple(truth.shape[-2:]) != (mask_size, mask_size):
            truth = F.interpolate(truth[:, None].float(), size=(mask_size, mask_size),
                                  mode="nearest")[:, 0].long()
        for name, a in acts.items():
            t = thresholds[name].to(a.device)[None, :, None, None]
            overlaps[name].add(upsample(a, (truth.shape[-2], truth.shape[-1])) > t, truth)
    return {name: LayerDissection(name, thresholds[name], overlaps[name].iou(),
                                  tops[name].indices, tops[name].values, list(concepts),
                                  quantile, shapes[name]) for name in probe.layers}


def unit_quantiles(probe: Probe, layer: str, q: float, size: tuple[int, int] | None = None,
                   bins: int = 2048) -> Tensor:
    """(U,) the q-quantile of each unit of `layer` over every position of every input (its
    maps upsampled to `size` first when given): e.g. the 99.5th percentile at which Bau et
    al. 2020 insert door units (Fig. 4c, d; generator_int_experiment.py rq.quantiles(0.995))."""
    single = Probe(probe.model, (layer,), probe.inputs, probe.batch_size)
    estimator: HistogramQuantile | None = None
    while estimator is None or not estimator.done:
        for _, _, _, acts in single.batches():
            a = acts[layer] if size is None else upsample(acts[layer], size)
            if estimator is None:
                estimator = HistogramQuantile(a.shape[1], q, bins=bins)
            estimator.add(a)
        assert estimator is not None
        estimator.finish_pass()
    return estimator.result()


# ------------------------------------------------------------------ a unit as a classifier


def peak_activations(probe: Probe, layer: str, unit: int) -> Tensor:
    """(N,) the largest activation of `unit` of `layer` over all positions of each input
    (the "peak activation" of the jitter plots, Bau et al. 2020 Fig. 1f and 3f)."""
    peaks = []
    for _, _, _, acts in Probe(probe.model, (layer,), probe.inputs, probe.batch_size).batches():
        a = acts[layer]
        if not 0 <= unit < a.shape[1]:
            raise ValueError(f"layer {layer!r} has {a.shape[1]} units; got unit {unit}")
        peaks.append(a[:, unit].flatten(1).amax(dim=1).cpu())
    return torch.cat(peaks)


def concept_fraction(labels: Tensor, concept: int) -> Tensor:
    """(N,) fraction of each image's pixels labelled `concept`, labels (N, H, W)."""
    return (labels == concept).flatten(1).float().mean(dim=1)


def gaussian_kde(samples: Tensor, points: Tensor, bandwidth: float | None = None) -> Tensor:
    """Gaussian kernel density estimate of 1-D `samples` (n,) at `points` (m,): the curves
    beside the jitter plots (Bau et al. 2020, Fig. 1f, 3f). Bandwidth: Scott's rule
    h = std(samples, ddof=1) * n^(-1/5) unless given (as scipy.stats.gaussian_kde)."""
    x = samples.double().flatten()
    if x.numel() < 2:
        raise ValueError(f"gaussian_kde needs at least 2 samples, got {x.numel()}")
    h = float(x.std()) * x.numel() ** (-0.2) if bandwidth is None else bandwidth
    if not h > 0:
        raise ValueError(f"bandwidth must be > 0 (samples with zero spread?), got {h}")
    z = (points.double().flatten()[:, None] - x[None, :]) / h  # (m, n)
    return (torch.exp(-0.5 * z**2).sum(1) / (x.numel() * h * math.sqrt(2 * math.pi))).float()
