"""The sparsifying front end against PyWavelets' and SciPy's own transforms, its two gradients,
and the paper's K/N attenuation of a linear classifier's output distortion."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import pywt
import torch
from scipy.fft import dctn, idctn

from advlab import models
from advlab.defenses.sparsity import (
    FrontEndSpec,
    SparsifyingFrontEnd,
    linear_output_distortion,
    separable_basis,
    with_gradient,
)


def _reference_packet(image: np.ndarray, k: int, wavelet: str, level: int) -> np.ndarray:
    """The authors' recipe with PyWavelets itself: WaveletPacket2D (periodization), keep the
    k largest |coefficients| over all channels of one image (C, H, W), reconstruct, clip."""
    packets = [pywt.WaveletPacket2D(channel, wavelet, "periodization", level) for channel in image]
    nodes = [[node.path for node in wp.get_level(level)] for wp in packets]
    flat = np.concatenate([wp[p].data.ravel() for wp, paths in zip(packets, nodes, strict=False) for p in paths])
    keep = np.zeros_like(flat)
    top = np.argsort(-np.abs(flat))[:k]
    keep[top] = flat[top]
    start, out = 0, []
    for wp, paths in zip(packets, nodes, strict=False):
        for p in paths:
            size = wp[p].data.size
            wp[p].data = keep[start : start + size].reshape(wp[p].data.shape)
            start += size
        out.append(wp.reconstruct(update=False))
    return np.clip(np.stack(out), 0.0, 1.0)


@pytest.mark.parametrize(("wavelet", "level", "channels", "size"), [
    ("coif1", 1, 1, (28, 28)), ("db5", 1, 1, (28, 28)), ("haar", 2, 1, (16, 16)),
    ("sym4", 2, 3, (16, 24)), ("bior4.4", 1, 1, (28, 28)), ("coif1", 1, 3, (8, 8)),
])  # fmt: skip
def test_equals_pywavelets_top_k_reconstruction(wavelet: str, level: int, channels: int,
                                                size: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5, channels, *size, generator=g, dtype=torch.float64)
    front = SparsifyingFrontEnd(wavelet, level, rho=0.05, image_size=size)
    k = front.kept(channels * size[0] * size[1])
    ours = front(x).numpy()
    reference = np.stack([_reference_packet(image, k, wavelet, level) for image in x.numpy()])
    np.testing.assert_allclose(ours, reference, atol=2e-6)
    assert int(front.support(x).sum()) == 5 * k  # exactly K per image


def test_dct_equals_scipy_top_k_reconstruction() -> None:
    x = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    front = SparsifyingFrontEnd("dct", 1, rho=0.1, image_size=12)
    k = front.kept(144)
    expected = []
    for image in x[:, 0].numpy():
        c = dctn(image, norm="ortho")
        c[np.abs(c) < np.sort(np.abs(c).ravel())[-k]] = 0.0
        expected.append(np.clip(idctn(c, norm="ortho"), 0.0, 1.0))
    np.testing.assert_allclose(front(x)[:, 0].numpy(), np.stack(expected), atol=2e-6)


def test_orthonormal_bases_and_keeping_everything_is_the_identity() -> None:
    for name in ("coif1", "db5", "haar", "dct"):
        b = separable_basis(name, 28, 1)
        assert b.orthonormal
        np.testing.assert_allclose(b.analysis @ b.analysis.T, np.eye(28), atol=1e-10)
    assert not separable_basis("bior4.4", 28, 1).orthonormal
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(SparsifyingFrontEnd("coif1", rho=1.0)(x), x, atol=1e-6, rtol=0)


def _interior_front(basis: str = "haar") -> SparsifyingFrontEnd:
    return SparsifyingFrontEnd(basis, 1, rho=0.25, image_size=4, bounds=(-100.0, 100.0))


def test_exact_gradient_is_the_projection_and_bpda_the_identity() -> None:
    front = _interior_front()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    w = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)

    def grad(mode: str) -> torch.Tensor:
        x_req = x.clone().requires_grad_(True)
        layer = with_gradient(torch.nn.Sequential(front), mode)
        (layer(x_req) * w).sum().backward()
        assert x_req.grad is not None
        return x_req.grad

    # orthonormal basis, no clipping: d<w, f(x)>/dx = P_S(x) w, w projected onto x's support
    projected = front.synthesise(front.coefficients(w) * front.support(x))
    torch.testing.assert_close(grad("exact"), projected)
    torch.testing.assert_close(grad("bpda"), w)
    assert front.gradient == "exact"  # the views did not change the layer


def test_linear_classifier_distortion_is_attenuated_by_k_over_n() -> None:
    """Gopalakrishnan et al. 2018 (1803.03880, Section 2): through a front end keeping K of N
    coefficients, the l_inf attack e = eps sign(w) moves w.f(x) by (K/N) eps ||w||_1 on
    average over supports (exactly, for an orthonormal basis): averaged over all C(16, 4)
    supports of a 4x4 image here, against eps ||w||_1 without the front end."""
    front = _interior_front("dct")
    n, k = 16, front.kept(16)
    g = torch.Generator().manual_seed(4)
    w = torch.randn(1, 4, 4, generator=g, dtype=torch.float64)
    supports = torch.tensor(list(itertools.combinations(range(n), k)))  # (1820, K)
    coefficients = torch.full((len(supports), n), 0.01, dtype=torch.float64)
    coefficients.scatter_(1, supports, 3.0)  # large on S, small elsewhere
    x = front.synthesise(coefficients.view(-1, 1, 4, 4))  # (1820, 1, 4, 4), support S
    assert torch.equal(front.support(x).flatten(1).nonzero()[:, 1].view(-1, k), supports)
    eps = 1e-3
    undefended = eps * w.abs().sum()
    semi_white = linear_output_distortion(front, w, x, eps * w.sign().expand_as(x))  # BPDA / sign(w)
    torch.testing.assert_close(semi_white.mean() / undefended, torch.tensor(k / n, dtype=torch.float64))
    # the exact-gradient (white-box) attack e = eps sign(P_S w) gets eps ||P_S w||_1, more
    projected = front.synthesise(front.coefficients(w.expand_as(x)) * front.support(x))
    white = linear_output_distortion(front, w, x, eps * projected.sign())
    torch.testing.assert_close(white, eps * projected.abs().flatten(1).sum(1))
    assert bool((white >= semi_white - 1e-12).all()) and bool((white <= undefended + 1e-12).all())


def test_sparsified_classifier_rebuilds_from_its_checkpoint(tmp_path: Path) -> None:
    args = FrontEndSpec.parse("db5:0.03").model_args(
        "sparsity-mlp", {"in_channels": 1, "num_classes": 2, "image_size": 28, "hidden": 6})
    net = models.create("sparsified", **args)
    models.save_checkpoint(tmp_path / "run", net, {"model": "sparsified", "model_args": args})
    loaded = models.load_checkpoint(tmp_path / "run")
    assert loaded.front_end.basis == "db5" and loaded.front_end.rho == 0.03
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(loaded(x), net(x))
    assert not any("analysis" in k for k in net.state_dict())  # matrices are rebuilt, not stored


def test_with_gradient_shares_tensors_and_leaves_the_model_alone() -> None:
    net = models.create("sparsified", classifier="sparsity-mlp", num_classes=2, rho=0.05)
    view = with_gradient(net, "bpda")
    assert view.front_end.gradient == "bpda" and net.front_end.gradient == "exact"
    assert all(a is b for a, b in zip(net.parameters(), view.parameters(), strict=False))
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(view(x), net(x))


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="valid bases: dct, "):
        SparsifyingFrontEnd("coif99")
    with pytest.raises(ValueError, match="rho"):
        SparsifyingFrontEnd(rho=0.0)
    with pytest.raises(ValueError, match="divisible by 8"):
        SparsifyingFrontEnd("coif1", level=3, image_size=28)
    with pytest.raises(ValueError, match=r"\(N, C, 28, 28\)"):
        SparsifyingFrontEnd()(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="valid: exact, bpda"):
        SparsifyingFrontEnd(gradient="straight")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no SparsifyingFrontEnd"):
        with_gradient(models.create("lenet"), "bpda")
    with pytest.raises(ValueError, match="no levels"):
        separable_basis("dct", 8, 2)


@pytest.mark.parametrize(("text", "expected"), [
    ("coif1:0.035", FrontEndSpec("coif1", 0.035, 1)), ("db5:0.03:2", FrontEndSpec("db5", 0.03, 2)),
    ("DCT:0.1", FrontEndSpec("dct", 0.1, 1)),
])  # fmt: skip
def test_front_end_spec_parses(text: str, expected: FrontEndSpec) -> None:
    assert FrontEndSpec.parse(text) == expected
    assert FrontEndSpec.parse(str(expected)) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("coif1", "BASIS:RHO"), ("coif1:x", "BASIS:RHO"), ("coif7x:0.1", "unknown basis 'coif7x'; valid: dct"),
    ("coif1:1.5", r"in \(0, 1\]"), ("coif1:0.1:0", "LEVEL"),
])  # fmt: skip
def test_front_end_spec_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FrontEndSpec.parse(text)
