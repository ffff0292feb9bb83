"""Models rebuilt from checkpoints: the registry name and arguments in a checkpoint's
metadata ({"model": name, "model_args": {...}}, written by `advlab.train.fit`) give the
model, the checkpoint's tensors its weights.

    >>> net = models.load_checkpoint("runs/lenet")       # a classifier, eval mode
    >>> seg = models.load_segmenter("runs/scene-unet")   # a segmenter, eval mode

This module sits above both the registry and the checkpoint format, so neither imports
the other.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from advlab.errors import CheckpointError
from advlab.models.checkpoint import load_weights, read_checkpoint
from advlab.models.layers import use_channels_last
from advlab.models.registry import SEGMENTERS, create, create_segmenter


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a registry classifier from a checkpoint's metadata and load its weights.

    Returns the model in eval mode on `device`, convolutions in channels-last memory order
    (`advlab.models.layers.use_channels_last`: the same function, computed faster)."""
    checkpoint = read_checkpoint(path)
    name = checkpoint.meta.get("model")
    if not isinstance(name, str):
        raise CheckpointError(f"{checkpoint.path} does not name its model in the metadata")
    model = create(name, **checkpoint.meta.get("model_args", {}))
    load_weights(model, checkpoint)
    return use_channels_last(model.to(device)).eval()


def load_segmenter(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """A segmenter from a checkpoint whose metadata names a registry segmenter, in eval mode
    on `device`; a classifier's checkpoint is refused with the valid segmenter names."""
    checkpoint = read_checkpoint(path)
    name = checkpoint.meta.get("model")
    if not isinstance(name, str) or name not in SEGMENTERS:
        raise CheckpointError(
            f"{checkpoint.path} is not a segmenter checkpoint (model {name!r}; "
            f"segmenters: {', '.join(SEGMENTERS.names())})"
        )
    net = create_segmenter(name, **checkpoint.meta.get("model_args", {}))
    load_weights(net, checkpoint)
    return net.to(device).eval()
