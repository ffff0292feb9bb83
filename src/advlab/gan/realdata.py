"""The real images of a GAN run: loading them as the run's config says, and serving them in a
seeded, resumable order sharded over ranks."""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from torch import Tensor

from advlab.gan import distributed as ddp
from advlab.gan.config import GANTrainConfig


def seed_for(*parts: object) -> int:
    """A 63-bit seed that is a pure function of `parts` (stable across runs and machines)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def load_real_images(cfg: GANTrainConfig, split: str = "train") -> Tensor:
    """Dataset images (N, C, S, S) in [0, 1], resized to cfg.image_size when it is set."""
    from advlab.data import as_tensors, load

    images, _ = as_tensors(load(cfg.data, split, root=cfg.data_root), limit=cfg.data_limit)
    size = cfg.image_size
    if size is not None and images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False).clamp_(0.0, 1.0)
    return images


class BatchStream:
    """Real minibatches in a seeded, resumable order, sharded over ranks.

    images: (N, C, H, W) in [-1, 1] on the training device. The global batch b (counting from
    0 over the whole run) is rows [i*B, (i+1)*B) of epoch e's permutation, e = b // (N // B),
    i = b % (N // B), the permutation drawn from a CPU generator seeded by (seed, e); the last
    incomplete batch of an epoch is dropped. Rank r of W takes rows [r*B/W, (r+1)*B/W) of it.
    """

    def __init__(self, images: Tensor, batch_size: int, seed: int, env: ddp.DistEnv,
                 position: int = 0) -> None:
        if batch_size % env.world_size:
            raise ValueError(f"batch_size {batch_size} must be divisible by the number of "
                             f"processes {env.world_size}")
        if images.shape[0] < batch_size:
            raise ValueError(f"the dataset has {images.shape[0]} images, fewer than one batch "
                             f"of {batch_size}")
        self.images, self.batch_size, self.seed, self.env = images, batch_size, seed, env
        self.per_epoch = images.shape[0] // batch_size
        self.position = position
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def epoch_of(self, batch: int) -> int:
        """The epoch (0-based) that global batch number `batch` belongs to."""
        return batch // self.per_epoch

    def next(self) -> Tensor:
        """The next (B / world_size, C, H, W) batch of this rank."""
        epoch, i = divmod(self.position, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(seed_for(self.seed, "data", epoch))
            self._perm = torch.randperm(self.images.shape[0], generator=g).to(self.images.device)
            self._epoch = epoch
        local = self.batch_size // self.env.world_size
        start = i * self.batch_size + self.env.rank * local
        self.position += 1
        return self.images[self._perm[start : start + local]]
