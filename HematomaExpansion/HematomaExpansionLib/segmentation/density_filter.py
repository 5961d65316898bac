"""Density rules applied to the segmentation network's mask: what cannot be acute blood by its HU.

Canonical arrays; names are the documented thresholds:
- ``MAX_BLOOD_HU``: voxels denser than this (smoothed) are not acute blood (bone, calcification).
- ``CALCIFICATION_HU`` / ``CALCIFICATION_MARGIN_MM``: voxels within the margin of anything denser
  than CALCIFICATION_HU inside the head (skull inner table partial volume, calcified choroid
  plexus, pineal, falx) are removed.
- ``MIN_COMPONENT_ML``: 3D components smaller than this are specks/noise.
- ``MIN_INSIDE_BRAIN_FRACTION``: components mostly outside the intracranial mask (scalp,
  orbits, outside the skull) are removed.
- ``MIN_MEAN_BLOOD_HU`` / ``MIN_BLOOD_EXCESS_HU``: components whose mean HU is below
  min(MIN_MEAN_BLOOD_HU, brain + MIN_BLOOD_EXCESS_HU) are not acute blood (brain = the scan's own
  parenchyma median, ``anatomy.brain.brain_reference_hu``). The fixed 42 HU alone removed whole
  low-density clots on scanners that read brain ~5 HU low (one engine case: 8 of 17 mL at brain
  20 HU, clot mean 42 HU); relative to brain it only relaxes there, never tightens.
Then ``segmentation.anatomy_filter`` judges each remaining component by where it lies.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..anatomy.brain import brain_reference_hu
from ..anatomy.extent import bounding_box
from ..core.morphology import within_margin

MAX_BLOOD_HU = 100.0
CALCIFICATION_HU = 140.0
CALCIFICATION_MARGIN_MM = 1.5
MIN_COMPONENT_ML = 0.05
MIN_INSIDE_BRAIN_FRACTION = 0.5
MIN_MEAN_BLOOD_HU = 42.0
MIN_BLOOD_EXCESS_HU = 14.0


def postprocess(labels: np.ndarray, hu: np.ndarray, spacing, brain: np.ndarray | None = None) -> np.ndarray:
    """Remove what cannot be acute blood (see module docstring). Canonical arrays."""
    blood = labels > 0
    if not blood.any():
        return labels
    sl = bounding_box(blood, (6, 6, 6))
    sub_hu = hu[sl]
    smooth = ndi.uniform_filter(sub_hu, size=(1, 3, 3))
    keep = blood[sl] & (smooth <= MAX_BLOOD_HU)
    keep &= ~within_margin(sub_hu > CALCIFICATION_HU, keep, spacing, CALCIFICATION_MARGIN_MM)
    lab, n = ndi.label(keep)
    if n:
        vml = float(np.prod(spacing)) / 1000.0
        # per-component sums over the component voxels only (scipy's labelled mean passes every voxel of the
        # box, which spans the head when the network leaves specks near the skull: 0.8 s on a thin-slice scan)
        which = lab[keep]
        counts = np.bincount(which, minlength=n + 1)[1:]
        sizes = counts * vml
        mean_hu = np.bincount(which, weights=sub_hu[keep], minlength=n + 1)[1:] / counts
        ok = (sizes >= MIN_COMPONENT_ML) & (mean_hu >= min_mean_blood_hu(hu, brain))
        if brain is not None:
            inside = np.bincount(which, weights=brain[sl][keep], minlength=n + 1)[1:] / counts
            ok &= inside >= MIN_INSIDE_BRAIN_FRACTION
        keep = np.concatenate([[False], ok])[lab]
    sub = np.where(keep, labels[sl], 0).astype(labels.dtype)
    out = np.zeros_like(labels)
    out[sl] = sub
    return out


def min_mean_blood_hu(hu: np.ndarray, brain: np.ndarray | None) -> float:
    """The mean density below which a component is not acute blood on this scan (module docstring)."""
    ref = brain_reference_hu(hu, brain) if brain is not None else None
    return MIN_MEAN_BLOOD_HU if ref is None else min(MIN_MEAN_BLOOD_HU, ref + MIN_BLOOD_EXCESS_HU)
