"""Generative metrics: FID, KID and Inception score through torchmetrics with a pluggable
feature extractor (`advlab.gan.features`), scored on a fixed number of samples drawn with a
fixed seed; and the nearest-neighbour memorisation check of Karras et al. 2018, Figure 10.

- FID (Heusel et al. 2017, Eq. (6)): ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)) of
  Gaussians fitted to the features of real and generated images.
- KID (Binkowski et al. 2018, Eq. (3)): unbiased MMD^2 with the cubic polynomial kernel
  k(x, y) = (x.y / F + 1)^3, averaged (mean, std) over random subsets.
- Inception score (Salimans et al. 2016, Section 4): exp(E_x KL(p(y|x) || p(y))) of the
  extractor's logits, mean and std over splits.

Images are in [0, 1] at the metric boundary; generators output [-1, 1] and are converted with
(x + 1) / 2. Each image goes through the extractor once: the (features, logits) pair is fed to
torchmetrics' FrechetInceptionDistance / KernelInceptionDistance / InceptionScore, whose
`feature` is an identity module over the precomputed vectors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from advlab.gan.features import FeatureExtractor, feature_extractor

Prior = Literal["normal", "uniform"]
SCORE_KEYS = ("fid", "kid_mean", "kid_std", "inception_score", "inception_std")


class _Precomputed(nn.Module):
    """Identity 'feature network' for torchmetrics: the vectors are already features.
    `num_features` is what torchmetrics' FID reads to size its statistics."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def sample_latents(
    n: int, latent_dim: int, *, seed: int = 0, prior: Prior = "normal",
    device: torch.device | str = "cpu",
) -> Tensor:
    """n latent vectors (n, latent_dim) from N(0, I) or U[-1, 1]^d (the DCGAN prior), drawn on
    the CPU from a generator seeded with `seed`, so the same seed gives the same latents on
    every device."""
    rng = torch.Generator().manual_seed(seed)
    if prior == "normal":
        z = torch.randn(n, latent_dim, generator=rng)
    elif prior == "uniform":
        z = torch.rand(n, latent_dim, generator=rng) * 2 - 1
    else:
        raise ValueError(f"unknown latent prior {prior!r}; valid: normal, uniform")
    return z.to(device)


@torch.no_grad()
def generate_images(
    generator: nn.Module, n: int, *, latent_dim: int | None = None, seed: int = 0,
    batch_size: int = 256, prior: Prior = "normal",
) -> Tensor:
    """n images (n, C, H, W) in [0, 1] from `generator` ((N, latent_dim) -> [-1, 1]) with
    fixed latents (`sample_latents`). The generator is used in whatever mode it is in (call
    .eval() first to use batch-norm running statistics and leave them untouched); latent_dim
    defaults to `generator.latent_dim`."""
    latent_dim = latent_dim if latent_dim is not None else getattr(generator, "latent_dim", None)
    if latent_dim is None:
        raise ValueError("latent_dim is required for a generator without a latent_dim attribute")
    device = _device_of(generator, torch.device("cpu"))
    z = sample_latents(n, latent_dim, seed=seed, prior=prior, device=device)  # (n, d)
    batches = [generator(chunk) for chunk in z.split(batch_size)]  # each (b, C, H, W) in [-1, 1]
    return ((torch.cat(batches) + 1) / 2).clamp(0, 1)


