"""Resampling a simulated case onto another grid: background transforms and acquisition variants.

CT intensities are resampled linearly (outside the source: AIR_HU); label maps as one-hot
probabilities, so a label survives where it covers at least half of a new voxel.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from ..core.ct_image import CTImage
from ..core.results import LABEL_IPH, LABEL_IVH

AIR_HU = -1024.0


def resample(ct: CTImage, size, spacing, origin, direction, transform=None, interp=sitk.sitkLinear,
             default=AIR_HU, array=None, pixel=sitk.sitkFloat32) -> np.ndarray:
    src = ct.to_sitk(array if array is not None else ct.array)
    if pixel is not None:
        src = sitk.Cast(src, pixel)
    f = sitk.ResampleImageFilter()
    f.SetSize([int(s) for s in size])
    f.SetOutputSpacing([float(s) for s in spacing])
    f.SetOutputOrigin([float(o) for o in origin])
    f.SetOutputDirection([float(d) for d in np.asarray(direction).ravel()])
    f.SetInterpolator(interp)
    f.SetDefaultPixelValue(float(default))
    if transform is not None:
        f.SetTransform(transform)
    return sitk.GetArrayFromImage(f.Execute(src))


def center_lps(ct: CTImage) -> np.ndarray:
    idx = (np.array(ct.shape[::-1]) - 1) / 2.0
    return ct.ijk_to_lps()[:3, :3] @ idx + np.array(ct.origin)


def resample_case(ct: CTImage, labels: np.ndarray, spacing, direction, size=None, origin=None):
    """Resample CT (linear) and labels (nearest on one-hot-smoothed probabilities) to a new grid."""
    direction = np.asarray(direction, float)
    if size is None or origin is None:
        # bounding box of the source in the new frame
        corners = np.array([[i, j, k] for i in (0, ct.shape[2] - 1) for j in (0, ct.shape[1] - 1)
                            for k in (0, ct.shape[0] - 1)], float)
        lps = (ct.ijk_to_lps()[:3, :3] @ corners.T).T + np.array(ct.origin)
        local = (direction.T @ (lps - lps.mean(0)).T).T
        lo, hi = local.min(0), local.max(0)
        size = np.maximum(1, np.floor((hi - lo) / np.array(spacing)).astype(int) + 1)
        origin = lps.mean(0) + direction @ lo
    arr = resample(ct, size, spacing, origin, direction, default=AIR_HU)
    probs = []
    for lab in (LABEL_IPH, LABEL_IVH):
        probs.append(resample(ct, size, spacing, origin, direction, default=0.0,
                              array=(labels == lab).astype(np.float32)))
    iph_p, ivh_p = probs
    out = np.zeros(arr.shape, np.uint8)
    out[(iph_p >= 0.5) & (iph_p >= ivh_p)] = LABEL_IPH
    out[(ivh_p >= 0.5) & (ivh_p > iph_p)] = LABEL_IVH
    return CTImage(arr, tuple(spacing), tuple(origin), direction, ct.source, {}), out


def thick_slices(ct: CTImage, labels: np.ndarray, thickness: float):
    """Thick-slice reconstruction: average over the slab (partial volume), majority label."""
    sp = list(ct.spacing)
    n = max(1, int(round(thickness / sp[2])))
    # box-average along k, then take every ~thickness/sp slice
    arr = ndi.uniform_filter1d(ct.array, n, axis=0)
    onehot = [ndi.uniform_filter1d((labels == lab).astype(np.float32), n, axis=0) for lab in (LABEL_IPH, LABEL_IVH)]
    step = thickness / sp[2]
    idx = np.arange(0, ct.shape[0] - 1e-6, step)
    k0 = np.clip(np.floor(idx).astype(int), 0, ct.shape[0] - 1)
    k1 = np.clip(k0 + 1, 0, ct.shape[0] - 1)
    w = (idx - k0).astype(np.float32)[:, None, None]

    def samp(a):  # linear along k at fractional positions (exact new spacing)
        return a[k0] * (1 - w) + a[k1] * w
    arr2 = samp(arr)
    p = [samp(o) for o in onehot]
    lab2 = np.zeros(arr2.shape, np.uint8)
    lab2[(p[0] >= 0.5) & (p[0] >= p[1])] = LABEL_IPH
    lab2[(p[1] >= 0.5) & (p[1] > p[0])] = LABEL_IVH
    sp[2] = sp[2] * step
    return CTImage(arr2.astype(np.float32), tuple(sp), ct.origin, ct.direction.copy(), ct.source, {}), lab2
