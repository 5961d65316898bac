"""Small generated head-like volumes for the expansion-model tests (no real data needed)."""

from __future__ import annotations

import numpy as np

from HematomaExpansionLib.core.ct_image import CTImage


def ball(shape, center, radius_vox, spacing=(1.0, 1.0, 1.0)):
    zz, yy, xx = np.indices(shape)
    d = ((zz - center[0]) * spacing[0]) ** 2 + ((yy - center[1]) * spacing[1]) ** 2 + ((xx - center[2]) * spacing[2]) ** 2
    return d <= radius_vox ** 2


def head(shape=(24, 72, 72), spacing_zyx=(2.5, 1.0, 1.0), seed=0, direction=None):
    """A skull ring (bone), brain ~32 HU with noise, air outside. Array [k, j, i]."""
    rng = np.random.default_rng(seed)
    S, R, C = shape
    arr = np.full(shape, -1000.0, np.float32)
    yy, xx = np.mgrid[0:R, 0:C]
    r = np.hypot((yy - R / 2) * spacing_zyx[1], (xx - C / 2) * spacing_zyx[2])
    rmax = min(R * spacing_zyx[1], C * spacing_zyx[2]) / 2 - 2
    for k in range(S):
        arr[k][r < rmax] = 800.0
        arr[k][r < rmax - 4] = 32.0
    arr += rng.normal(0, 3.0, shape).astype(np.float32) * (arr < 100)
    spacing_xyz = (spacing_zyx[2], spacing_zyx[1], spacing_zyx[0])
    return CTImage(arr, spacing_xyz, (0.0, 0.0, 0.0), np.eye(3) if direction is None else direction)


def hematoma_case(seed=0, radius_mm=9.0, hypodense=False, blend=False, islands=0, hu=66.0, shape=(24, 72, 72)):
    """(ct, labels) with one spherical IPH (label 1) and optional signs painted in."""
    ct = head(shape, seed=seed)
    sp = (2.5, 1.0, 1.0)
    S, R, C = shape
    c = (S // 2, R // 2, C // 2)
    m = ball(shape, c, radius_mm, sp)
    arr = ct.array
    rng = np.random.default_rng(seed + 1)
    arr[m] = hu + rng.normal(0, 2.0, int(m.sum()))
    if hypodense:
        pocket = ball(shape, c, 3.5, sp)
        arr[pocket] = hu - 28.0
    if blend:
        half = m & (np.indices(shape)[2] > c[2] + 1)
        arr[half] = hu - 24.0 + rng.normal(0, 2.0, int(half.sum()))
    labels = m.astype(np.uint8)
    for n in range(islands):
        ang = 2 * np.pi * n / max(1, islands)
        cc = (c[0], int(c[1] + 17 * np.sin(ang)), int(c[2] + 17 * np.cos(ang)))
        b = ball(shape, cc, 2.6, sp)
        arr[b] = hu
        labels[b] = 1
    ct.array = arr
    return ct, labels
