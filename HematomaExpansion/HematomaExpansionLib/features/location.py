"""Where the hematoma lies relative to the ventricles, measured on the CT itself.

A hematoma close to the ventricles is the one that ruptures into them: the distance from the
hematoma to the ventricular system predicts intraventricular extension (Hallevi H et al. Neurology
2008;70:848-852), and a delayed IVH, seen at follow-up in about a fifth of patients without IVH at
baseline, goes with hematoma growth (Maas MB et al. Neurology 2013;80:1295-1299). The revised
expansion definitions count that new IVH, so the expansion models need the distance.

The ventricles are found on the CT (``anatomy.ventricles``, the simulation's defaults) on a grid of
about ``VENTRICLE_GRID_MM`` in-plane (the distance is a feature, not a measurement to report; the
coarse grid keeps it near 1 s on a thin-slice scan). The mask-independent part is kept in the CT's
``ct_cache`` entry, so re-scoring an edited mask does not repeat it.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from ..anatomy.brain import brain_mask_canonical
from ..anatomy.extent import bounding_box, margin_voxels
from ..anatomy.ventricles import ventricle_mask_canonical
from ..core.ct_image import CTImage
from ..core.results import LABEL_IPH, LABEL_IVH
from .ct_cache import CTCache

log = logging.getLogger(__name__)

VENTRICLE_GRID_MM = 2.0
DISTANCE_CAP_MM = 40.0  # farther than this (or no ventricles found) reads as this
PERIVENTRICULAR_MM = 5.0


def capped_distances_mm(targets: np.ndarray, points: tuple[np.ndarray, ...], spacing) -> np.ndarray | None:
    """Distance (mm, at most ``DISTANCE_CAP_MM``) from each voxel index in ``points`` to the nearest
    voxel of ``targets`` (both on one grid of ``spacing``); None when no target lies within the cap."""
    near = np.zeros(targets.shape, bool)
    near[points] = True
    box = bounding_box(near, margin_voxels(DISTANCE_CAP_MM, spacing))
    if not targets[box].any():
        return None
    dist = ndi.distance_transform_edt(~targets[box], sampling=spacing)
    offset = tuple(b.start for b in box)
    return np.minimum(dist[tuple(p - o for p, o in zip(points, offset))], DISTANCE_CAP_MM)


def _coarse_ventricles(ct: CTImage, cache: CTCache | None) -> tuple[np.ndarray, int, tuple[float, float, float]]:
    """(ventricle mask on the canonical grid taken every ``step`` pixels in-plane, step, its spacing)."""
    sp = ct.canonical_spacing()
    step = max(1, int(round(VENTRICLE_GRID_MM / max(sp[1], sp[2]))))
    coarse_sp = (sp[0], sp[1] * step, sp[2] * step)
    key = ("ventricles", step)
    if cache is not None and key in cache.memo:
        return cache.memo[key], step, coarse_sp
    hu = np.ascontiguousarray(ct.canonical_view()[:, ::step, ::step], dtype=np.float32)
    vent = ventricle_mask_canonical(hu, brain_mask_canonical(hu, coarse_sp), coarse_sp)
    if cache is not None:
        cache.memo[key] = vent
    return vent, step, coarse_sp


def _iph_distances(ct: CTImage, labels: np.ndarray, cache: CTCache | None) -> np.ndarray | None:
    """Distance (mm) from each IPH voxel to the ventricles, capped; None without IPH or ventricles."""
    iph = ct.canonical_view(np.asarray(labels)) == LABEL_IPH
    if not iph.any():
        return None
    vent, step, sp = _coarse_ventricles(ct, cache)
    if not vent.any():
        log.debug("no ventricles found: the distance reads as %.0f mm", DISTANCE_CAP_MM)
        return None
    z, y, x = np.nonzero(iph)
    return capped_distances_mm(vent, (z, y // step, x // step), sp)


def location_features(ct: CTImage, labels: np.ndarray, cache: CTCache | None = None) -> dict[str, float]:
    """``location_ventricle_distance_mm``: shortest distance from the IPH to the ventricles (0 with
    IVH, ``DISTANCE_CAP_MM`` at most); ``location_periventricular_fraction``: the share of the IPH
    within ``PERIVENTRICULAR_MM`` of them (how broad a front it presents to the ventricular wall)."""
    dist = _iph_distances(ct, labels, cache)
    nearest = DISTANCE_CAP_MM if dist is None else float(dist.min())
    if (np.asarray(labels) == LABEL_IVH).any():
        nearest = 0.0
    return {"location_ventricle_distance_mm": nearest,
            "location_periventricular_fraction": 0.0 if dist is None else float((dist <= PERIVENTRICULAR_MM).mean())}
