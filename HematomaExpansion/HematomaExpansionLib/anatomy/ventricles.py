"""Ventricles of a head CT: large CSF-density components deep in the brain (not sulci/cisterns).

One parameterised function serves both users; each keeps its own tuning:
- the simulation (defaults below): CSF_HU on a median-smoothed image (in-plane 3×3), CSF cut
  off shallower than VENTRICLE_CUT_DEPTH_MM (severs the connection to the sulci at the rim),
  components ≥ MIN_VENTRICLE_ML with mean depth > VENTRICLE_MIN_DEPTH_MM;
- the classical segmenter (``segmentation.classic``): its own thresholds, no smoothing, no cut.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..core.ct_image import CTImage
from ..core.morphology import ball
from .brain import brain_mask_canonical
from .extent import bounding_box

CSF_HU = (-15.0, 15.0)  # this scanner's deep CSF reads −8..0 HU; others 0..10
MIN_VENTRICLE_ML = 1.5
VENTRICLE_MIN_DEPTH_MM = 18.0
VENTRICLE_CUT_DEPTH_MM = 10.0
MEDIAN_SIZE = (1, 3, 3)


def ventricle_mask_canonical(hu: np.ndarray, brain: np.ndarray, spacing, *,
                             csf_hu: tuple[float, float] = CSF_HU,
                             min_ml: float = MIN_VENTRICLE_ML,
                             min_mean_depth_mm: float = VENTRICLE_MIN_DEPTH_MM,
                             cut_depth_mm: float | None = VENTRICLE_CUT_DEPTH_MM,
                             median_size: tuple[int, int, int] | None = MEDIAN_SIZE) -> np.ndarray:
    """Ventricle mask (bool, canonical array) inside ``brain``.

    CSF = HU within ``csf_hu`` (after a ``median_size`` median filter; None = raw HU) inside the
    brain, opened by a 1 mm ball; voxels shallower than ``cut_depth_mm`` (None = no cut) from the
    brain boundary are dropped; components of at least ``min_ml`` whose mean depth exceeds
    ``min_mean_depth_mm`` are kept. Runs on the brain's bounding box (same result as the whole
    array, faster).
    """
    out = np.zeros(hu.shape, bool)
    if not brain.any():
        return out
    sl = bounding_box(brain, (1, 1, 1))
    h = hu[sl] if median_size is None else ndi.median_filter(hu[sl], size=median_size)
    brain = brain[sl]
    csf = (h >= csf_hu[0]) & (h <= csf_hu[1]) & brain
    csf = ndi.binary_opening(csf, ball(1.0, spacing))
    depth = ndi.distance_transform_edt(brain, sampling=spacing)
    if cut_depth_mm is not None:
        csf &= depth >= cut_depth_mm
    lab, n = ndi.label(csf)
    if n == 0:
        return out
    idx = np.arange(1, n + 1)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    sizes = ndi.sum(csf, lab, idx) * voxel_ml
    mean_depth = ndi.mean(depth, lab, idx)
    keep = idx[(sizes >= min_ml) & (mean_depth > min_mean_depth_mm)]
    out[sl] = np.isin(lab, keep)
    return out


def ventricle_mask(ct: CTImage, brain: np.ndarray | None = None) -> np.ndarray:
    """Ventricle mask (bool) of a ``CTImage`` on its own grid, with the simulation's defaults above;
    ``brain``: its intracranial mask on the same grid when the caller has it (else computed)."""
    hu, spacing = ct.to_canonical_array(), ct.canonical_spacing()
    brain_c = brain_mask_canonical(hu, spacing) if brain is None else ct.to_canonical_array(np.asarray(brain, bool))
    return ct.from_canonical_array(ventricle_mask_canonical(hu, brain_c, spacing))
