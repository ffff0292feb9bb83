"""A classifier checkpoint given where a GAN run is expected is named as a classifier."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from advlab import models
from advlab.errors import CheckpointError
from advlab.gan.state import read_gan_checkpoint
from advlab.models.checkpoint import save_checkpoint


def test_classifier_checkpoint_is_named_as_such(tmp_path: Path) -> None:
    net = models.create("lenet")
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, net, {"model": "lenet", "model_args": {}, "dataset": "mnist-5k"},
                    torch.optim.SGD(net.parameters(), lr=0.1), {})
    with pytest.raises(CheckpointError, match="holds a classifier \\(lenet on mnist-5k\\)"):
        read_gan_checkpoint(path)
