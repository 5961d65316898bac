"""Structuring elements in millimetres, shared by segmentation, simulation and the NCCT signs."""

from __future__ import annotations

import math

import numpy as np


def ball(radius_mm: float, spacing) -> np.ndarray:
    """Boolean ellipsoid that is a ball of ``radius_mm`` on a grid of ``spacing`` (mm per axis).

    Its extent along an axis is ``floor(radius / spacing)`` voxels: an axis with spacing coarser than
    the radius gets a flat element (no growth across thick slices).
    """
    r = [max(0, int(math.floor(radius_mm / s))) for s in spacing]
    zz, yy, xx = np.ogrid[-r[0]: r[0] + 1, -r[1]: r[1] + 1, -r[2]: r[2] + 1]
    d = sum((g * s / max(radius_mm, 1e-6)) ** 2 for g, s in zip((zz, yy, xx), spacing))
    return d <= 1.0
