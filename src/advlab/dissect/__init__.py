"""Network dissection (Bau et al. 2020, PNAS, arXiv:2009.05041; GAN Dissection, Bau et al.
2019, arXiv:1811.10597): what single units of a classifier or a generator detect, and what
removing or activating them does.

    >>> from advlab import dissect
    >>> with dissect.record(net, "conv4_1") as seen:        # hooks on any named layer
    ...     net(x)
    >>> probe = dissect.Probe(net, ("conv3_1", "conv4_1"), images)
    >>> layers = dissect.dissect(probe, dissect.MaskLabels(masks), concepts)
    >>> layers["conv4_1"].concept_counts()                  # units per concept, IoU > 0.04
    >>> with dissect.ablate(G, "net.5", layers["net.5"].ranked_units("tree")[:20]):
    ...     images = G(z)                                     # trees removed

Modules: `hooks` (record / ablate / insert context managers), `stats` (streaming
quantiles, top-k, IoU counts), `scores` (the dissection itself, a unit as a classifier),
`interventions` (removal curves, insertion by context, per-class accuracy).
"""

from advlab.dissect.hooks import ablate, edit_output, insert, layer_shapes, module_named, record
from advlab.dissect.interventions import (
    ClassScores,
    InsertionEffect,
    ablated_class_scores,
    concept_fractions,
    insertion_effect,
    per_class_accuracy,
    removal_curve,
    unit_importance,
)
from advlab.dissect.scores import (
    IOU_THRESHOLD,
    QUANTILE_NETDISSECT,
    QUANTILE_PAPER,
    ConceptLabels,
    LayerDissection,
    MaskLabels,
    Probe,
    SegmentedImages,
    Segmenter,
    concept_fraction,
    dissect,
    gaussian_kde,
    peak_activations,
    unit_quantiles,
    upsample,
)
from advlab.dissect.stats import ConceptOverlap, HistogramQuantile, RunningTopK

__all__ = [
    "IOU_THRESHOLD", "QUANTILE_NETDISSECT", "QUANTILE_PAPER", "ClassScores", "ConceptLabels", "ConceptOverlap",
    "HistogramQuantile", "InsertionEffect", "LayerDissection", "MaskLabels", "Probe",
    "RunningTopK", "SegmentedImages", "Segmenter", "ablate", "ablated_class_scores", "concept_fraction",
    "concept_fractions", "dissect", "edit_output", "gaussian_kde", "insert", "insertion_effect",
    "layer_shapes", "module_named", "peak_activations", "per_class_accuracy", "record",
    "removal_curve", "unit_importance", "unit_quantiles", "upsample",
]  # fmt: skip
