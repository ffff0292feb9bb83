"""Sets of classifiers on one dataset, for the experiments that compare or combine models
(universal perturbations across networks, ensemble transfer attacks, decision regions).

A model name is either a registry classifier, trained here on the dataset's train split with
the shared quick-scale training (`trained_classifier`, cached), or ``torchvision:<arch>``, an
ImageNet classifier that is never trained here: torchvision's weights, or random weights when
``pretrained`` is False (offline smoke runs of the paper-scale path; the numbers then describe
untrained networks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import torch
from torch import nn

from advlab import data as datasets
from advlab.train import TrainConfig
from advlab.zoo.cache import CLASSIFIER_TRAINING, trained_classifier
from advlab.zoo.context import RunContext

QUICK_MODELS = ("lenet", "fc500-150-10", "mlp-shallow", "cnn-wide", "cnn-bn-dropout")
"""Five architectures of different kinds for the quick scale: a LeNet, fully connected networks
of two depths, a wider CNN and a CNN with BatchNorm and Dropout (all on mnist-5k)."""
DEMO_MODELS = ("fc500-150-10", "mlp-shallow", "cnn-wide")
"""Three architectures that train in seconds on the 8x8 `digits` (`make demo`)."""
DEMO_TRAINING = replace(CLASSIFIER_TRAINING, epochs=5)


def load_classifier(
    ctx: RunContext, name: str, data: str, training: TrainConfig, pretrained: bool = True
) -> nn.Module:
    """Classifier ``name`` for dataset ``data`` in eval mode on ctx.device (see the module
    docstring); a torchvision model without cached weights says how to proceed."""
    if not name.startswith("torchvision:"):
        return trained_classifier(ctx, name, data, training)
    from advlab import models
    from advlab.models.torchvision_models import PretrainedWeightsMissing

    try:
        model = models.create(name, pretrained=pretrained)
    except PretrainedWeightsMissing as error:
        raise PretrainedWeightsMissing(
            f"{error}; or set pretrained=False (--pretrained false) to run with random weights"
        ) from error
    return model.to(ctx.device).eval()


def load_samples(
    ctx: RunContext, data: str, split: str, n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random subset of ``n`` samples of a split, x (n, C, H, W), y (n,) on ctx.device."""
    x, y = datasets.as_tensors(datasets.load(data, split, root=ctx.data_root), limit=n, seed=seed)
    if x.shape[0] == 0:
        raise ValueError(f"the {split} split of {data!r} is empty")
    return x.to(ctx.device), y.to(ctx.device)


def sample_batches(
    ctx: RunContext, data: str, split: str, n: int, seed: int, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The same seeded subset as `load_samples`, streamed in batches (x (b, C, H, W), y (b,)),
    so that a 50,000-image validation set never has to sit in memory at once."""
    dataset = datasets.load(data, split, root=ctx.data_root)
    count = min(n, len(dataset))
    if count < len(dataset):
        index = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count].sort().values
    else:
        index = torch.arange(count)
    if isinstance(dataset, datasets.TensorImageDataset):
        for start in range(0, count, batch_size):
            chunk = index[start : start + batch_size]
            yield dataset.images[chunk].to(ctx.device), dataset.labels[chunk].to(ctx.device)
        return
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, index.tolist()), batch_size=batch_size, num_workers=0
    )
    for x, y in loader:
        yield x.to(ctx.device), torch.as_tensor(y).to(ctx.device)


def correct_by_all(models: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(n,) bool: the samples of x (n, C, H, W) that every model classifies as y (n,)."""
    from advlab.attacks.universal import predict

    correct = torch.ones_like(y, dtype=torch.bool)
    for model in models:
        correct &= predict(model, x) == y
    return correct
