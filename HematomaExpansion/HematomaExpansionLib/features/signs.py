"""NCCT signs of hematoma expansion measured on the baseline CT + IPH mask.

All measurements run on the canonical axial array (``CTImage.to_canonical_array``) cropped to the
hematoma's bounding box (+ margin), so they are cheap (tens of milliseconds) and independent of the
scan's storage order. Definitions (operationalised from the NCCT-sign literature):

- **Density heterogeneity**: SD (HU) of the IPH voxels inside the hematoma core (mask eroded by
  ``CORE_EROSION_MM``, to exclude partial volume at the border; whole mask when the core is empty).
- **Intrahematoma hypodensity** ("any hypodensity", black hole / swirl): connected regions of the
  lightly smoothed core that are ≥ ``HYPO_DELTA_HU`` below the core median, ≥ ``HYPO_MIN_MM3`` in
  volume and enclosed by the hematoma (they do not touch the core's outer border). Reported as
  present (0/1), count and volume fraction. Because small pockets (≈ 2 mm) lose most of their
  contrast to partial volume and rarely pass a fixed threshold, the continuous measurements go
  with them: ``sign_core_min_hu``, the lowest density of the lightly smoothed core (HU), and
  ``sign_hypodensity_depth_hu``, the core median minus that minimum.
- **Blend sign**: the core's intensities split into two populations (Otsu threshold on the core);
  present when the two population means differ by ≥ ``BLEND_DELTA_HU``, the hypodense population
  is 12–75 % of the core, and ≥ 60 % of it is one connected region that reaches the core border
  (a relatively hypodense *part* of the hematoma with a well-defined margin, unlike an enclosed
  pocket). Reported as present (0/1) plus the continuous contrast and coherence.
- **Island / satellite count**: IPH components separate from the largest one (26-connected,
  ≥ ``ISLAND_MIN_ML``). Island sign = count ≥ 3.
- **Shape irregularity**: 1 − solidity (main component volume / its convex-hull volume) and
  1 − sphericity (sphericity from the voxel-face surface area; absolute values are lower than
  pyradiomics' mesh sphericity, differences between hematomas are what matter).

The BAT and BRAIN scores built on these signs are in ``expansion.clinical_scores``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull, QhullError

from ..core.ct_image import CTImage
from ..core.morphology import ball

CORE_EROSION_MM = 1.6
SMOOTH_SIGMA_MM = 0.8
HYPO_DELTA_HU = 15.0
HYPO_MIN_MM3 = 12.0
BLEND_DELTA_HU = 15.0
ISLAND_MIN_ML = 0.01
CROP_MARGIN_MM = 12.0

SIGN_FEATURES = (
    "sign_mean_hu", "sign_heterogeneity_sd", "sign_hypodensity", "sign_hypodensity_count",
    "sign_hypodensity_fraction", "sign_core_min_hu", "sign_hypodensity_depth_hu",
    "sign_blend", "sign_blend_contrast_hu", "sign_blend_coherence",
    "sign_island_count", "sign_island_sign", "sign_irregularity", "sign_nonsphericity",
)

# --- helpers ---------------------------------------------------------------------------------
def _crop(hu: np.ndarray, mask: np.ndarray, spacing, margin_mm: float = CROP_MARGIN_MM):
    idx = np.argwhere(mask)
    lo = idx.min(0)
    hi = idx.max(0) + 1
    m = [int(math.ceil(margin_mm / s)) for s in spacing]
    sl = tuple(slice(max(0, a - p), min(n, b + p)) for a, b, p, n in zip(lo, hi, m, mask.shape))
    return hu[sl], mask[sl], sl


def _otsu(values: np.ndarray) -> float:
    hist, edges = np.histogram(values, bins=64)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        mu0 = m0 / w0
        mu1 = (mt - m0) / w1
        between = w0 * w1 * (mu0 - mu1) ** 2
    between = np.nan_to_num(between)
    return float(centers[int(np.argmax(between))])


def solidity(mask: np.ndarray, spacing) -> float:
    border = mask & ~ndi.binary_erosion(mask)
    pts = np.argwhere(border).astype(np.float64)
    if len(pts) < 8:
        return 1.0
    offs = np.array([[a, b, c] for a in (-0.5, 0.5) for b in (-0.5, 0.5) for c in (-0.5, 0.5)])
    corners = (pts[:, None, :] + offs[None]).reshape(-1, 3) * np.asarray(spacing)
    corners = np.unique(np.round(corners, 4), axis=0)
    try:
        hull = ConvexHull(corners)
    except (QhullError, ValueError):
        return 1.0
    vol = mask.sum() * float(np.prod(spacing))
    return float(min(1.0, vol / hull.volume)) if hull.volume > 0 else 1.0


def _surface_area(mask: np.ndarray, spacing) -> float:
    sz, sy, sx = spacing
    m = np.pad(mask, 1).astype(np.int8)
    area = 0.0
    area += np.count_nonzero(np.diff(m, axis=0)) * sy * sx
    area += np.count_nonzero(np.diff(m, axis=1)) * sz * sx
    area += np.count_nonzero(np.diff(m, axis=2)) * sz * sy
    return float(area)

# --- the measurements ------------------------------------------------------------------------
def measure_signs(ct: CTImage, labels: np.ndarray) -> dict[str, float]:
    """NCCT-sign features of the IPH (label 1; all hemorrhage when there is no IPH)."""
    labels = np.asarray(labels)
    hu_c = ct.to_canonical_array()
    lab_c = ct.to_canonical_array(labels)
    sp = ct.canonical_spacing()
    iph = lab_c == 1
    if not iph.any():
        iph = lab_c > 0
    out = {k: 0.0 for k in SIGN_FEATURES}
    if not iph.any():
        return out
    hu, m, _ = _crop(hu_c, iph, sp)
    hu = hu.astype(np.float32)
    vox_mm3 = float(np.prod(sp))

    # islands (before choosing the main component)
    lab, n = ndi.label(m, structure=np.ones((3, 3, 3)))
    if n > 1:
        sizes = ndi.sum(m, lab, np.arange(1, n + 1)) * vox_mm3 / 1000.0
        main_id = 1 + int(np.argmax(sizes))
        islands = int(np.sum(sizes >= ISLAND_MIN_ML)) - 1
        main = lab == main_id
    else:
        islands, main = 0, m
    out["sign_island_count"] = float(max(0, islands))
    out["sign_island_sign"] = float(islands >= 3)

    # shape
    main_solidity = solidity(main, sp)
    out["sign_irregularity"] = 1.0 - main_solidity
    vol = main.sum() * vox_mm3
    area = _surface_area(main, sp)
    sph = (math.pi ** (1 / 3)) * (6 * vol) ** (2 / 3) / area if area > 0 else 1.0
    out["sign_nonsphericity"] = float(1.0 - min(1.0, sph))

    # density
    core = ndi.binary_erosion(m, ball(CORE_EROSION_MM, sp))
    if core.sum() < 20:
        core = m
    sm = ndi.gaussian_filter(hu, [SMOOTH_SIGMA_MM / s if s < 2.5 else 0.0 for s in sp])
    vals = hu[core]
    out["sign_mean_hu"] = float(vals.mean())
    out["sign_heterogeneity_sd"] = float(vals.std())
    svals = sm[core]
    med = float(np.median(svals))

    # hypodensity: enclosed low-density regions inside the core
    low = core & (sm < med - HYPO_DELTA_HU)
    core_border = core & ~ndi.binary_erosion(core)
    lab_l, nl = ndi.label(low)
    count, hypo_vox = 0, 0
    if nl:
        sizes = ndi.sum(low, lab_l, np.arange(1, nl + 1))
        touches = ndi.maximum(core_border, lab_l, np.arange(1, nl + 1))
        for s, t in zip(sizes, touches):
            if s * vox_mm3 >= HYPO_MIN_MM3 and (not t or s * vox_mm3 >= 4 * HYPO_MIN_MM3):
                count += 1
                hypo_vox += int(s)
    out["sign_hypodensity"] = float(count > 0)
    out["sign_hypodensity_count"] = float(count)
    out["sign_hypodensity_fraction"] = float(hypo_vox / max(1, core.sum()))
    core_min = float(svals.min())
    out["sign_core_min_hu"] = core_min
    out["sign_hypodensity_depth_hu"] = med - core_min

    # blend: two populations with a coherent, border-reaching hypodense part
    if svals.size >= 30 and svals.max() - svals.min() > 1:
        thr = _otsu(svals)
        lowpop = core & (sm <= thr)
        hipop = core & (sm > thr)
        if lowpop.any() and hipop.any():
            contrast = float(sm[hipop].mean() - sm[lowpop].mean())
            frac = float(lowpop.sum() / core.sum())
            lab_b, nb = ndi.label(lowpop)
            sizes = ndi.sum(lowpop, lab_b, np.arange(1, nb + 1))
            big = 1 + int(np.argmax(sizes))
            coherence = float(sizes.max() / lowpop.sum())
            reaches = bool((core_border & (lab_b == big)).any())
            out["sign_blend_contrast_hu"] = contrast
            out["sign_blend_coherence"] = coherence
            out["sign_blend"] = float(
                contrast >= BLEND_DELTA_HU and 0.12 <= frac <= 0.75 and coherence >= 0.6 and reaches
            )
    return out
