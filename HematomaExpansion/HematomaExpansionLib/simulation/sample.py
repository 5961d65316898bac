"""A generated head NCCT with a known hematoma: the demo and test sample on any machine.

It is a phantom, not anatomy: ellipsoidal scalp, skull (bone HU), brain with smooth grey/white
texture, lateral ventricles (CSF), a pineal calcification, and an irregular deep hematoma painted
at acute-blood density (≈62 HU) with heterogeneity, a hypodense pocket and a partial-volume edge.
The true label map is returned, so the measured volume can be checked against a known figure.
Real-anatomy cases come from ``simulation`` when ../shared/data is present.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..core.ct_image import CTImage
from ..core.results import LABEL_IPH, LABEL_IVH

DEFAULT_SHAPE = (32, 256, 256)  # slices, rows, columns
DEFAULT_SPACING = (5.0, 0.9, 0.9)  # mm, numpy order


def _ellipsoid(grid: tuple[np.ndarray, ...], center: tuple[float, ...], radii: tuple[float, ...]) -> np.ndarray:
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii)) <= 1.0


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: tuple[float, ...], amplitude: float) -> np.ndarray:
    n = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return n / (n.std() + 1e-6) * amplitude


def make_sample_case(
    seed: int = 0,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    spacing: tuple[float, float, float] = DEFAULT_SPACING,
    hematoma_ml: float = 30.0,
    with_ivh: bool = True,
    with_hemorrhage: bool = True,
) -> tuple[CTImage, np.ndarray, dict[str, Any]]:
    """Return ``(ct, labels, info)``; ``info`` has the true volumes in mL."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    sz, sy, sx = spacing
    z, y, x = np.meshgrid(
        (np.arange(nz) - nz / 2 + 0.5) * sz, (np.arange(ny) - ny / 2 + 0.5) * sy, (np.arange(nx) - nx / 2 + 0.5) * sx, indexing="ij"
    )
    grid = (z, y, x)
    head_c = (-5.0, 0.0, 0.0)
    outer = _ellipsoid(grid, head_c, (80.0, 100.0, 78.0))
    skull_out = _ellipsoid(grid, head_c, (75.0, 95.0, 73.0))
    brain = _ellipsoid(grid, head_c, (69.0, 89.0, 67.0))
    hu = np.full(shape, -1000.0, np.float32)
    hu[outer] = 35.0  # scalp
    hu[skull_out] = 900.0 + _smooth_noise(rng, shape, (1, 3, 3), 200.0)[skull_out]
    texture = _smooth_noise(rng, shape, (0.6, 6, 6), 1.0)
    hu[brain] = np.where(texture[brain] > 0.2, 39.0, 29.0)  # grey vs white matter
    ventricles = np.zeros(shape, bool)
    for side in (-1, 1):
        ventricles |= _ellipsoid(grid, (12.0, -5.0, side * 11.0), (18.0, 30.0, 6.0))
    hu[ventricles] = 6.0
    pineal = _ellipsoid(grid, (2.0, 28.0, 0.0), (3.0, 2.5, 2.5))
    hu[pineal] = 180.0

    labels = np.zeros(shape, np.uint8)
    if with_hemorrhage:
        iph = _irregular_blob(rng, grid, center=(8.0, 5.0, -30.0), volume_ml=hematoma_ml, spacing=spacing)
        iph &= brain & ~ventricles
        labels[iph] = LABEL_IPH
        if with_ivh:
            ivh = ventricles & (z < 8.0) & (y > 5.0) & (x > 0)  # blood layering in the right occipital horn
            labels[ivh] = LABEL_IVH
        blood = labels > 0
        blood_hu = 62.0 + _smooth_noise(rng, shape, (0.5, 2, 2), 4.0)
        pocket = _ellipsoid(grid, (8.0, 2.0, -32.0), (5.0, 5.0, 5.0)) & iph
        blood_hu[pocket] -= 18.0  # intrahematoma hypodensity
        weight = ndi.gaussian_filter(blood.astype(np.float32), (0.3, 0.7, 0.7))
        weight[blood] = np.maximum(weight[blood], 0.75)
        hu = hu * (1 - weight) + blood_hu * weight
        # A thin perihematomal edema rim (hypodense), as on real scans after a few hours.
        rim = ndi.binary_dilation(iph, iterations=2) & ~blood & brain & ~ventricles
        hu[rim] -= 6.0
    hu += rng.normal(0.0, 4.0, shape).astype(np.float32)
    hu = np.clip(np.round(hu), -1024, 3071).astype(np.float32)
    # LPS grid: numpy axes (k, j, i) = (S, P, L), so the canonical orientation is the identity.
    origin = (-(nx / 2) * sx, -(ny / 2) * sy, -(nz / 2) * sz)
    ct = CTImage(hu, (sx, sy, sz), origin, np.eye(3), source=f"generated-sample-{seed}")
    voxel_ml = float(np.prod(spacing)) / 1000.0
    info = {
        "seed": seed,
        "volume_ml": float((labels > 0).sum() * voxel_ml),
        "iph_volume_ml": float((labels == LABEL_IPH).sum() * voxel_ml),
        "ivh_volume_ml": float((labels == LABEL_IVH).sum() * voxel_ml),
        "description": "generated phantom head NCCT with a deep intraparenchymal hematoma and IVH",
    }
    return ct, labels, info


def _irregular_blob(rng: np.random.Generator, grid, center, volume_ml: float, spacing) -> np.ndarray:
    """Union of a few overlapping ellipsoids scaled to about ``volume_ml``."""
    r = (3.0 * volume_ml * 1000.0 / (4.0 * np.pi)) ** (1 / 3)
    mask = _ellipsoid(grid, center, (r * 1.1, r * 1.0, r * 0.9))
    for _ in range(4):
        offset = rng.normal(0, r * 0.45, 3)
        offset[0] *= 0.5
        radii = tuple(r * rng.uniform(0.35, 0.6) for _ in range(3))
        mask |= _ellipsoid(grid, tuple(c + o for c, o in zip(center, offset)), radii)
    return mask
