"""Separable image bases for the sparsifying front end, built once with PyWavelets / SciPy.

Gopalakrishnan et al. (2018, arXiv 1803.03880 and 1810.10625) project an image onto its K
largest coefficients in a basis where natural images are sparse: a 2-D wavelet packet of
level L with periodic extension (PyWavelets' ``WaveletPacket2D(image, wavelet,
"periodization", L)``, as in the authors' code), or the 2-D DCT. Both are separable: the
2-D coefficients of an H x W image X are ``A_H X A_W^T`` for a 1-D analysis matrix A of each
side, and the image is ``S_H C S_W^T`` for the 1-D synthesis matrix S = A^{-1} (= A^T for the
orthonormal bases: every orthogonal wavelet, and the DCT). The 1-D matrices are obtained by
running PyWavelets' own `dwt` / `idwt` on the columns of an identity matrix, so the front end
applies exactly PyWavelets' transform as two small matrix products per image, batched, on any
device. A 2-D wavelet packet is the tensor product of 1-D packets (each `dwt2` filters rows
and columns separately, and a packet splits every node), so only the order of the
coefficients differs from `WaveletPacket2D`'s, which the top-K selection does not see.

Kept in `advlab.models` (not `advlab.defenses`) because a front end is a fixed layer of a
classifier that `advlab.models.load_checkpoint` must be able to rebuild from its name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

DCT = "dct"


def basis_names() -> list[str]:
    """Every basis name: "dct" and PyWavelets' discrete wavelets (orthogonal ones such as
    haar, db1-db38, sym2-sym20, coif1-coif17, dmey, and biorthogonal bior*/rbio*)."""
    import pywt

    return [DCT, *pywt.wavelist(kind="discrete")]


@dataclass(frozen=True)
class SeparableBasis:
    """1-D analysis and synthesis matrices (size x size) of one side of the image.

    coefficients = analysis @ signal; signal = synthesis @ coefficients. `orthonormal`:
    analysis @ analysis.T == I (then synthesis == analysis.T and the front end is an
    orthogonal projection, the setting of the paper's K/N result)."""

    name: str
    size: int
    level: int
    analysis: np.ndarray
    synthesis: np.ndarray
    orthonormal: bool


def _packet_analysis(signals: np.ndarray, wavelet: str, level: int) -> np.ndarray:
    """Level-`level` periodised 1-D wavelet packet of each column of `signals` (n, m):
    (n, m) coefficients in natural node order (a, d; then aa, ad, da, dd; ...)."""
    import pywt

    blocks = [signals]
    for _ in range(level):
        blocks = [part for b in blocks for part in pywt.dwt(b, wavelet, mode="periodization", axis=0)]
    return np.concatenate(blocks, axis=0)


def _packet_synthesis(coefficients: np.ndarray, wavelet: str, level: int) -> np.ndarray:
    """Inverse of `_packet_analysis` with PyWavelets' `idwt`, column by column (batched)."""
    import pywt

    if level == 0:
        return coefficients
    half = coefficients.shape[0] // 2  # first half: the packet of the approximation node
    low = _packet_synthesis(coefficients[:half], wavelet, level - 1)
    high = _packet_synthesis(coefficients[half:], wavelet, level - 1)
    return np.asarray(pywt.idwt(low, high, wavelet, mode="periodization", axis=0))


@functools.lru_cache(maxsize=64)
def separable_basis(name: str, size: int, level: int = 1) -> SeparableBasis:
    """The 1-D matrices of basis `name` for signals of length `size` (built once, cached).

    Wavelets: a level-`level` periodised wavelet packet, which needs `size` divisible by
    2**level (otherwise periodisation pads and the transform is not square). "dct": the
    orthonormal DCT-II, which has no levels (level must be 1). Unknown names list the valid
    ones; a transform that PyWavelets cannot invert at this size raises ValueError.
    """
    valid = basis_names()
    if name not in valid:
        raise ValueError(f"unknown basis {name!r}; valid bases: {', '.join(valid)}")
    if isinstance(level, bool) or not isinstance(level, int) or level < 1:
        raise ValueError(f"level must be an integer >= 1, got {level!r}")
    if size < 2:
        raise ValueError(f"image side must be >= 2 pixels, got {size}")
    eye = np.eye(size)
    if name == DCT:
        if level != 1:
            raise ValueError(f"the dct basis has no levels; use level 1, got {level}")
        from scipy.fft import dct

        analysis = dct(eye, type=2, norm="ortho", axis=0)
        synthesis = analysis.T.copy()
    else:
        if size % 2**level:
            raise ValueError(
                f"a level-{level} periodised wavelet needs an image side divisible by "
                f"{2**level}, got {size}; use a lower level"
            )
        analysis = _packet_analysis(eye, name, level)
        synthesis = _packet_synthesis(eye, name, level)
    if analysis.shape != (size, size) or not np.allclose(synthesis @ analysis, eye, atol=1e-8):
        raise ValueError(f"basis {name!r} at level {level} is not invertible on {size} samples")
    orthonormal = bool(np.allclose(analysis @ analysis.T, eye, atol=1e-8))
    for matrix in (analysis, synthesis):
        matrix.setflags(write=False)
    return SeparableBasis(name, size, level, analysis, synthesis, orthonormal)
