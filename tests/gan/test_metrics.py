"""FID / KID / IS through torchmetrics with classifier features, and nearest neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from advlab.gan.features import ClassifierFeatures, feature_extractor
from advlab.gan.metrics import (
    SCORE_KEYS,
    GenerativeScores,
    generate_images,
    nearest_neighbours,
    score_generator,
)


def tiny_classifier(in_features: int = 64, classes: int = 5, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_features, 16), nn.ReLU(), nn.Linear(16, classes)
    )


def scores_of(real: torch.Tensor, fake: torch.Tensor, classifier: nn.Module) -> dict[str, float]:
    scores = GenerativeScores(classifier, kid_subsets=20, is_splits=2)
    scores.add_real(real)
    scores.add_fake(fake)
    return scores.compute()


def test_fid_kid_zero_on_same_set_and_grow_with_shift() -> None:
    torch.manual_seed(0)
    images = torch.rand(300, 1, 8, 8) * 0.6
    classifier = tiny_classifier()
    same = scores_of(images, images, classifier)
    small = scores_of(images, images + 0.1, classifier)
    large = scores_of(images, images + 0.4, classifier)
    assert set(same) == set(SCORE_KEYS)
    assert abs(same["fid"]) < 1e-6
    assert 1e-3 < small["fid"] < large["fid"]
    assert 0 < small["kid_mean"] < large["kid_mean"]
    # KID draws independent random subsets of the two copies: unbiased, so ~0 up to noise
    assert abs(same["kid_mean"]) < small["kid_mean"] / 10


def test_fid_matches_closed_form_on_pixel_features() -> None:
    # a single linear layer: its input (the 'penultimate activations') is the flat image
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    rng = torch.Generator().manual_seed(1)
    real = torch.rand(500, 1, 2, 2, generator=rng) * 0.5
    fake = torch.rand(400, 1, 2, 2, generator=rng) * 0.3 + 0.4
    got = scores_of(real, fake, classifier)["fid"]
    a, b = real.flatten(1).double().numpy(), fake.flatten(1).double().numpy()
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (
        ((a.mean(0) - b.mean(0)) ** 2).sum()
        + np.trace(s_a + s_b - 2 * scipy.linalg.sqrtm(s_a @ s_b).real)
    )
    assert got == pytest.approx(expected, rel=1e-4)


def test_inception_score_of_uniform_and_confident_classifiers() -> None:
    uniform = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    nn.init.zeros_(uniform[1].weight), nn.init.zeros_(uniform[1].bias)  # p(y|x) = 1/10
    images = torch.rand(200, 1, 8, 8)
    result = scores_of(images, images, uniform)
    assert result["inception_score"] == pytest.approx(1.0, abs=1e-6)
    # confident and balanced over 4 classes: IS = exp(H(y)) = 4 (Salimans et al. 2016)
    confident = nn.Sequential(nn.Flatten(), nn.Linear(4, 4))
    with torch.no_grad():
        confident[1].weight.copy_(50 * torch.eye(4)), confident[1].bias.zero_()
    one_hot = torch.eye(4)[torch.arange(400) % 4].view(400, 1, 2, 2)  # balanced classes
    result = scores_of(one_hot, one_hot, confident)
    assert result["inception_score"] == pytest.approx(4.0, abs=0.1)
    # extremely confident (logit gaps of 1000, float32 softmax underflows): still finite, ~4
    with torch.no_grad():
        confident[1].weight.mul_(20)
    result = scores_of(one_hot, one_hot, confident)
    assert result["inception_score"] == pytest.approx(4.0, abs=0.1)
    # and all samples in one class: IS = 1, not NaN
    result = scores_of(one_hot, one_hot[::4].repeat(4, 1, 1, 1), confident)
    assert result["inception_score"] == pytest.approx(1.0, abs=1e-6)


def test_classifier_features_are_penultimate_activations() -> None:
    classifier = tiny_classifier()
    extractor = ClassifierFeatures(classifier)
    images = torch.rand(7, 1, 8, 8)
    features, logits = extractor(images)
    assert extractor.num_features == 16 and features.shape == (7, 16)
    assert torch.allclose(features, classifier[:3](images))  # input of the last Linear
    assert torch.allclose(logits, classifier(images))
    assert not classifier.training and not classifier[3]._forward_pre_hooks  # no hook left
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        extractor(images * 2 - 1)  # generator range must be converted first


def test_classifier_checkpoint_spec(tmp_path) -> None:
    from advlab.models import create
    from advlab.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create("fc500-150-10", in_channels=1, num_classes=10, image_size=28)
    path = save_checkpoint(
        tmp_path / "clf.safetensors", model,
        {"model": "fc500-150-10", "model_args": {"in_channels": 1, "image_size": 28}},
    )
    extractor = feature_extractor(f"classifier:{path}")
    assert extractor.num_features == 150
    images = torch.rand(3, 1, 28, 28)
    assert torch.allclose(extractor(images)[1], model.eval()(images), atol=1e-6)


def test_bad_specs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="classifier:<checkpoint>"):
        feature_extractor("vgg")
    # a weights file that does not exist: whether torch-fidelity is installed (a missing
    # weights file) or not (a missing package), the error names the file and the offline
    # fallback
    with pytest.raises((ImportError, FileNotFoundError)) as info:
        feature_extractor("inception:/nonexistent/weights.pth")
    assert "weights" in str(info.value) and "classifier:<checkpoint>" in str(info.value)


def test_score_generator_is_seeded() -> None:
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))
    real = torch.rand(120, 1, 8, 8)
    classifier = tiny_classifier()
    first = score_generator(generator, real, classifier, n=100, latent_dim=3, seed=5, kid_subsets=5)
    again = score_generator(generator, real, classifier, n=100, latent_dim=3, seed=5, kid_subsets=5)
    other = score_generator(generator, real, classifier, n=100, latent_dim=3, seed=6, kid_subsets=5)
    # the same computation repeated (same seed, real[:n], same chunks): bit for bit
    assert first == again and first["fid"] != other["fid"]
    images = generate_images(generator, 10, latent_dim=3, seed=5, batch_size=4)
    assert images.shape == (10, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    # GenerativeScores reuses the real statistics across evaluations
    scores = GenerativeScores(classifier, kid_subsets=5, seed=5)
    scores.add_real(real[:100])
    assert scores.score_generator(generator, 100, latent_dim=3, seed=5) == first
    assert scores.score_generator(generator, 100, latent_dim=3, seed=5) == first


def test_nearest_neighbours_find_copies_and_match_brute_force() -> None:
    torch.manual_seed(0)
    dataset = torch.rand(50, 1, 4, 4)
    generated = dataset[[7, 31, 2]].clone()
    found = nearest_neighbours(generated, dataset, None, k=3, batch_size=8)
    assert found.indices[:, 0].tolist() == [7, 31, 2]
    assert torch.all(found.distances[:, 0] == 0)  # exact: cdist without the matmul expansion
    queries = torch.rand(9, 1, 4, 4)
    classifier = tiny_classifier(in_features=16)
    got = nearest_neighbours(queries, dataset, classifier, k=5, batch_size=7)  # chunked
    features = ClassifierFeatures(classifier).features
    q, k = features(queries).double(), features(dataset).double()
    d = (q[:, None, :] - k[None, :, :]).pow(2).sum(-1).sqrt()  # (9, 50), brute force in float64
    expected_d = d.topk(5, dim=1, largest=False).values
    # the neighbours found are at the brute-force k smallest distances (robust to near-ties,
    # which two kernels may order differently)
    assert torch.allclose(d.gather(1, got.indices), expected_d, atol=1e-5)
    assert torch.allclose(got.distances.double(), expected_d, atol=1e-5)
    assert torch.all(got.distances[:, 1:] >= got.distances[:, :-1])  # nearest first
