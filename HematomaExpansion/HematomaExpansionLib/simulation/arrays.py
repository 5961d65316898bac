"""Small array helpers of the data engine: paste a shape at a centre, smooth random fields."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def paste(shape: np.ndarray, center, out_shape) -> np.ndarray:
    """A bool array of ``out_shape`` holding ``shape`` centred at voxel ``center`` (clipped at the borders)."""
    out = np.zeros(out_shape, bool)
    start = [int(round(c - s / 2.0)) for c, s in zip(center, shape.shape)]
    src, dst = [], []
    for st, s, o in zip(start, shape.shape, out_shape):
        a0, b0 = max(0, -st), max(0, st)
        n = min(s - a0, o - b0)
        if n <= 0:
            return out
        src.append(slice(a0, a0 + n))
        dst.append(slice(b0, b0 + n))
    out[tuple(dst)] = shape[tuple(src)]
    return out


def smooth_noise(shape, spacing, sigma_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-SD Gaussian random field with correlation length ``sigma_mm``."""
    f = rng.standard_normal(shape).astype(np.float32)
    f = ndi.gaussian_filter(f, [sigma_mm / s for s in spacing])
    sd = float(f.std())
    return f / sd if sd > 0 else f
