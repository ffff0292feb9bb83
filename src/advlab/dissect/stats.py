"""Per-unit statistics streamed over a dataset in batches, in memory that does not grow with
the dataset: top-quantile thresholds, top-activating images, and the intersection and union
counts of thresholded unit maps with concept masks.

Conventions (Bau et al. 2020, arXiv:2009.05041, Methods; the authors' davidbau/dissect and
CSAILVision/NetDissect-Lite code):
- a unit's threshold t_u is its top-q quantile over every (upsampled) position of every
  image, P(a_u > t_u) = q, with q = 0.01 in the paper (its code's --quantile 0.01) and
  q = 0.005 in NetDissect (NetDissect-Lite settings.QUANTILE);
- the IoU of unit u with concept c is dataset-wide, |{a_u > t_u} & {label = c}| /
  |{a_u > t_u} | {label = c}| summed over all pixels of all images (tally.py
  iou_from_conditional_indicator_mean; NetDissect-Lite feature_operation.tally).

`HistogramQuantile` finds t_u exactly enough to be checked against `torch.quantile` on all
values: a first pass records each unit's range, each further pass counts values in
`bins` equal bins of the range that still contains the quantile and narrows it to one bin,
so after p counting passes the threshold is known to (max - min) / bins**p. Memory: (U,
bins) counts, whatever the number of images.
"""

from __future__ import annotations

import torch
from torch import Tensor


