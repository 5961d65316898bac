"""Thin-slice scans are segmented on thicker slabs and the result mapped back to every slice.

Why: a 512×512×300 scan at 0.6 mm has five times the slices the network needs — it was trained
on 0.6–7 mm slices, with ±3 mm context planes, so a 2.5 mm slab carries the same information —
and inference time is linear in the number of slices. ``to_slabs`` averages ``n`` consecutive
slices (a thick-slice reconstruction, like the scanner's own), ``SLAB_MM`` thick; ``to_slices``
interpolates the slab maps linearly back onto the original slice positions, so the mask stays on
the CT's exact grid. Scans with slices ≥ ``SLAB_MM`` / 1.5 are used as they are.
"""

from __future__ import annotations

import numpy as np

SLAB_MM = 2.5


def slab_factor(slice_mm: float) -> int:
    """Slices per slab for a scan with ``slice_mm`` slices (1 = no slabs)."""
    if slice_mm <= 0 or slice_mm * 1.5 > SLAB_MM:
        return 1
    return max(1, int(round(SLAB_MM / slice_mm)))


def to_slabs(hu: np.ndarray, n: int) -> np.ndarray:
    """[S, H, W] → [ceil(S/n), H, W] float32: the mean of each run of ``n`` slices (the last may be shorter)."""
    if n <= 1:
        return hu
    s = hu.shape[0]
    out = np.empty((-(-s // n),) + hu.shape[1:], np.float32)
    for k in range(out.shape[0]):
        out[k] = hu[k * n: (k + 1) * n].mean(axis=0, dtype=np.float32)
    return out


def slab_positions(n_slices: int, n: int) -> np.ndarray:
    """Fractional slab index of every original slice (slab k's centre = slice k·n + (run − 1)/2)."""
    centres = np.array([k * n + (min(n, n_slices - k * n) - 1) / 2.0 for k in range(-(-n_slices // n))])
    return np.interp(np.arange(n_slices, dtype=float), centres, np.arange(len(centres), dtype=float))


def to_slices(maps: np.ndarray, n_slices: int, n: int, which: slice = slice(None)) -> np.ndarray:
    """[S', ...] slab maps → [n_slices, ...] by linear interpolation between slab centres; ``which``: only
    those original slices (a few at a time keeps a 300-slice float map out of memory)."""
    if n <= 1:
        return maps if which == slice(None) else maps[which]
    pos = slab_positions(n_slices, n)[which]
    k0 = np.floor(pos).astype(int)
    k1 = np.minimum(k0 + 1, maps.shape[0] - 1)
    w = (pos - k0).astype(np.float32).reshape((-1,) + (1,) * (maps.ndim - 1))
    return maps[k0] * (1 - w) + maps[k1] * w
