"""Classifiers (and, in `advlab.models.gan`, generators and discriminators) by name.

    >>> from advlab import models
    >>> net = models.create("lenet", in_channels=1, num_classes=10, image_size=28)
    >>> net = models.load_checkpoint("runs/lenet")    # rebuilt from the checkpoint metadata
"""

from advlab.models.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from advlab.models.layers import Normalize, use_channels_last
from advlab.models.registry import create, describe, names

__all__ = [
    "CheckpointError",
    "Normalize",
    "create",
    "describe",
    "load_checkpoint",
    "names",
    "use_channels_last",
    "read_checkpoint",
    "save_checkpoint",
]
