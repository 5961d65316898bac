"""Bounding boxes of masks, so morphology runs on the region that matters instead of the whole scan."""

from __future__ import annotations

import math

import numpy as np


def bounding_box(mask: np.ndarray, margin_vox=(0, 0, 0)) -> tuple[slice, ...]:
    """Slices of ``mask``'s bounding box grown by ``margin_vox`` per axis (clipped to the array).

    An empty mask gives the whole array.
    """
    idx = (np.nonzero(mask.any(axis=(1, 2)))[0], np.nonzero(mask.any(axis=(0, 2)))[0],
           np.nonzero(mask.any(axis=(0, 1)))[0])
    if any(len(i) == 0 for i in idx):
        return tuple(slice(0, n) for n in mask.shape)
    return tuple(slice(max(0, int(i[0]) - m), min(n, int(i[-1]) + m + 1))
                 for i, m, n in zip(idx, margin_vox, mask.shape))


def margin_voxels(mm: float, spacing) -> tuple[int, int, int]:
    """Voxels per axis that cover ``mm`` millimetres (plus one for safety)."""
    return tuple(int(math.ceil(mm / s)) + 1 for s in spacing)  # type: ignore[return-value]
