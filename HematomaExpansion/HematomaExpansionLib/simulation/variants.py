"""Acquisition variants a real archive contains, applied to a painted case.

``VARIANTS``: thick slices (``thick5``: 2.5–7 mm), thin slices (``thin1``: 0.6–1.25 mm), gantry
tilt, skull-stripped input, different in-plane resolution (``inplane``: 0.4–0.9 mm pixels), no
hemorrhage (``standard``/``nohem`` leave the scan as is). With the background's own 1.5 mm, slice
thickness covers 0.6–7 mm, so vertex and skull-base partial volume is seen at each.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..anatomy.brain import brain_mask_canonical
from ..core.ct_image import CTImage
from .resampling import AIR_HU, resample_case, thick_slices

VARIANTS = ("standard", "thick5", "thin1", "tilt", "skullstrip", "inplane", "nohem")
VARIANT_WEIGHTS = {"standard": 0.42, "thick5": 0.16, "thin1": 0.06, "tilt": 0.12,
                   "skullstrip": 0.08, "inplane": 0.06, "nohem": 0.10}


def apply_variant(ct: CTImage, labels: np.ndarray, variant: str, rng: np.random.Generator,
                  brain: np.ndarray | None = None):
    """Apply an acquisition variant to a painted case. Returns ``(ct, labels, meta)``.

    ``brain``: intracranial mask on ct's grid (for ``skullstrip``; computed when absent).
    """
    meta: dict[str, Any] = {}
    if variant in ("standard", "nohem"):
        return ct, labels, meta
    if variant == "thick5":
        t = float(rng.uniform(2.5, 7.0))
        meta["slice_mm"] = round(t, 2)
        out, lab = thick_slices(ct, labels, t)
        return out, lab, meta
    if variant == "thin1":
        t = round(float(rng.uniform(0.6, 1.25)), 2)
        sp = (ct.spacing[0], ct.spacing[1], t)
        out, lab = resample_case(ct, labels, sp, ct.direction)
        meta["slice_mm"] = t
        return out, lab, meta
    if variant == "inplane":
        px = round(float(rng.uniform(0.4, 0.9)), 3)
        out, lab = resample_case(ct, labels, (px, px, ct.spacing[2]), ct.direction)
        meta["pixel_mm"] = px
        return out, lab, meta
    if variant == "tilt":
        deg = float(rng.uniform(10, 25)) * (1 if rng.random() < 0.5 else -1)
        a = math.radians(deg)
        rot = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
        direction = rot @ ct.direction
        thick = float(rng.choice([ct.spacing[2], 5.0]))
        out, lab = resample_case(ct, labels, (ct.spacing[0], ct.spacing[1], thick), direction)
        meta.update(tilt_deg=round(deg, 2), slice_mm=thick)
        return out, lab, meta
    if variant == "skullstrip":
        if brain is None:
            brain = ct.from_canonical_array(brain_mask_canonical(ct.to_canonical_array(), ct.canonical_spacing()))
        brain = np.asarray(brain, bool) | (labels > 0)
        fill = float(rng.choice([0.0, AIR_HU]))
        arr = np.where(brain, ct.array, fill).astype(np.float32)
        meta["fill_hu"] = fill
        return CTImage(arr, ct.spacing, ct.origin, ct.direction.copy(), ct.source, {}), labels, meta
    raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