class HistogramQuantile:
    """The q-quantile (torch.quantile's linear interpolation between the order statistics
    at floor and ceil of q (n - 1)) of each unit's values, over passes over one stream.

        >>> est = HistogramQuantile(units=U, q=0.99)
        >>> while not est.done:
        ...     for batch in stream():        # (S, U) values, the same every pass
        ...         est.add(batch)
        ...     est.finish_pass()
        >>> est.result()                      # (U,)

    Pass 0 records each unit's min and max. A counting pass bins the values inside the
    unit's bracket [lo, hi] into `bins` equal bins, keeping each bin's count, min and max,
    and counts the values below lo. If the two order statistics fall in different bins,
    they are the max of the first bin and the min of the second: exact. If they share a
    bin whose values are all equal: exact. Otherwise the bracket narrows to that bin and
    another pass follows; after `passes` counting passes the remaining units are
    interpolated by rank inside their bin (error at most the bin width, `resolution`).
    """

    def __init__(self, units: int, q: float, bins: int = 2048, passes: int = 3) -> None:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile q must be in [0, 1], got {q}")
        if bins < 2 or passes < 1:
            raise ValueError(f"need bins >= 2 and passes >= 1, got bins={bins}, passes={passes}")
        self.units, self.q, self.bins, self.passes = units, q, bins, passes
        self.pass_index = 0
        self.count = 0  # values per unit seen in the current pass
        self.total: int | None = None  # values per unit in the stream (fixed after pass 0)
        self.lo = torch.full((units,), float("inf"))
        self.hi = torch.full((units,), float("-inf"))
        self.below = torch.zeros(units, dtype=torch.long)  # values < lo, this pass
        self.histogram = torch.zeros(units * bins, dtype=torch.long)
        self.bin_min = torch.full((units * bins,), float("inf"))
        self.bin_max = torch.full((units * bins,), float("-inf"))
        self.value = torch.zeros(units)  # the quantile where `exact`, else the best estimate
        self.exact = torch.zeros(units, dtype=torch.bool)
        self.done = False

    def add(self, values: Tensor) -> None:
        """Add a batch of values with the units on dimension 1: (S, U) samples of each unit,
        or feature maps (N, U, H, W) whose every position is a sample."""
        if values.ndim < 2 or values.shape[1] != self.units:
            raise ValueError(f"values must be (S, {self.units}) or (N, {self.units}, ...), "
                             f"got {tuple(values.shape)}")
        if self.done:
            raise RuntimeError("HistogramQuantile is done; read result()")
        x = values.detach().float().reshape(values.shape[0], self.units, -1)  # (N, U, P)
        self.count += x.shape[0] * x.shape[2]
        if self.pass_index == 0:
            if x.numel():
                self.lo = torch.minimum(self.lo, x.amin(dim=(0, 2)).cpu())
                self.hi = torch.maximum(self.hi, x.amax(dim=(0, 2)).cpu())
            return
        lo, hi = self.lo.to(x.device)[:, None], self.hi.to(x.device)[:, None]  # (U, 1)
        scale = self.bins / (hi - lo).clamp_min(1e-30)
        inside = (x >= lo) & (x <= hi)  # (N, U, P)
        self.below += (x < lo).sum(dim=(0, 2)).cpu()
        bin_index = ((x - lo) * scale).floor_().clamp_(0, self.bins - 1).long()  # (N, U, P)
        size = self.units * self.bins
        # values outside the bracket go to one extra bin (index `size`) that is dropped:
        # cheaper than selecting the inside values
        offset = self.bins * torch.arange(self.units, device=x.device)[:, None]  # (U, 1)
        flat = torch.where(inside, bin_index + offset, size).flatten()
        self.histogram += torch.bincount(flat, minlength=size + 1)[:size].cpu()
        lowest = torch.full((size + 1,), float("inf"), device=x.device)
        highest = torch.full((size + 1,), float("-inf"), device=x.device)
        values = x.flatten()
        self.bin_min = torch.minimum(self.bin_min, lowest.scatter_reduce(0, flat, values, "amin")[:size].cpu())
        self.bin_max = torch.maximum(self.bin_max, highest.scatter_reduce(0, flat, values, "amax")[:size].cpu())

    def _order_statistics(self) -> tuple[float, int, int]:
        """(position q (n - 1), floor, ceil) of torch.quantile's linear interpolation."""
        assert self.total is not None
        position = self.q * (self.total - 1)
        low = int(position)
        return position, low, min(low + 1, self.total - 1)

    def finish_pass(self) -> None:
        """End a pass over the stream: fix the range (pass 0), or settle the units whose
        order statistics are now known and narrow the others' brackets."""
        if self.pass_index == 0:
            if self.count == 0:
                raise ValueError("HistogramQuantile: the stream is empty")
            self.total = self.count
        else:
            if self.count != self.total:
                raise ValueError(f"pass {self.pass_index} saw {self.count} values per unit, "
                                 f"pass 0 saw {self.total}: the stream must repeat exactly")
            self._settle()
        self.pass_index += 1
        self.count = 0
        self.below.zero_()
        self.histogram.zero_()
        self.bin_min.fill_(float("inf"))
        self.bin_max.fill_(float("-inf"))
        self.done = self.pass_index > self.passes or bool(self.exact.all())

    def _settle(self) -> None:
        position, low, high = self._order_statistics()
        fraction = position - low
        counts = self.histogram.view(self.units, self.bins)
        cumulative = self.below[:, None] + counts.cumsum(1)  # (U, bins): values <= each bin
        first = (cumulative <= low).sum(1).clamp(max=self.bins - 1)  # the bin of x_(low)
        last = (cumulative <= high).sum(1).clamp(max=self.bins - 1)  # the bin of x_(high)
        offset = self.bins * torch.arange(self.units)
        first_min, first_max = self.bin_min[offset + first], self.bin_max[offset + first]
        last_min = self.bin_min[offset + last]
        # different bins: x_(low) is its bin's largest value, x_(high) the next bin's smallest
        split = last != first
        one_value = first_min == first_max
        exact_now = ~self.exact & (split | one_value)
        settled = torch.where(split, first_max + fraction * (last_min - first_max), first_min)
        self.value = torch.where(exact_now, settled, self.value)
        self.exact |= exact_now
        # the others: both order statistics inside one bin; estimate by rank, then narrow
        before = torch.where(first > 0, cumulative.gather(1, (first - 1).clamp_min(0)[:, None])[:, 0],
                             self.below)
        in_bin = (cumulative.gather(1, first[:, None])[:, 0] - before).clamp_min(1)
        at = ((position - before.double() + 0.5) / in_bin.double()).clamp(0.0, 1.0).float()
        estimate = first_min + at * (first_max - first_min)
        self.value = torch.where(self.exact, self.value, estimate)
        # the next bracket: the smallest and largest value of that bin
        self.lo = torch.where(self.exact, self.lo, first_min)
        self.hi = torch.where(self.exact, self.hi, first_max)

    def result(self) -> Tensor:
        """The (U,) quantiles: exact where `exact`, else within `resolution` of it."""
        if self.pass_index < 2:
            raise RuntimeError("HistogramQuantile needs the range pass and one counting pass")
        return self.value.clone()

    @property
    def resolution(self) -> Tensor:
        """(U,) bound on |result - quantile|: 0 for exact units, the bin width otherwise."""
        return torch.where(self.exact, torch.zeros(self.units), (self.hi - self.lo).abs())


