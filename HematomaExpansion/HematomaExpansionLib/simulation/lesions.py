"""Real hematoma shapes for the data engine: listing, placement in a head, satellites, growth.

Lesion shapes: ``lesion_masks/hemseg500/{train,val}/label/*.nii.gz`` (~420 real masks drawn on
RSNA head CTs, binary IPH+IVH, real slice geometry). The val split is only used for held-out
benchmark cases, never for training. IPH is placed in parenchyma at least
``PARENCHYMA_MARGIN_MM`` from the intracranial boundary (never in bone, never outside the brain);
IVH inside the ventricles. ``grow_lesion`` makes follow-up hematomas for the expansion cohort.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from ..anatomy.extent import bounding_box, margin_voxels
from ..core.ct_image import CTImage
from ..core.morphology import ball
from ..io.ct_files import read_ct
from .arrays import paste, smooth_noise
from .backgrounds import Anatomy, anatomy, resolve_data_dir


def list_lesion_masks(split: str, data_dir: str | Path | None = None) -> list[Path]:
    """Real hematoma masks of the HemSeg-500 ``train`` or ``val`` split, sorted."""
    if split not in ("train", "val"):
        raise ValueError("split must be 'train' or 'val'")
    d = resolve_data_dir(data_dir) / "lesion_masks" / "hemseg500" / split / "label"
    return sorted(d.glob("*.nii.gz"))


@functools.lru_cache(maxsize=64)
def _lesion_canonical(path: str) -> tuple[np.ndarray, tuple[float, float, float]]:
    m = read_ct(path, validate=False)
    arr = m.to_canonical_array() > 0
    sp = m.canonical_spacing()
    if not arr.any():
        return np.zeros((1, 1, 1), bool), sp
    sl = ndi.find_objects(arr.astype(np.uint8))[0]
    return arr[sl].copy(), sp


def lesion_volume_ml(path: str | Path) -> float:
    arr, sp = _lesion_canonical(str(path))
    return float(arr.sum() * np.prod(sp) / 1000.0)


def _resample_shape(arr: np.ndarray, src_sp, dst_sp, scale: float, flip_lr: bool) -> np.ndarray:
    """Binary shape resampled from its own grid to the destination spacing (linear, ≥0.5)."""
    a = np.pad(arr.astype(np.float32), 1)
    if flip_lr:
        a = a[:, :, ::-1]
    zoom = [s * scale / d for s, d in zip(src_sp, dst_sp)]
    out = ndi.zoom(a, zoom, order=1, prefilter=False)
    return out >= 0.5


def place_lesion(background: CTImage, lesion, rng: np.random.Generator, compartment: str = "parenchyma",
                 scale: float = 1.0, max_tries: int = 24) -> np.ndarray:
    """A real lesion shape placed on ``background``'s grid (bool array, background array order).

    ``lesion``: path to a mask file, or ``(bool array [S,P,L], spacing)``. The shape is resampled
    to the background spacing (its real size, times ``scale``), randomly mirrored, and placed:
    - ``parenchyma``: centred on a random brain voxel deep enough for it, then clipped to the
      parenchyma (≥ PARENCHYMA_MARGIN_MM inside the intracranial boundary, not ventricle/bone);
      shrinks if it cannot fit.
    - ``ventricle``: centred in the ventricles and intersected with them (a cast), plus
      dependent (posterior) layering.
    Returns an empty mask when the anatomy has no room (e.g. no ventricles found).
    """
    an = anatomy(background)
    if isinstance(lesion, (str, Path)):
        arr, sp = _lesion_canonical(str(lesion))
    else:
        arr, sp = lesion
        arr = np.asarray(arr, bool)
    if compartment not in ("parenchyma", "ventricle"):
        raise ValueError("compartment must be 'parenchyma' or 'ventricle'")
    flip = bool(rng.random() < 0.5)
    if compartment == "ventricle":
        return background.from_canonical_array(_place_ivh(an, arr, sp, rng, scale, flip))
    region = an.parenchyma
    if not region.any():
        return np.zeros(background.shape, bool)
    best, best_frac = None, -1.0
    cur_scale = scale
    shape_scale, shape = None, None
    for attempt in range(max_tries):
        if shape_scale != cur_scale:
            shape = _resample_shape(arr, sp, an.spacing, cur_scale, flip)
            shape_scale = cur_scale
        if not shape.any():
            break
        vol_mm3 = shape.sum() * np.prod(an.spacing)
        r = (3 * vol_mm3 / (4 * np.pi)) ** (1 / 3)
        need = min(r * 0.8, float(an.depth.max()) * 0.7)
        cand = np.argwhere(region & (an.depth >= need))
        if len(cand) == 0:
            cur_scale *= 0.8
            continue
        # bias towards deep (basal ganglia/thalamus) locations, the commonest ICH site
        if rng.random() < 0.5:
            c = cand[rng.integers(len(cand))]
        else:
            pick = cand[rng.integers(len(cand), size=12)]
            c = pick[int(np.argmax(an.depth[tuple(pick.T)]))]
        placed = paste(shape, c, an.hu.shape)
        frac = float((placed & region).sum()) / max(1, placed.sum())
        if frac > best_frac:
            best, best_frac = placed & region, frac
        if frac >= 0.95:
            break
        if attempt % 6 == 5:
            cur_scale *= 0.85
    if best is None:
        return np.zeros(background.shape, bool)
    best = _largest_components(best, an.spacing, min_ml=0.02)
    return background.from_canonical_array(best)


def _largest_components(mask: np.ndarray, spacing, min_ml: float) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n <= 1:
        return mask
    sizes = ndi.sum(mask, lab, np.arange(1, n + 1)) * np.prod(spacing) / 1000.0
    keep = np.arange(1, n + 1)[sizes >= min_ml]
    if len(keep) == 0:
        keep = [1 + int(np.argmax(sizes))]
    return np.isin(lab, keep)


def _place_ivh(an: Anatomy, arr, sp, rng, scale, flip) -> np.ndarray:
    vent = an.ventricles
    if not vent.any():
        return np.zeros(an.hu.shape, bool)
    shape = _resample_shape(arr, sp, an.spacing, scale * rng.uniform(1.0, 1.6), flip)
    cand = np.argwhere(vent)
    c = cand[rng.integers(len(cand))]
    cast = paste(shape, c, vent.shape) & vent
    # dependent layering: the most posterior part of the ventricles (patient supine)
    if rng.random() < 0.6:
        lab, n = ndi.label(vent)
        comp = lab == lab[tuple(c)]
        p_idx = np.nonzero(comp)[1]
        cut = np.quantile(p_idx, rng.uniform(0.75, 0.93))
        grid_p = np.arange(vent.shape[1])[None, :, None]
        cast |= comp & (grid_p >= cut)
    return _largest_components(cast, an.spacing, min_ml=0.02)


def add_satellites(mask: np.ndarray, background: CTImage, n: int, rng: np.random.Generator) -> np.ndarray:
    """Island sign: ``n`` small blobs (2–5 mm radius) within 3–10 mm of the hematoma, in parenchyma."""
    if n <= 0 or not mask.any():
        return mask
    an = anatomy(background)
    m = background.to_canonical_array(mask)
    sl = bounding_box(m, margin_voxels(12.0, an.spacing))
    dist = np.full(m.shape, np.inf, np.float32)
    dist[sl] = ndi.distance_transform_edt(~m[sl], sampling=an.spacing)
    ring = np.argwhere((dist > 3) & (dist < 10) & an.parenchyma)
    out = m.copy()
    for _ in range(n):
        if len(ring) == 0:
            break
        c = ring[rng.integers(len(ring))]
        rad = rng.uniform(2.0, 5.0)
        blob = ball(rad, an.spacing)
        out |= paste(blob, c, m.shape) & an.parenchyma
    return background.from_canonical_array(out)


def grow_lesion(mask: np.ndarray, background: CTImage, growth_ml: float | None = None,
                factor: float | None = None, rng: np.random.Generator | None = None,
                irregular: bool = True, within: str = "brain") -> np.ndarray:
    """Follow-up hematoma: ``mask`` grown by ``growth_ml`` (or to ``factor`` × volume), on the same grid.

    Growth follows the distance from the current border, perturbed by a smooth random field
    (``irregular``: lobulated, direction-dependent growth as in active bleeding), confined to
    the brain (never bone, never outside; ``within="parenchyma"``: not into the ventricles either).
    The result contains the input mask. Growth may fall short of the target when there is no room left.
    """
    if within not in ("brain", "parenchyma"):
        raise ValueError("within must be 'brain' or 'parenchyma'")
    rng = rng if rng is not None else np.random.default_rng(0)
    if not mask.any():
        return mask.copy()
    an = anatomy(background)
    m = background.to_canonical_array(mask.astype(bool))
    vml = float(np.prod(an.spacing)) / 1000.0
    v0 = m.sum() * vml
    if growth_ml is None:
        growth_ml = v0 * ((factor if factor is not None else 1.0) - 1.0)
    if growth_ml <= 0:
        return mask.astype(bool).copy()
    target = v0 + growth_ml
    r0 = (3 * v0 * 1000 / (4 * np.pi)) ** (1 / 3)
    r1 = (3 * target * 1000 / (4 * np.pi)) ** (1 / 3)
    sl = bounding_box(m, margin_voxels(2.5 * (r1 - r0) + 15.0, an.spacing))
    full_m = m
    m = m[sl]
    allowed = an.brain[sl] & (an.depth[sl] >= 1.5)
    if within == "parenchyma":
        allowed &= ~an.ventricles[sl]
    dist = ndi.distance_transform_edt(~m, sampling=an.spacing).astype(np.float32)
    if irregular:
        field = smooth_noise(m.shape, an.spacing, max(3.0, r0 * 0.5), rng)
        dist = dist / np.exp(0.45 * field)  # faster growth where field > 0
    lo, hi = 0.0, float(dist[allowed].max()) if allowed.any() else 0.0
    out = m
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        cand = m | ((dist <= mid) & allowed)
        if cand.sum() * vml < target:
            lo = mid
        else:
            hi, out = mid, cand
    if out is m:
        out = m | ((dist <= hi) & allowed)
    out = _largest_connected_to(out, m)
    full = full_m.copy()
    full[sl] = out
    return background.from_canonical_array(full)


def _largest_connected_to(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    keep = np.unique(lab[seed & mask])
    keep = keep[keep > 0]
    return np.isin(lab, keep) | seed
