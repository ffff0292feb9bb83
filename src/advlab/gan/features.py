"""Feature extractors for the generative metrics (FID, KID, Inception score) and for the
nearest-neighbour memorisation check.

A `FeatureExtractor` maps images (N, C, H, W) in [0, 1] to a pair
    (features (N, num_features), logits (N, num_classes)):
features feed the Frechet and kernel distances (Heusel et al. 2017; Binkowski et al. 2018),
logits the Inception score (Salimans et al. 2016). Two kinds exist:

- `InceptionFeatures`: the standard Inception-v3 of the FID/IS literature, through
  torchmetrics' wrapper of torch-fidelity (2048-d pool features, 1008 'unbiased' logits). It
  needs the torch-fidelity package and its weights file; offline, a clear error says what is
  missing and where it goes.
- `ClassifierFeatures`: any classifier trained on the same data (for example LeNet on MNIST,
  the offline default): features are the penultimate activations (the input of the last
  linear layer), logits its output. FID with such features is comparable only between runs
  that use the same classifier.
- `VGGLayerFeatures`: activations of five layers of an ImageNet VGG-16 (conv1_2, conv2_2,
  conv3_2, conv4_2, conv5_2, after Chen & Koltun 2017), the feature space of Karras et al.'s
  nearest-neighbour memorisation check (Figure 10).

`feature_extractor(spec)` builds one from "inception", "inception:<weights file>",
"classifier:<checkpoint>", "vgg16" or an `nn.Module` classifier.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_ENV = "ADVLAB_INCEPTION_WEIGHTS"
SPECS = ("inception", "inception:<weights file>", "classifier:<checkpoint>", "vgg16")
# torchvision vgg16.features indices of the ReLUs after conv1_2, conv2_2, conv3_2, conv4_2,
# conv5_2 (the layers Chen & Koltun 2017 match and Karras et al. 2018 search with)
VGG16_LAYERS = (3, 8, 13, 20, 27)
VGG16_MIN_SIDE = 32  # its five 2x2 max-pools leave 1 px of a 32-px image, nothing of a smaller one


class FeatureExtractor(nn.Module):
    """Base class: forward(images (N, C, H, W) in [0, 1]) -> (features (N, F), logits (N, K)).

    Subclasses set `num_features` (F) once known. Extractors never train: `train()` keeps them
    in eval mode (dropout off, batch-norm statistics frozen), like torchmetrics' Inception."""

    num_features: int

    def train(self, mode: bool = True) -> FeatureExtractor:
        return super().train(False)

    def features(self, images: Tensor) -> Tensor:
        """Only the features (N, F) of images in [0, 1]."""
        return self(images)[0]


def _rgb_images(images: Tensor) -> Tensor:
    """Checked images (N, C, H, W) in [0, 1], grey ones repeated to 3 channels: what the
    ImageNet networks (Inception, VGG) take."""
    _check_images(images)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def _check_images(images: Tensor) -> None:
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    if images.numel() and (images.min() < -1e-4 or images.max() > 1 + 1e-4):
        raise ValueError(
            f"images must be in [0, 1] at the metric boundary, got values in "
            f"[{images.min().item():.3f}, {images.max().item():.3f}] (generator outputs in "
            "[-1, 1] must be mapped with (x + 1) / 2)"
        )