class RunningTopK:
    """The k largest values of each unit over a stream, with the index of the sample
    (image) each came from: for the top-activating images of every unit (Fig. 1c, 3b)."""

    def __init__(self, units: int, k: int) -> None:
        self.units, self.k = units, k
        self.values = torch.empty(units, 0)
        self.indices = torch.empty(units, 0, dtype=torch.long)
        self.seen = 0

    def add(self, values: Tensor) -> None:
        """values (N, U): one value (a peak activation) per sample and unit; samples are
        numbered in the order they arrive."""
        if values.ndim != 2 or values.shape[1] != self.units:
            raise ValueError(f"values must be (N, {self.units}), got {tuple(values.shape)}")
        batch = values.detach().float().cpu().t()  # (U, N)
        index = torch.arange(self.seen, self.seen + batch.shape[1]).expand(self.units, -1)
        self.seen += batch.shape[1]
        pool = torch.cat([self.values, batch], 1)
        pool_index = torch.cat([self.indices, index], 1)
        top = pool.topk(min(self.k, pool.shape[1]), dim=1)
        self.values, self.indices = top.values, pool_index.gather(1, top.indices)


class ConceptOverlap:
    """Dataset-wide intersection and union counts of U binary unit maps with C concepts.

    add(indicator (N, U, H, W) bool, labels (N, H, W) long in [0, C) or -1 for unlabelled):
        intersection[u, c] += |{indicator_u} & {labels = c}|, unit_area[u] += |indicator_u|,
        concept_area[c] += |{labels = c}|, all over the N images' pixels.
    iou() = intersection / (unit_area + concept_area - intersection), (U, C); 0 where the
    union is empty.
    """

    def __init__(self, units: int, concepts: int) -> None:
        self.units, self.concepts = units, concepts
        self.intersection = torch.zeros(units, concepts, dtype=torch.float64)
        self.unit_area = torch.zeros(units, dtype=torch.float64)
        self.concept_area = torch.zeros(concepts, dtype=torch.float64)
        self.images = 0

    def add(self, indicator: Tensor, labels: Tensor) -> None:
        n, u, h, w = indicator.shape
        if u != self.units or labels.shape != (n, h, w):
            raise ValueError(f"indicator must be (N, {self.units}, H, W) and labels (N, H, W); "
                             f"got {tuple(indicator.shape)} and {tuple(labels.shape)}")
        labels = labels.long()
        valid = (labels >= 0) & (labels < self.concepts)
        onehot = torch.zeros(n * h * w, self.concepts, dtype=torch.float32, device=labels.device)
        flat_labels = labels.reshape(-1)
        onehot[valid.reshape(-1), flat_labels[valid.reshape(-1)]] = 1.0  # (NHW, C)
        maps = indicator.permute(1, 0, 2, 3).reshape(u, -1).float()  # (U, NHW)
        # counts stay exact in float32 up to 2**24 per batch entry; accumulated in float64
        self.intersection += (maps @ onehot).double().cpu()  # (U, C)
        self.unit_area += maps.sum(1).double().cpu()
        self.concept_area += onehot.sum(0).double().cpu()
        self.images += n

    def iou(self) -> Tensor:
        union = self.unit_area[:, None] + self.concept_area[None, :] - self.intersection
        return torch.where(union > 0, self.intersection / union.clamp_min(1.0),
                           torch.zeros_like(union)).float()
