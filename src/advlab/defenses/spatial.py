"""Spatial robustness through training (Engstrom et al. 2019, Section 5): data augmentation
with random rotations and translations, and robust optimisation on the worst of k of them.

`SpatialTrainingLoss` is a batch loss for `advlab.train.fit`: ``tries = 1`` trains on one
random transformation per example (augmentation), ``tries = 10`` on the worst of ten
(`advlab.attacks.SpatialRandom`'s worst-of-10 adversary, the paper's worst-of-10 training),
``tries = 0`` on the untransformed images. ``canvas`` first pads every image onto a black
canvas ``canvas`` pixels wider on each side (the paper's black-canvas setting: the model
then takes (H + 2 canvas, W + 2 canvas) images and no content leaves the frame).
Randomness comes from torch's global generator, which `fit` seeds and checkpoints, so a
resumed run repeats the same transformations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks.spatial import SpatialRandom
from advlab.transforms import pad_canvas


@dataclass(frozen=True)
class SpatialTrainingLoss:
    """``batch_loss(model, x, y, progress) -> advlab.train.BatchOutput``: cross-entropy on
    the worst of ``tries`` random (angle, dx, dy) in the box (max_rotation degrees,
    max_translation pixels), after padding onto a ``canvas``. Metrics logged:
    ``fooled`` (fraction of the batch whose chosen transformation was misclassified)."""

    tries: int = 10
    max_rotation: float = 30.0
    max_translation: float = 3.0
    canvas: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.tries, bool) or not isinstance(self.tries, int) or self.tries < 0:
            raise ValueError(f"tries must be an integer >= 0 (0: no transformation), got {self.tries!r}")
        _ = self.adversary  # validates the box
        pad_canvas(torch.zeros(1, 1, 1, 1), self.canvas)  # validates the canvas

    @property
    def adversary(self) -> SpatialRandom:
        return SpatialRandom(tries=max(self.tries, 1), max_rotation=self.max_rotation,
                             max_translation=self.max_translation)  # fmt: skip

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float) -> Any:
        from advlab.train import BatchOutput  # lazy: train imports nothing from defenses

        x = pad_canvas(x, self.canvas)  # (N, C, H + 2c, W + 2c)
        metrics: dict[str, torch.Tensor] = {}
        if self.tries == 1:  # one random transformation needs no model evaluation
            adversary = self.adversary
            params = adversary.box.sample(x.shape[0], device=x.device, dtype=x.dtype)
            x = adversary.render(x, params)
        elif self.tries > 1:
            result = self.adversary(model, x, y)  # worst of `tries`, on an inference view
            x = result.x_adv
            metrics["fooled"] = result.success.float().mean()
        logits = model(x)  # (N, K) on the images trained on
        return BatchOutput(F.cross_entropy(logits, y), logits, metrics)

    def describe(self) -> str:
        """A stable string of the settings (for cache keys and run metadata)."""
        return (f"spatial(tries={self.tries},rotation={self.max_rotation},translation={self.max_translation},"
                f"canvas={self.canvas})")  # fmt: skip
