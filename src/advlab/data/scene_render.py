"""How a procedural scene looks: colours, textures and light from its material map.

Each image picks one palette entry per material (and a small colour jitter), an overall
illumination, and two noise fields drawn from the same seed: fine per-pixel noise and coarse
blobs (size/16 pixels, for foliage and grass). Pixels are colour * (1 + texture) with a
vertical gradient in the sky and horizontal streaks on water, then quantised to 8 bits. Only
uniform draws and arithmetic are used, so the images are identical on every machine.
"""

from __future__ import annotations

import numpy as np

from advlab.data.scene_layout import (
    BUILDING,
    CLOUD,
    DOOR,
    GRASS,
    GROUND,
    MATERIALS,
    MOUNTAIN,
    ROAD,
    ROAD_LINE,
    ROOF,
    SKY,
    SNOW,
    TREE,
    TRUNK,
    WATER,
    WINDOW,
)

# material -> candidate RGB colours in [0, 1] (one is drawn per image)
PALETTES: dict[int, tuple[tuple[float, float, float], ...]] = {
    SKY: ((0.45, 0.65, 0.92), (0.55, 0.75, 0.95), (0.35, 0.55, 0.85), (0.68, 0.74, 0.82),
          (0.85, 0.66, 0.52)),
    CLOUD: ((0.96, 0.96, 0.97), (0.86, 0.87, 0.9), (0.76, 0.77, 0.8)),
    MOUNTAIN: ((0.45, 0.5, 0.62), (0.5, 0.45, 0.55), (0.38, 0.45, 0.42), (0.56, 0.56, 0.6)),
    WATER: ((0.2, 0.4, 0.72), (0.15, 0.33, 0.5), (0.3, 0.5, 0.62)),
    GRASS: ((0.36, 0.66, 0.26), (0.46, 0.72, 0.3), (0.58, 0.66, 0.26), (0.3, 0.56, 0.2)),
    GROUND: ((0.56, 0.42, 0.28), (0.62, 0.52, 0.36), (0.46, 0.36, 0.25), (0.64, 0.61, 0.56)),
    ROAD: ((0.35, 0.35, 0.37), (0.46, 0.46, 0.48), (0.27, 0.27, 0.3)),
    BUILDING: ((0.9, 0.85, 0.75), (0.95, 0.95, 0.92), (0.72, 0.72, 0.74), (0.72, 0.36, 0.26),
               (0.9, 0.8, 0.5), (0.62, 0.57, 0.52)),
    ROOF: ((0.66, 0.2, 0.15), (0.45, 0.25, 0.15), (0.3, 0.3, 0.34), (0.35, 0.4, 0.52)),
    WINDOW: ((0.14, 0.2, 0.3), (0.25, 0.36, 0.52), (0.95, 0.85, 0.45), (0.1, 0.1, 0.12)),
    DOOR: ((0.42, 0.22, 0.1), (0.56, 0.15, 0.12), (0.2, 0.32, 0.2), (0.16, 0.16, 0.22)),
    TREE: ((0.15, 0.4, 0.15), (0.2, 0.5, 0.2), (0.1, 0.3, 0.12), (0.34, 0.45, 0.15)),
    TRUNK: ((0.36, 0.25, 0.15), (0.28, 0.2, 0.13)),
    ROAD_LINE: ((0.92, 0.92, 0.86), (0.95, 0.85, 0.3)),
    SNOW: ((0.95, 0.95, 0.98),),
}
# material -> (fine noise amplitude, coarse blob amplitude, colour jitter)
TEXTURE: dict[int, tuple[float, float, float]] = {
    SKY: (0.015, 0.0, 0.05), CLOUD: (0.03, 0.04, 0.03), MOUNTAIN: (0.05, 0.08, 0.05),
    WATER: (0.05, 0.0, 0.05), GRASS: (0.14, 0.1, 0.06), GROUND: (0.12, 0.1, 0.05),
    ROAD: (0.05, 0.03, 0.03), BUILDING: (0.04, 0.03, 0.04), ROOF: (0.08, 0.04, 0.05),
    WINDOW: (0.04, 0.0, 0.04), DOOR: (0.04, 0.0, 0.04), TREE: (0.16, 0.3, 0.05),
    TRUNK: (0.08, 0.0, 0.04), ROAD_LINE: (0.03, 0.0, 0.02), SNOW: (0.02, 0.0, 0.01),
}  # fmt: skip


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded palettes (M, P, 3), palette sizes (M,), texture amplitudes (M, 3)."""
    width = max(len(v) for v in PALETTES.values())
    palettes = np.zeros((MATERIALS, width, 3), np.float32)
    sizes = np.ones(MATERIALS, np.int64)
    for m, colours in PALETTES.items():
        palettes[m, : len(colours)] = colours
        sizes[m] = len(colours)
    texture = np.zeros((MATERIALS, 3), np.float32)
    for m, amplitudes in TEXTURE.items():
        texture[m] = amplitudes
    return palettes, sizes, texture


def render(material: np.ndarray, horizon: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images (n, 3, S, S) uint8 of material maps (n, S, S) with horizons (n,) in [0, 1]."""
    n, size, _ = material.shape
    palettes, sizes, texture = _tables()
    # per image: a palette entry and a colour jitter per material, and an illumination
    choice = np.floor(rng.random((n, MATERIALS)) * sizes[None, :]).astype(np.int64)  # (n, M)
    colours = palettes[np.arange(MATERIALS)[None, :], choice]  # (n, M, 3)
    jitter = (rng.random((n, MATERIALS, 3)).astype(np.float32) * 2 - 1) * texture[None, :, 2:3]
    colours = colours + jitter
    light = (0.8 + 0.3 * rng.random((n,))).astype(np.float32)[:, None, None]  # (n, 1, 1)
    block = max(1, size // 16)
    coarse = rng.random((n, size // block, size // block)).astype(np.float32)
    coarse = np.repeat(np.repeat(coarse, block, axis=1), block, axis=2)  # (n, S, S)
    fine = rng.random((n, size, size)).astype(np.float32)
    flat = material.astype(np.int64) + MATERIALS * np.arange(n)[:, None, None]  # (n, S, S)
    fine_amp, coarse_amp = texture[:, 0][material], texture[:, 1][material]  # (n, S, S)
    shade = 1.0 + fine_amp * (2 * fine - 1) + coarse_amp * (2 * coarse - 1)  # (n, S, S)
    v = ((np.arange(size, dtype=np.float32) + 0.5) / size)[None, :, None]  # (1, S, 1)
    # the sky lightens towards the horizon; water has horizontal streaks (one value per row)
    towards_horizon = np.minimum(v / horizon.astype(np.float32)[:, None, None], 1.0)
    shade += np.where(material == SKY, 0.25 * towards_horizon**2, 0.0).astype(np.float32)
    streaks = 0.12 * (2 * fine[:, :, :1] - 1)  # (n, S, 1): constant along each row
    shade += np.where(material == WATER, streaks, 0.0).astype(np.float32)
    shade *= light  # (n, S, S)
    image = np.empty((n, 3, size, size), np.uint8)
    for channel in range(3):  # gather each channel's colours, shade, quantise to 8 bits
        value = np.take(colours[..., channel].reshape(-1), flat) * shade
        image[:, channel] = np.clip(np.round(value * 255.0), 0, 255)
    return image
