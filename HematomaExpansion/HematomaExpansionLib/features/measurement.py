"""Hematoma volumetry: voxel volumes per label, the bedside ABC/2 estimate, slice of maximal area.

ABC/2 follows Kothari et al. (Stroke 1996), on axial slices of the canonical array:
A = largest diameter on the slice of maximal hematoma area, B = largest diameter perpendicular
to A on that slice (both on the largest connected IPH component), C = slice thickness × weighted slice count, where a slice counts 1 when its
hematoma area is ≥ 75 % of the maximal slice's, 0.5 when 25–75 %, and 0 below 25 %.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..anatomy.extent import bounding_box
from ..core.ct_image import CTImage
from ..core.results import LABEL_IPH, LABEL_IVH, Measurements


def _diameters(slice_mask: np.ndarray, row_mm: float, col_mm: float) -> tuple[float, float]:
    """Longest in-plane extent A and the longest extent perpendicular to it, B (mm)."""
    rows, cols = np.nonzero(slice_mask)
    if rows.size == 0:
        return 0.0, 0.0
    pts = np.stack([rows * row_mm, cols * col_mm], axis=1)
    if pts.shape[0] > 4000:  # the extremes lie on the boundary: use boundary points only
        edge = slice_mask & ~ndi.binary_erosion(slice_mask)
        r2, c2 = np.nonzero(edge)
        pts = np.stack([r2 * row_mm, c2 * col_mm], axis=1)
    # Project onto 180 directions: the extent along each direction; A is the maximum.
    angles = np.deg2rad(np.arange(0, 180, 1.0))
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    proj = pts @ dirs.T
    extent = proj.max(axis=0) - proj.min(axis=0) + (row_mm + col_mm) / 2  # + one voxel: edge to edge
    a_idx = int(np.argmax(extent))
    b_idx = (a_idx + 90) % 180
    return float(extent[a_idx]), float(extent[b_idx])


def abc2(mask_canonical: np.ndarray, spacing: tuple[float, float, float]) -> tuple[float, float, float, float]:
    """(volume mL, A mm, B mm, C mm) by Kothari's ABC/2 on a canonical binary mask."""
    slice_mm, row_mm, col_mm = spacing
    areas = mask_canonical.sum(axis=(1, 2)).astype(float)
    if areas.max() == 0:
        return 0.0, 0.0, 0.0, 0.0
    k = int(np.argmax(areas))
    a, b = _diameters(mask_canonical[k], row_mm, col_mm)
    ratio = areas / areas.max()
    weighted = np.where(ratio >= 0.75, 1.0, np.where(ratio >= 0.25, 0.5, 0.0)).sum()
    c = weighted * slice_mm
    return a * b * c / 2.0 / 1000.0, a, b, float(c)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """ABC/2 describes one hematoma: the largest connected component, as a reader would measure.
    Labelled on the mask's bounding box (the same components, numbered alike; a fraction of the scan)."""
    box = bounding_box(mask)
    lab, n = ndi.label(mask[box])
    if n <= 1:
        return mask
    sizes = ndi.sum(mask[box], lab, np.arange(1, n + 1))
    out = np.zeros(mask.shape, bool)
    out[box] = lab == (1 + int(np.argmax(sizes)))
    return out


def measure(ct: CTImage, labels: np.ndarray) -> Measurements:
    voxel_ml = ct.voxel_volume_ml
    iph = labels == LABEL_IPH
    ivh = labels == LABEL_IVH
    blood = labels > 0
    # views, not copies: a canonical copy of a thin-slice scan's mask is a 78 MB transpose (0.3 s each)
    canonical = ct.canonical_view(blood)
    spacing = ct.canonical_spacing()
    abc_target = _largest_component(ct.canonical_view(iph) if iph.any() else canonical)
    vol, a, b, c = abc2(abc_target, spacing)
    areas = canonical.sum(axis=(1, 2))
    k = int(np.argmax(areas)) if areas.max() > 0 else -1
    _, n_comp = ndi.label(blood[bounding_box(blood)])
    return Measurements(
        volume_ml=float(np.count_nonzero(blood) * voxel_ml),
        iph_volume_ml=float(np.count_nonzero(iph) * voxel_ml),
        ivh_volume_ml=float(np.count_nonzero(ivh) * voxel_ml),
        abc2_ml=float(vol),
        abc2_a_mm=a,
        abc2_b_mm=b,
        abc2_c_mm=c,
        max_area_slice=k,
        max_area_mm2=float(areas.max() * spacing[1] * spacing[2]) if k >= 0 else 0.0,
        n_components=int(n_comp),
    )


def scan_edge_warnings(ct: CTImage, labels: np.ndarray) -> list[str]:
    """Warnings when the hemorrhage touches the first/last slice or the in-plane edge of the field of
    view: it may extend beyond the scan, so its volume (and the prediction) may be too low."""
    lab = ct.canonical_view(np.asarray(labels)) > 0
    if not lab.any():
        return []
    out = []
    if lab[0].any() or lab[-1].any():
        which = " and ".join(n for n, s in (("lowest", lab[0]), ("highest", lab[-1])) if s.any())
        out.append(f"the hemorrhage reaches the {which} slice of the scan: it may extend beyond the scanned "
                   "range, so the volume may be underestimated")
    if lab[:, 0].any() or lab[:, -1].any() or lab[:, :, 0].any() or lab[:, :, -1].any():
        out.append("the hemorrhage reaches the edge of the field of view: it may extend beyond the image, "
                   "so the volume may be underestimated")
    return out
