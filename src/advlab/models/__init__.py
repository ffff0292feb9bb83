"""Classifiers and segmenters by name (one table: `advlab.models.registry`; generators and
discriminators: `advlab.models.gan`), and models rebuilt from checkpoints.

    >>> from advlab import models
    >>> net = models.create("lenet", in_channels=1, num_classes=10, image_size=28)
    >>> net = models.load_checkpoint("runs/lenet")    # rebuilt from the checkpoint metadata
    >>> seg = models.create_segmenter("scene-unet", num_classes=12)
"""

from advlab.models.checkpoint import (
    CheckpointError,
    read_checkpoint,
    save_checkpoint,
)
from advlab.models.layers import Normalize, use_channels_last
from advlab.models.loading import load_checkpoint, load_segmenter
from advlab.models.registry import create, create_segmenter, describe, names, segmenter_names
from advlab.models.scene_nets import segment

__all__ = [
    "CheckpointError",
    "Normalize",
    "create",
    "create_segmenter",
    "describe",
    "load_checkpoint",
    "load_segmenter",
    "names",
    "read_checkpoint",
    "save_checkpoint",
    "segment",
    "segmenter_names",
    "use_channels_last",
]
