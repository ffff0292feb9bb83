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
    """Dataset images (N, C, S, S) in [0, 1], resized to cfg.image_size when it is set, then
    zero-padded by cfg.image_pad pixels on every side (mnist-5k 28 -> 32 with 2: black, the
    digits' background)."""
    from advlab.data import as_tensors, load

    images, _ = as_tensors(load(cfg.data, split, root=cfg.data_root), limit=cfg.data_limit)
    size = cfg.image_size
    if size is not None and images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False).clamp_(0.0, 1.0)
    if cfg.image_pad:
        images = F.pad(images, (cfg.image_pad,) * 4)  # (N, C, S + 2p, S + 2p)
    return images


class BatchStream:
    """Real minibatches in a seeded, resumable order, sharded over ranks.

    images: (N, C, H, W) on the training device. Epoch e is a permutation of the N images
    drawn from a CPU generator seeded by (seed, e); a global batch of B images is the next B
    rows of the current epoch's permutation, and when fewer than B are left they are dropped
    and epoch e + 1 begins. For a fixed B that is: global batch b (from 0) = rows
    [i*B, (i+1)*B) of epoch b // (N // B), i = b % (N // B). Rank r of W takes rows
    [r*B/W, (r+1)*B/W) of each global batch. B may change between batches (progressive GANs
    use a minibatch size per resolution).

    State: `epoch`, `offset` (rows of the epoch used) and `position` (global batches drawn:
    the discriminator's update number for the learning-rule schedules); the trainer
    checkpoints all three.
    """

    def __init__(self, images: Tensor, seed: int, env: ddp.DistEnv, position: int = 0,
                 epoch: int = 0, offset: int = 0) -> None:
        self.images, self.seed, self.env = images, seed, env
        self.position, self.epoch, self.offset = position, epoch, offset
        self._perm_epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    @classmethod
    def at_batch(cls, images: Tensor, batch_size: int, seed: int, env: ddp.DistEnv,
                 position: int) -> BatchStream:
        """The stream after `position` batches of a fixed `batch_size` (checkpoints written
        before the stream kept its epoch and offset)."""
        per_epoch = images.shape[0] // batch_size
        epoch, i = divmod(position, per_epoch)
        return cls(images, seed, env, position, epoch, i * batch_size)

    def check_batch_size(self, batch_size: int) -> None:
        """Clear errors for a batch the stream cannot serve."""
        if batch_size % self.env.world_size:
            raise ValueError(f"batch_size {batch_size} must be divisible by the number of "
                             f"processes {self.env.world_size}")
        if self.images.shape[0] < batch_size:
            raise ValueError(f"the dataset has {self.images.shape[0]} images, fewer than one "
                             f"batch of {batch_size}")

    def epoch_of_next(self, batch_size: int) -> int:
        """The epoch the next batch of `batch_size` images will come from."""
        return self.epoch + (self.offset + batch_size > self.images.shape[0])

    def next(self, batch_size: int) -> Tensor:
        """The next (batch_size / world_size, C, H, W) batch of this rank."""
        self.check_batch_size(batch_size)
        if self.offset + batch_size > self.images.shape[0]:
            self.epoch, self.offset = self.epoch + 1, 0
        if self._perm_epoch != self.epoch:
            g = torch.Generator().manual_seed(seed_for(self.seed, "data", self.epoch))
            self._perm = torch.randperm(self.images.shape[0], generator=g).to(self.images.device)
            self._perm_epoch = self.epoch
        local = batch_size // self.env.world_size
        start = self.offset + self.env.rank * local
        self.offset += batch_size
        self.position += 1
        return self.images[self._perm[start : start + local]]