class GenerativeScores:
    """FID, KID and IS of generated images against a fixed set of real images.

    Real statistics are computed once (`add_real`) and kept across evaluations; each
    evaluation adds generated images (`add_fake`) and `compute`s, or does both with
    `score_generator`, which first forgets earlier generated images.

    extractor: a `FeatureExtractor` or spec (see `advlab.gan.features.feature_extractor`).
    Scores are local to the calling process (no cross-process sync; under DDP evaluate on one
    rank). kid_subsets, kid_subset_size: KID's random subsets (the size is capped at half the number
    of real or generated samples, so the subsets differ). is_splits: Inception-score splits. seed: seeds KID's subsets and IS's shuffle.
    """

    def __init__(
        self, extractor: FeatureExtractor | str | nn.Module, *, kid_subsets: int = 100,
        kid_subset_size: int = 1000, is_splits: int = 10, seed: int = 0,
    ) -> None:
        self.extractor = feature_extractor(extractor)
        self.kid_subsets, self.kid_subset_size = kid_subsets, kid_subset_size
        self.is_splits, self.seed = is_splits, seed
        self._fid: FrechetInceptionDistance | None = None
        self._kid: KernelInceptionDistance | None = None
        self._is: InceptionScore | None = None
        self.n_real = self.n_fake = 0

    def _metrics(self, features: Tensor) -> None:
        """Create the torchmetrics objects on first use, on the features' device."""
        if self._fid is not None:
            return
        precomputed = _Precomputed(features.shape[1])
        # sync_on_compute=False: scores are local to this process, so a DDP trainer can
        # evaluate on rank 0 alone without the other ranks joining an all-gather
        self._fid = FrechetInceptionDistance(
            feature=precomputed, reset_real_features=False, sync_on_compute=False
        )
        with warnings.catch_warnings():  # "KID/IS keep all features in memory": intended here
            warnings.simplefilter("ignore", UserWarning)
            self._kid = KernelInceptionDistance(
                feature=precomputed, subsets=self.kid_subsets, subset_size=self.kid_subset_size,
                reset_real_features=False, sync_on_compute=False,
            )
            self._is = InceptionScore(
                feature=_Precomputed(0), splits=self.is_splits, sync_on_compute=False
            )
        for metric in (self._fid, self._kid, self._is):
            metric.to(features.device)

    def _extract(self, images: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
        device = _device_of(self.extractor, images.device)
        pairs = [self.extractor(chunk.to(device)) for chunk in images.split(batch_size)]
        return torch.cat([f for f, _ in pairs]), torch.cat([lg for _, lg in pairs])

    def add_real(self, images: Tensor, batch_size: int = 256) -> None:
        """Add real images (N, C, H, W) in [0, 1]."""
        features, _ = self._extract(images, batch_size)  # (N, F)
        self._metrics(features)
        self._fid.update(features.double(), real=True)  # type: ignore[union-attr]
        self._kid.update(features, real=True)  # type: ignore[union-attr]
        self.n_real += images.shape[0]

    def add_fake(self, images: Tensor, batch_size: int = 256) -> None:
        """Add generated images (N, C, H, W) in [0, 1]."""
        features, logits = self._extract(images, batch_size)  # (N, F), (N, K)
        self._metrics(features)
        self._fid.update(features.double(), real=False)  # type: ignore[union-attr]
        self._kid.update(features, real=False)  # type: ignore[union-attr]
        self._is.update(_bounded_logits(logits))  # type: ignore[union-attr]
        self.n_fake += images.shape[0]

    def reset_fake(self) -> None:
        """Forget the generated images (the real statistics are kept)."""
        for metric in (self._fid, self._kid, self._is):
            if metric is not None:
                metric.reset()
        self.n_fake = 0

    def compute(self) -> dict[str, float]:
        """{"fid", "kid_mean", "kid_std", "inception_score", "inception_std"} as floats."""
        if self.n_real < 2 or self.n_fake < 2:
            raise ValueError(
                f"need at least 2 real and 2 generated images, have {self.n_real} real and "
                f"{self.n_fake} generated"
            )
        assert self._fid is not None and self._kid is not None and self._is is not None
        # subsets as large as the sample would all be the same set (std 0): cap at half of it
        self._kid.subset_size = max(1, min(self.kid_subset_size, self.n_real // 2, self.n_fake // 2))
        # KID's subsets and IS's shuffle use the global RNG: fork it so scores are seeded and
        # the caller's random stream is untouched
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            fid = self._fid.compute()
            kid_mean, kid_std = self._kid.compute()
            is_mean, is_std = self._is.compute()
        values = (fid, kid_mean, kid_std, is_mean, is_std)
        return {key: float(value) for key, value in zip(SCORE_KEYS, values, strict=True)}

    def score_generator(
        self, generator: nn.Module, n: int = 1000, *, latent_dim: int | None = None,
        seed: int = 0, batch_size: int = 256, prior: Prior = "normal",
    ) -> dict[str, float]:
        """Scores of n images from `generator` with fixed latents (seed), against the real
        images added so far. Earlier generated images are forgotten first."""
        self.reset_fake()
        images = generate_images(
            generator, n, latent_dim=latent_dim, seed=seed, batch_size=batch_size, prior=prior
        )
        self.add_fake(images, batch_size)
        return self.compute()


def score_generator(
    generator: nn.Module, real_images: Tensor, extractor: FeatureExtractor | str | nn.Module,
    *, n: int = 1000, latent_dim: int | None = None, seed: int = 0, batch_size: int = 256,
    prior: Prior = "normal", kid_subsets: int = 100, is_splits: int = 10,
) -> dict[str, float]:
    """FID, KID and IS of `generator` ((N, latent_dim) -> [-1, 1] images) against the first n
    of `real_images` (N, C, H, W) in [0, 1], on n generated images with latents seeded by
    `seed`. Returns {"fid", "kid_mean", "kid_std", "inception_score", "inception_std"}.

    For repeated evaluation during training, build `GenerativeScores` once, `add_real` once
    and call its `score_generator` (the real features are then extracted only once).
    """
    scores = GenerativeScores(extractor, kid_subsets=kid_subsets, is_splits=is_splits, seed=seed)
    scores.add_real(real_images[:n], batch_size)
    return scores.score_generator(
        generator, n, latent_dim=latent_dim, seed=seed, batch_size=batch_size, prior=prior
    )


@dataclass(frozen=True)
class Neighbours:
    """k nearest training images of each generated image: indices (M, k) long into the
    dataset and their feature-space distances (M, k), nearest first."""

    indices: Tensor
    distances: Tensor


@torch.no_grad()
def nearest_neighbours(
    generated: Tensor, dataset: Tensor,
    features: FeatureExtractor | nn.Module | Callable[[Tensor], Tensor] | None = None,
    k: int = 5, *, batch_size: int = 1024,
) -> Neighbours:
    """The memorisation check of Karras et al. 2018, Figure 10: for each generated image, the
    k training images nearest in feature space (they use VGG activations; any extractor
    works: a `FeatureExtractor`, a classifier module (penultimate features), a callable
    images -> (N, F), or None for raw pixels).

    generated: (M, C, H, W) and dataset: (N, C, H, W), both in [0, 1]. Distances are
    Euclidean, computed with torch.cdist against the dataset in blocks of batch_size images,
    each block embedded when it is used, with a running top-k: memory holds the queries'
    features and one block's, whatever N is.
    """
    if dataset.shape[0] < k:
        raise ValueError(f"k={k} neighbours requested from a dataset of {dataset.shape[0]}")
    if generated.shape[1:] != dataset.shape[1:]:
        raise ValueError(
            f"generated {tuple(generated.shape[1:])} and dataset {tuple(dataset.shape[1:])} "
            "images must have the same shape"
        )
    embed = _embedding(features)
    query = torch.cat([embed(chunk) for chunk in generated.split(batch_size)])  # (M, F)
    best_d = torch.full((query.shape[0], 0), float("inf"), device=query.device)
    best_i = torch.zeros((query.shape[0], 0), dtype=torch.long, device=query.device)
    for start in range(0, dataset.shape[0], batch_size):  # blocks of the dataset, not samples
        block = embed(dataset[start : start + batch_size]).to(query.device)  # (B, F)
        # direct differences, not the |a|^2 + |b|^2 - 2ab expansion, so duplicates are at 0
        d = torch.cat(
            [torch.cdist(q, block, compute_mode="donot_use_mm_for_euclid_dist")
             for q in query.split(batch_size)]
        )  # (M, B)
        idx = torch.arange(start, start + block.shape[0], device=query.device).expand_as(d)
        all_d, all_i = torch.cat([best_d, d], dim=1), torch.cat([best_i, idx], dim=1)
        best_d, order = all_d.topk(min(k, all_d.shape[1]), dim=1, largest=False)  # (M, k)
        best_i = all_i.gather(1, order)
    return Neighbours(indices=best_i, distances=best_d)


def _embedding(
    features: FeatureExtractor | nn.Module | Callable[[Tensor], Tensor] | None,
) -> Callable[[Tensor], Tensor]:
    """images (B, C, H, W) -> (B, F) float features for `nearest_neighbours`."""
    if features is None:
        return lambda images: images.flatten(1).float()
    if isinstance(features, nn.Module):
        extractor = feature_extractor(features)
        return lambda images: extractor.features(images.to(_device_of(extractor, images.device)))
    return lambda images: features(images).flatten(1).float()


def _bounded_logits(logits: Tensor, max_gap: float = 500.0) -> Tensor:
    """Logits (N, K) in float64 with each row's gap to its maximum capped at `max_gap`.

    torchmetrics' IS takes log of the split-mean softmax: a class whose probability underflows
    to 0 in every sample gives 0 * (finite - log 0) = NaN. Confident classifiers on odd inputs
    (a LeNet on an untrained generator's grey images) easily have logit gaps > 104, where
    float32 softmax underflows. In float64 with gaps <= 500 every probability is >= e^-500 / K
    > 0 (no underflow), and the probabilities change by less than 1e-200: the score is exact."""
    wide = logits.double()
    return torch.maximum(wide, wide.amax(dim=1, keepdim=True) - max_gap)


def _device_of(module: nn.Module, default: torch.device) -> torch.device:
    """The device of a module's first parameter or buffer (`default` if it has none)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return default