def _feature_layer(classifier: nn.Module) -> nn.Module:
    """The layer whose input is used as the classifier's feature vector: the last nn.Linear
    (penultimate activations), or, for all-convolutional networks (e.g. NiN), the last
    nn.Conv2d (its input, averaged over space)."""
    linears = [m for m in classifier.modules() if isinstance(m, nn.Linear)]
    if linears:
        return linears[-1]
    convs = [m for m in classifier.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        return convs[-1]
    raise ValueError(
        f"{type(classifier).__name__} has no nn.Linear or nn.Conv2d layer whose input could "
        "serve as the penultimate features"
    )


class ClassifierFeatures(FeatureExtractor):
    """Features of a classifier trained on the same dataset (the offline alternative to
    Inception features for FID/KID/IS, as in e.g. the MNIST evaluations that use a LeNet):
    features = the input of its last linear layer (N, F) (spatially averaged if that layer is
    a convolution), logits = its output (N, K).

    classifier: maps [0, 1] images (N, C, H, W) to logits (N, K) (advlab classifiers normalise
    inside). It is put in eval mode; its parameters are not changed.
    """

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier
        self._layer = _feature_layer(classifier)
        if isinstance(self._layer, nn.Linear):
            self.num_features = self._layer.in_features
        else:
            self.num_features = self._layer.in_channels  # type: ignore[assignment]
        self.eval()

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        _check_images(images)
        captured: list[Tensor] = []

        def capture(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
            x = inputs[0]
            captured.append(x.mean(dim=(-2, -1)) if x.dim() == 4 else x.flatten(1))  # (N, F)

        # a temporary hook: the classifier is left exactly as it was given
        handle = self._layer.register_forward_pre_hook(capture)
        try:
            logits = self.classifier(images)  # (N, K)
        finally:
            handle.remove()
        features = captured[-1] if captured else None
        if features is None or logits.dim() != 2:
            raise ValueError(
                f"{type(self.classifier).__name__} did not produce (N, K) logits through its "
                f"feature layer (got logits {tuple(logits.shape)})"
            )
        return features.float(), logits.float()


def default_inception_weights() -> Path:
    """Where the Inception weights are looked for: $ADVLAB_INCEPTION_WEIGHTS, else torch hub's
    checkpoint folder (where torch-fidelity downloads them)."""
    if os.environ.get(INCEPTION_WEIGHTS_ENV):
        return Path(os.environ[INCEPTION_WEIGHTS_ENV])
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


class InceptionFeatures(FeatureExtractor):
    """The Inception-v3 network of FID (Heusel et al. 2017) and IS (Salimans et al. 2016), as
    packaged by torch-fidelity through torchmetrics: features = 2048-d pool3 activations,
    logits = the 1008 'unbiased' logits. Images in [0, 1] are quantised to uint8 and grey
    images repeated to 3 channels; the network resizes to 299x299 itself.

    weights: the weights file (default: `default_inception_weights()`); download=True lets
    torch-fidelity fetch it when missing (needs a network).
    """

    def __init__(self, weights: str | Path | None = None, download: bool = False) -> None:
        super().__init__()
        path = Path(weights) if weights is not None else default_inception_weights()
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
            from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE
        except ImportError as error:  # pragma: no cover - torchmetrics is a dependency
            raise ImportError(f"the 'inception' features need torchmetrics: {error}") from error
        if not _TORCH_FIDELITY_AVAILABLE:
            raise ImportError(
                "the 'inception' feature extractor needs the torch-fidelity package "
                "(`pip install torch-fidelity`) and its weights file "
                f"{INCEPTION_WEIGHTS_FILE} at {path}; without them (offline), use "
                "'classifier:<checkpoint>' features, e.g. a LeNet trained on the same data"
            )
        if not path.is_file() and not download:
            raise FileNotFoundError(
                f"Inception weights file {INCEPTION_WEIGHTS_FILE} not found at {path}. Put it "
                f"there (or set ${INCEPTION_WEIGHTS_ENV} to its path, or use "
                "'inception:<weights file>'), allow a download, or use 'classifier:<checkpoint>' "
                "features offline"
            )
        self.net = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=["2048", "logits_unbiased"],
            feature_extractor_weights_path=str(path) if path.is_file() else None,
        )
        self.num_features = 2048
        self.eval()

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        images = _rgb_images(images)
        quantised = (images * 255).round().clamp(0, 255).to(torch.uint8)  # what FID code expects
        # the torch-fidelity forward returns one tensor per requested feature, in order
        features, logits = self.net._torch_fidelity_forward(quantised)
        return features.flatten(1).float(), logits.flatten(1).float()


class VGGLayerFeatures(FeatureExtractor):
    """Five VGG-16 layers as one feature vector (Karras et al. 2018, Figure 10: "activations
    from five VGG layers, as suggested by Chen & Koltun (2017)"): the ReLU outputs after
    conv1_2, conv2_2, conv3_2, conv4_2 and conv5_2, each average-pooled to at most `grid` x
    `grid` positions (4: about 24k numbers per image whatever its size; the full maps of a
    128-px image are 2.4M, too many to search 10,000 samples in), flattened and scaled by
    1 / sqrt(its size), so that a squared distance is the sum over the layers of their mean
    squared differences. Grey images are repeated to 3 channels; ImageNet normalisation is
    inside. logits: VGG-16's ImageNet logits. Images smaller than VGG16_MIN_SIDE (32 px) are
    first resized up to it (bilinear), since VGG-16's five max-pools would leave nothing of them.

    pretrained=True loads torchvision's ImageNet weights (cached or downloaded; offline a
    clear error names the file); False builds the untrained network (tests)."""

    def __init__(self, pretrained: bool = True, grid: int = 4) -> None:
        super().__init__()
        from advlab.models import torchvision_models

        self.net = torchvision_models.torchvision_classifier("torchvision:vgg16",
                                                             pretrained=pretrained)
        self.grid = grid
        self.num_features = -1  # depends on the image size; set on first use
        self.eval()

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        images = _rgb_images(images)
        short_side = min(images.shape[-2:])
        if short_side < VGG16_MIN_SIDE:  # (N, 3, H, W) -> at least 32 px on the short side
            size = [math.ceil(n * VGG16_MIN_SIDE / short_side) for n in images.shape[-2:]]
            images = torch.nn.functional.interpolate(images, size=size, mode="bilinear",
                                                     align_corners=False)
        normalize, vgg = self.net[0], self.net[1]
        layers: nn.Sequential = vgg.features  # type: ignore[assignment]
        x = normalize(images)
        parts = []
        for index, layer in enumerate(layers):
            x = layer(x)
            if index in VGG16_LAYERS:
                side = (min(self.grid, x.shape[-2]), min(self.grid, x.shape[-1]))
                pooled = torch.nn.functional.adaptive_avg_pool2d(x, side).flatten(1)
                parts.append(pooled / pooled.shape[1] ** 0.5)  # (N, C_l * grid^2)
        features = torch.cat(parts, dim=1)
        self.num_features = int(features.shape[1])
        head: nn.Module = vgg.classifier  # type: ignore[assignment]
        pool: nn.Module = vgg.avgpool  # type: ignore[assignment]
        logits = head(torch.flatten(pool(x), 1))  # (N, 1000)
        return features, logits


def feature_extractor(
    spec: str | nn.Module, *, device: str | torch.device = "cpu", download: bool = False
) -> FeatureExtractor:
    """Build a feature extractor from a spec:

    - "inception": standard Inception-v3 weights (see `InceptionFeatures`);
    - "inception:<weights file>": the same from an explicit weights file;
    - "classifier:<checkpoint>": a classifier checkpoint (file or run directory) saved by
      `advlab.models.checkpoint.save_checkpoint`, loaded with `load_checkpoint`;
    - "vgg16": five layers of an ImageNet VGG-16 (`VGGLayerFeatures`, pretrained);
    - an `nn.Module`: a `FeatureExtractor` is returned as is, any other module is treated as a
      classifier (`ClassifierFeatures`).
    """
    if isinstance(spec, FeatureExtractor):
        return spec
    if isinstance(spec, nn.Module):
        return ClassifierFeatures(spec)
    if spec == "inception":
        return InceptionFeatures(download=download).to(device)
    if spec == "vgg16":
        return VGGLayerFeatures().to(device)
    if spec.startswith("inception:") and len(spec) > len("inception:"):
        return InceptionFeatures(spec.split(":", 1)[1], download=download).to(device)
    if spec.startswith("classifier:") and len(spec) > len("classifier:"):
        from advlab.models import load_checkpoint

        path = spec.split(":", 1)[1]
        logger.info("classifier features from %s", path)
        return ClassifierFeatures(load_checkpoint(path, device=device))
    raise ValueError(f"unknown feature extractor {spec!r}; valid: {', '.join(SPECS)}")
