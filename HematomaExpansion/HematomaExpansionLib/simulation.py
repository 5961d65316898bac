"""Seeded data engine: real hematoma shapes placed into real head CTs, painted as on NCCT.

Why: no public head CT with hemorrhage *and* a voxel mask is available to this project, but
~420 real hematoma masks (HemSeg-500, drawn on RSNA head CTs, binary IPH+IVH, real slice
geometry) and a real lesion-free head NCCT are. This module combines them into labelled
cases for segmentation training/benchmarks and (via ``grow_lesion``) into baseline/follow-up
pairs for the expansion-model cohort.

Everything is deterministic from a seed (``numpy.random.Generator``). All geometry work is
done on the background's canonical axial array (``CTImage.to_canonical_array``: [S, P, L]) and
mapped back, so outputs are always on the background's exact grid.

Data (``config.shared_data_dir()``; ``data_dir`` arguments override):
- backgrounds: ``realct/cranium_invesalius.nii.gz`` (real adult NCCT, no bleed). Anatomical
  variety is derived from it by random similarity transforms (mirror, ±12° yaw/roll,
  ±8 % scale) and HU offsets (``derive_background``). ``realct/mistie_0034`` contains a real
  unlabelled ICH + IVH and is therefore *not* used as background (its blood would be taught as
  "not blood"); it is kept for the qualitative check only.
- lesion shapes: ``lesion_masks/hemseg500/{train,val}/label/*.nii.gz``. The val split is only
  used for held-out benchmark cases, never for training.

Appearance (``HematomaAppearance``, ``paint_hematoma``): acute blood 55–80 HU (mean ≈ 62),
smooth internal heterogeneity, hypodense pockets (30–45 HU, "black hole"/swirl), optional
blend sign (two density populations with a sharp interface), satellites (island sign),
partial volume from the background's slice thickness (through-plane Gaussian of FWHM =
slice thickness, in-plane FWHM = 1 pixel), the background's own noise texture kept on top of
the painted density, optional perihematomal edema rim (−4..−12 HU, fading over the rim width).
IPH is placed in parenchyma at least ``PARENCHYMA_MARGIN_MM`` from the intracranial boundary
(never in bone, never outside the brain); IVH inside the ventricles, which are found as large
deep CSF-density (CSF_HU) components (CSF deeper than
VENTRICLE_CUT_DEPTH_MM, components ≥ MIN_VENTRICLE_ML with mean depth > VENTRICLE_MIN_DEPTH_MM).

Acquisition variants a real archive contains (``VARIANTS``): 5 mm and 1 mm slices, gantry
tilt, skull-stripped input, different in-plane resolution (512×512 ≈ 0.49 mm), no hemorrhage.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from . import config
from .ct_image import CTImage
from .morphology import ball
from .results import LABEL_IPH, LABEL_IVH

# --- named constants (documented above) -----------------------------------------------------
BONE_HU = 300.0
SOFT_TISSUE_HU = (-20.0, 120.0)
CSF_HU = (-15.0, 15.0)  # this scanner's deep CSF reads −8..0 HU; others 0..10
CSF_HIGH_HU = CSF_HU[1]
MIN_VENTRICLE_ML = 1.5
VENTRICLE_MIN_DEPTH_MM = 18.0
VENTRICLE_CUT_DEPTH_MM = 10.0
PARENCHYMA_MARGIN_MM = 4.0
BRAIN_EROSION_MM = 5.0
AIR_HU = -1024.0
BLEND_MIN_HU = 42.0

VARIANTS = ("standard", "thick5", "thin1", "tilt", "skullstrip", "inplane", "nohem")
VARIANT_WEIGHTS = {"standard": 0.42, "thick5": 0.16, "thin1": 0.06, "tilt": 0.12,
                   "skullstrip": 0.08, "inplane": 0.06, "nohem": 0.10}

BACKGROUND_FILES = ("cranium_invesalius.nii.gz",)


# --- data discovery ---------------------------------------------------------------------------
def _data_dir(data_dir: str | Path | None) -> Path:
    return Path(data_dir) if data_dir is not None else config.shared_data_dir()


def read_ct(path: str | Path) -> CTImage:
    img = sitk.ReadImage(str(path))
    return CTImage.from_sitk(img, source=str(path))


@functools.lru_cache(maxsize=4)
def _load_background_cached(data_dir: str) -> tuple[CTImage, ...]:
    out = []
    for name in BACKGROUND_FILES:
        p = Path(data_dir) / "realct" / name
        if p.exists():
            ct = read_ct(p)
            ct.metadata["background"] = name
            out.append(ct)
    return tuple(out)


def load_background_heads(data_dir: str | Path | None = None) -> list[CTImage]:
    """Lesion-free real head CTs (currently cranium_invesalius). Copies; safe to modify.

    For more anatomical variety use ``derive_background(head, rng)``.
    """
    heads = _load_background_cached(str(_data_dir(data_dir)))
    if not heads:
        raise FileNotFoundError(f"no background head CT under {_data_dir(data_dir) / 'realct'}")
    return [CTImage(h.array.copy(), h.spacing, h.origin, h.direction.copy(), h.source,
                    {k: v for k, v in h.metadata.items() if not k.startswith("_")}) for h in heads]


def list_lesion_masks(split: str, data_dir: str | Path | None = None) -> list[Path]:
    """Real hematoma masks of the HemSeg-500 ``train`` or ``val`` split, sorted."""
    if split not in ("train", "val"):
        raise ValueError("split must be 'train' or 'val'")
    d = _data_dir(data_dir) / "lesion_masks" / "hemseg500" / split / "label"
    return sorted(d.glob("*.nii.gz"))


# --- anatomy of a background ------------------------------------------------------------------
def _bbox(mask: np.ndarray, margin_vox=(0, 0, 0)) -> tuple[slice, ...]:
    idx = np.nonzero(mask.any(axis=(1, 2)))[0], np.nonzero(mask.any(axis=(0, 2)))[0], np.nonzero(mask.any(axis=(0, 1)))[0]
    if any(len(i) == 0 for i in idx):
        return tuple(slice(0, n) for n in mask.shape)
    return tuple(slice(max(0, int(i[0]) - m), min(n, int(i[-1]) + m + 1)) for i, m, n in zip(idx, margin_vox, mask.shape))


def _margin_vox(mm: float, spacing) -> tuple[int, int, int]:
    return tuple(int(math.ceil(mm / s)) + 1 for s in spacing)  # type: ignore[return-value]


def brain_mask_canonical(hu: np.ndarray, spacing) -> np.ndarray:
    """Intracranial soft tissue (brain + CSF) on a canonical array; robust to skull stripping.

    Soft tissue (SOFT_TISSUE_HU) > 2 mm from bone, eroded by BRAIN_EROSION_MM (cuts the scalp and
    the orbits off), largest 3D component, grown back, holes filled per slice. Morphology by
    distance transforms on the head's bounding box.
    """
    out = np.zeros(hu.shape, bool)
    sl = _bbox(hu > -300, (1, 1, 1))
    h = hu[sl]
    soft = (h > SOFT_TISSUE_HU[0]) & (h < SOFT_TISSUE_HU[1])
    bone = h > BONE_HU
    if bone.sum() < 0.002 * h.size:  # skull-stripped
        brain = ndi.binary_opening(soft, ball(1.5, spacing))
    else:
        far = ndi.distance_transform_edt(~bone, sampling=spacing) > 2.0
        core = ndi.distance_transform_edt(soft & far, sampling=spacing) > BRAIN_EROSION_MM
        lab, n = ndi.label(core)
        if n == 0:
            return out
        sizes = ndi.sum(core, lab, np.arange(1, n + 1))
        largest = lab == (1 + int(np.argmax(sizes)))
        sl2 = _bbox(largest, _margin_vox(BRAIN_EROSION_MM + 2, spacing))
        grown = np.zeros_like(largest)
        grown[sl2] = ndi.distance_transform_edt(~largest[sl2], sampling=spacing) <= BRAIN_EROSION_MM + 1.0
        brain = grown & soft & ~bone
    for k in range(brain.shape[0]):
        brain[k] = ndi.binary_fill_holes(brain[k])
    out[sl] = brain & ~bone
    return out


def ventricle_mask_canonical(hu: np.ndarray, brain: np.ndarray, spacing) -> np.ndarray:
    """Ventricles: large CSF-density components deep in the brain (not sulci/cisterns at the rim)."""
    out = np.zeros(hu.shape, bool)
    if not brain.any():
        return out
    sl = _bbox(brain, (1, 1, 1))
    sm = ndi.median_filter(hu[sl], size=(1, 3, 3))
    brain = brain[sl]
    csf = (sm >= CSF_HU[0]) & (sm <= CSF_HU[1]) & brain
    csf = ndi.binary_opening(csf, ball(1.0, spacing))
    depth = ndi.distance_transform_edt(brain, sampling=spacing)
    csf &= depth >= VENTRICLE_CUT_DEPTH_MM  # cut the connection to the sulci/cisterns at the rim
    lab, n = ndi.label(csf)
    if n == 0:
        return out
    idx = np.arange(1, n + 1)
    vml = float(np.prod(spacing)) / 1000.0
    sizes = ndi.sum(csf, lab, idx) * vml
    mdepth = ndi.mean(depth, lab, idx)
    keep = idx[(sizes >= MIN_VENTRICLE_ML) & (mdepth > VENTRICLE_MIN_DEPTH_MM)]
    out[sl] = np.isin(lab, keep)
    return out


@dataclass
class Anatomy:
    """Canonical-space anatomy of a background: HU, spacing, brain, parenchyma, ventricles."""

    hu: np.ndarray
    spacing: tuple[float, float, float]
    brain: np.ndarray
    parenchyma: np.ndarray  # allowed region for IPH
    ventricles: np.ndarray
    depth: np.ndarray  # mm from the intracranial boundary


def anatomy(background: CTImage) -> Anatomy:
    cached = background.metadata.get("_anatomy")
    if isinstance(cached, Anatomy):
        return cached
    hu = background.to_canonical_array()
    sp = background.canonical_spacing()
    pre = background.metadata.get("_anatomy_labels")
    if isinstance(pre, np.ndarray) and pre.shape == background.shape:
        lab = background.to_canonical_array(pre)
        brain, vent = lab >= 1, lab == 2
    else:
        brain = brain_mask_canonical(hu, sp)
        vent = ventricle_mask_canonical(hu, brain, sp)
    depth = np.zeros(hu.shape, np.float32)
    pre_d = background.metadata.get("_anatomy_depth")
    if isinstance(pre_d, np.ndarray) and pre_d.shape == background.shape:
        depth = background.to_canonical_array(pre_d).astype(np.float32) * brain
    elif brain.any():
        sl = _bbox(brain, (1, 1, 1))
        depth[sl] = ndi.distance_transform_edt(brain[sl], sampling=sp)
    par = brain & (depth >= PARENCHYMA_MARGIN_MM) & ~vent & (hu > CSF_HU[1] - 3)
    an = Anatomy(hu, sp, brain, par, vent, depth)
    background.metadata["_anatomy"] = an
    return an


# --- background variety -----------------------------------------------------------------------
def _resample(ct: CTImage, size, spacing, origin, direction, transform=None, interp=sitk.sitkLinear,
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


def _center_lps(ct: CTImage) -> np.ndarray:
    idx = (np.array(ct.shape[::-1]) - 1) / 2.0
    return ct.ijk_to_lps()[:3, :3] @ idx + np.array(ct.origin)


def derive_background(head: CTImage, rng: np.random.Generator, strength: float = 1.0) -> CTImage:
    """A new lesion-free head from a real one: mirror, small rotation/scale, HU offset (same grid)."""
    c = _center_lps(head)
    angles = rng.uniform(-12, 12, 3) * strength * np.array([0.5, 0.5, 1.0])  # roll, pitch, yaw (deg)
    scale = 1.0 + rng.uniform(-0.08, 0.08) * strength
    mirror = rng.random() < 0.5
    tx = sitk.Euler3DTransform()
    tx.SetCenter([float(v) for v in c])
    tx.SetRotation(*[math.radians(a) for a in angles])
    m = np.array(tx.GetMatrix()).reshape(3, 3) / scale
    if mirror:
        m = m @ np.diag([-1.0, 1.0, 1.0])
    aff = sitk.AffineTransform(3)
    aff.SetCenter([float(v) for v in c])
    aff.SetMatrix([float(v) for v in m.ravel()])
    aff.SetTranslation([float(v) for v in rng.uniform(-4, 4, 3) * strength])
    arr = _resample(head, head.shape[::-1], head.spacing, head.origin, head.direction, transform=aff)
    an = anatomy(head)
    lab = (an.brain.astype(np.uint8) + an.ventricles.astype(np.uint8))
    lab_arr = _resample(head, head.shape[::-1], head.spacing, head.origin, head.direction, transform=aff,
                        interp=sitk.sitkNearestNeighbor, default=0, array=head.from_canonical_array(lab),
                        pixel=None)
    depth_arr = _resample(head, head.shape[::-1], head.spacing, head.origin, head.direction, transform=aff,
                          default=0, array=head.from_canonical_array(an.depth)) / scale
    offset = rng.uniform(-3.0, 3.0) * strength
    soft = (arr > -50) & (arr < 150)
    arr = arr.astype(np.float32)
    arr[soft] += offset
    out = CTImage(arr, head.spacing, head.origin, head.direction.copy(), head.source,
                  {"background": head.metadata.get("background", ""), "derived": {
                      "angles_deg": [round(float(a), 2) for a in angles], "scale": round(float(scale), 3),
                      "mirror": bool(mirror), "hu_offset": round(float(offset), 2)},
                   "_anatomy_labels": lab_arr.astype(np.uint8), "_anatomy_depth": depth_arr.astype(np.float32)})
    return out


# --- lesion shapes ----------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _lesion_canonical(path: str) -> tuple[np.ndarray, tuple[float, float, float]]:
    m = read_ct(path)
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


def _paste(shape: np.ndarray, center, out_shape) -> np.ndarray:
    out = np.zeros(out_shape, bool)
    start = [int(round(c - s / 2.0)) for c, s in zip(center, shape.shape)]
    src, dst = [], []
    for st, s, o in zip(start, shape.shape, out_shape):
        a0, b0 = max(0, -st), max(0, st)
        n = min(s - a0, o - b0)
        if n <= 0:
            return out
        src.append(slice(a0, a0 + n))
        dst.append(slice(b0, b0 + n))
    out[tuple(dst)] = shape[tuple(src)]
    return out


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
        placed = _paste(shape, c, an.hu.shape)
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
    cast = _paste(shape, c, vent.shape) & vent
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
    sl = _bbox(m, _margin_vox(12.0, an.spacing))
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
        out |= _paste(blob, c, m.shape) & an.parenchyma
    return background.from_canonical_array(out)


def _smooth_noise(shape, spacing, sigma_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-SD Gaussian random field with correlation length ``sigma_mm``."""
    f = rng.standard_normal(shape).astype(np.float32)
    f = ndi.gaussian_filter(f, [sigma_mm / s for s in spacing])
    sd = float(f.std())
    return f / sd if sd > 0 else f


def grow_lesion(mask: np.ndarray, background: CTImage, growth_ml: float | None = None,
                factor: float | None = None, rng: np.random.Generator | None = None,
                irregular: bool = True) -> np.ndarray:
    """Follow-up hematoma: ``mask`` grown by ``growth_ml`` (or to ``factor`` × volume), on the same grid.

    Growth follows the distance from the current border, perturbed by a smooth random field
    (``irregular``: lobulated, direction-dependent growth as in active bleeding), confined to
    the brain (never bone, never outside). The result contains the input mask. Growth may fall
    short of the target when the brain has no room left.
    """
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
    sl = _bbox(m, _margin_vox(2.5 * (r1 - r0) + 15.0, an.spacing))
    full_m = m
    m = m[sl]
    allowed = an.brain[sl] & (an.depth[sl] >= 1.5)
    dist = ndi.distance_transform_edt(~m, sampling=an.spacing).astype(np.float32)
    if irregular:
        field = _smooth_noise(m.shape, an.spacing, max(3.0, r0 * 0.5), rng)
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


# --- painting --------------------------------------------------------------------------------
@dataclass
class HematomaAppearance:
    """How the blood looks on NCCT. Defaults: a typical acute hematoma."""

    mean_hu: float = 62.0  # acute clotted blood 55–80 HU
    heterogeneity_sd: float = 4.0  # smooth internal variation, HU
    heterogeneity_mm: float = 3.0  # correlation length of that variation
    hypodense_pockets: int = 0  # black-hole / swirl pockets (30–45 HU)
    pocket_hu: float = 38.0
    blend: bool = False  # blend sign: a hypodense region with a sharp interface
    blend_delta_hu: float = 20.0
    satellites: int = 0  # island sign (applied by simulate_case through add_satellites)
    edema_rim_mm: float = 0.0  # perihematomal edema width (0 = none)
    edema_delta_hu: float = -8.0
    ivh_mean_hu: float = 58.0  # intraventricular blood mixes with CSF: a little lower

    @classmethod
    def random(cls, rng: np.random.Generator) -> "HematomaAppearance":
        return cls(
            mean_hu=float(np.clip(rng.normal(63.0, 5.0), 55.0, 78.0)),
            heterogeneity_sd=float(rng.uniform(2.0, 7.0)),
            heterogeneity_mm=float(rng.uniform(1.5, 5.0)),
            hypodense_pockets=int(rng.choice([0, 0, 0, 1, 2, 3])),
            pocket_hu=float(rng.uniform(30.0, 45.0)),
            blend=bool(rng.random() < 0.15),
            blend_delta_hu=float(rng.uniform(14.0, 25.0)),
            satellites=int(rng.choice([0, 0, 0, 1, 2])),
            edema_rim_mm=float(rng.choice([0.0, 0.0, rng.uniform(1.5, 6.0)])),
            edema_delta_hu=float(rng.uniform(-12.0, -4.0)),
            ivh_mean_hu=float(np.clip(rng.normal(57.0, 6.0), 45.0, 72.0)),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paint_hematoma(background: CTImage, iph: np.ndarray, ivh: np.ndarray,
                   appearance: HematomaAppearance | None = None,
                   rng: np.random.Generator | None = None) -> CTImage:
    """The background with blood painted into ``iph``/``ivh`` (bool, background grid).

    Result HU = smooth background × (1 − f) + blood × f + the background's own noise residual,
    where f is the mask blurred to the scanner's partial volume (through-plane FWHM = slice
    thickness, in-plane FWHM = one pixel). Edema lowers the parenchyma around the IPH.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    app = appearance if appearance is not None else HematomaAppearance()
    an = anatomy(background)
    sp = an.spacing
    hu = an.hu
    iph_c = background.to_canonical_array(np.asarray(iph, bool))
    ivh_c = background.to_canonical_array(np.asarray(ivh, bool)) & ~iph_c
    if not (iph_c.any() or ivh_c.any()):
        return CTImage(background.array.copy(), background.spacing, background.origin,
                       background.direction.copy(), background.source, {})
    margin = max(app.edema_rim_mm, 0.0) + 3.0 * max(sp[0], 2.0) + 6.0
    sl = _bbox(iph_c | ivh_c, _margin_vox(margin, sp))
    hu_full = hu
    hu = hu_full[sl]
    iph_c, ivh_c = iph_c[sl], ivh_c[sl]
    brain_c, vent_c = an.brain[sl], an.ventricles[sl]
    smooth_bg = ndi.median_filter(hu, size=(1, 3, 3)).astype(np.float32)
    residual = np.clip(hu - smooth_bg, -40, 40)
    field = _smooth_noise(hu.shape, sp, app.heterogeneity_mm, rng)
    blood = app.mean_hu + app.heterogeneity_sd * field
    if iph_c.any() and app.hypodense_pockets > 0:
        inner = ndi.binary_erosion(iph_c, ball(2.0, sp)) if iph_c.sum() > 200 else iph_c
        cand = np.argwhere(inner)
        for _ in range(app.hypodense_pockets):
            if len(cand) == 0:
                break
            c = cand[rng.integers(len(cand))]
            rad = rng.uniform(1.5, 5.0)
            pocket = _paste(ball(rad, sp), c, hu.shape).astype(np.float32)
            pocket = ndi.gaussian_filter(pocket, [1.0 / s for s in sp])
            blood = blood + (app.pocket_hu - blood) * np.clip(pocket * 1.3, 0, 1) * iph_c
    if iph_c.any() and app.blend:
        coords = np.argwhere(iph_c)
        centre = coords.mean(0)
        normal = rng.standard_normal(3)
        normal[0] *= 0.3
        normal /= np.linalg.norm(normal)
        grid = np.indices(hu.shape, dtype=np.float32)
        side = sum((grid[a] - centre[a]) * sp[a] * normal[a] for a in range(3))
        offset = np.quantile(side[iph_c], rng.uniform(0.5, 0.8))
        low = (side > offset) & iph_c
        # the hypodense part of a blend stays hyperdense to brain (≥ BLEND_MIN_HU)
        blood = np.where(low, np.maximum(blood - app.blend_delta_hu, BLEND_MIN_HU), blood)
    blood = np.where(ivh_c & ~iph_c, blood - (app.mean_hu - app.ivh_mean_hu), blood)
    mask = (iph_c | ivh_c).astype(np.float32)
    sigma = [max(sp[0], 1.0) / 2.355 / sp[0], 1.0 / 2.355, 1.0 / 2.355]  # in voxels
    f = np.clip(ndi.gaussian_filter(mask, sigma), 0.0, 1.0)
    # inside the mask keep a mostly blood-filled core; partial volume shows at the border
    f = np.where(mask > 0, np.maximum(f, 0.5 + 0.5 * f), f)
    bloodfill = ndi.grey_dilation(np.where(mask > 0, blood, -1e4), size=(3, 5, 5))
    bloodfill = np.where(mask > 0, blood, np.where(bloodfill > -1e3, bloodfill, app.mean_hu))
    out = smooth_bg * (1 - f) + bloodfill * f
    if iph_c.any() and app.edema_rim_mm > 0:
        d = ndi.distance_transform_edt(~iph_c, sampling=sp)
        w = np.clip(1.0 - d / app.edema_rim_mm, 0, 1) * (d > 0)
        w = w * brain_c * ~vent_c
        out = out + app.edema_delta_hu * w
    out = out + residual
    out = np.where(hu > BONE_HU, hu, out)  # never paint over bone
    full = hu_full.copy()
    full[sl] = out
    out = full
    arr = background.from_canonical_array(out.astype(np.float32))
    return CTImage(arr, background.spacing, background.origin, background.direction.copy(), background.source, {})


# --- acquisition variants -------------------------------------------------------------------
def _resample_case(ct: CTImage, labels: np.ndarray, spacing, direction, size=None, origin=None):
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
    arr = _resample(ct, size, spacing, origin, direction, default=AIR_HU)
    probs = []
    for lab in (LABEL_IPH, LABEL_IVH):
        probs.append(_resample(ct, size, spacing, origin, direction, default=0.0,
                               array=(labels == lab).astype(np.float32)))
    iph_p, ivh_p = probs
    out = np.zeros(arr.shape, np.uint8)
    out[(iph_p >= 0.5) & (iph_p >= ivh_p)] = LABEL_IPH
    out[(ivh_p >= 0.5) & (ivh_p > iph_p)] = LABEL_IVH
    return CTImage(arr, tuple(spacing), tuple(origin), direction, ct.source, {}), out


def _thick_slices(ct: CTImage, labels: np.ndarray, thickness: float):
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


def apply_variant(ct: CTImage, labels: np.ndarray, variant: str, rng: np.random.Generator,
                  brain: np.ndarray | None = None):
    """Apply an acquisition variant to a painted case. Returns ``(ct, labels, meta)``.

    ``brain``: intracranial mask on ct's grid (for ``skullstrip``; computed when absent).
    """
    meta: dict[str, Any] = {}
    if variant in ("standard", "nohem"):
        return ct, labels, meta
    if variant == "thick5":
        t = float(rng.uniform(4.5, 6.5))
        meta["slice_mm"] = round(t, 2)
        out, lab = _thick_slices(ct, labels, t)
        return out, lab, meta
    if variant == "thin1":
        sp = (ct.spacing[0], ct.spacing[1], 1.0)
        out, lab = _resample_case(ct, labels, sp, ct.direction)
        meta["slice_mm"] = 1.0
        return out, lab, meta
    if variant == "inplane":
        px = float(rng.choice([0.45, 0.49, 0.7]))
        out, lab = _resample_case(ct, labels, (px, px, ct.spacing[2]), ct.direction)
        meta["pixel_mm"] = px
        return out, lab, meta
    if variant == "tilt":
        deg = float(rng.uniform(10, 25)) * (1 if rng.random() < 0.5 else -1)
        a = math.radians(deg)
        rot = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
        direction = rot @ ct.direction
        thick = float(rng.choice([ct.spacing[2], 5.0]))
        out, lab = _resample_case(ct, labels, (ct.spacing[0], ct.spacing[1], thick), direction)
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


# --- whole cases -----------------------------------------------------------------------------
@dataclass
class SimulatedCase:
    ct: CTImage
    labels: np.ndarray  # uint8 on ct's grid: 0, LABEL_IPH, LABEL_IVH
    meta: dict = field(default_factory=dict)


def simulate_case(seed: int, split: str = "train", variant: str | None = None,
                  data_dir: str | Path | None = None, derive: bool = True) -> SimulatedCase:
    """One labelled case, deterministic from ``seed``.

    ``split`` picks the lesion shapes (train or val masks; backgrounds are shared, with random
    derived anatomy). ``variant`` (one of VARIANTS, or None = drawn from VARIANT_WEIGHTS).
    Compartments: 65 % IPH only, 22 % IPH + IVH extension, 13 % IVH only.
    """
    rng = np.random.default_rng([int(seed), 0 if split == "train" else 1])
    if variant is None:
        names = list(VARIANT_WEIGHTS)
        w = np.array([VARIANT_WEIGHTS[n] for n in names])
        variant = str(rng.choice(names, p=w / w.sum()))
    heads = _load_background_cached(str(_data_dir(data_dir)))
    if not heads:
        raise FileNotFoundError(f"no background head CT under {_data_dir(data_dir) / 'realct'}")
    head = heads[int(rng.integers(len(heads)))]  # shared, read-only; anatomy cached on it
    bg = derive_background(head, rng) if derive else head
    meta: dict[str, Any] = {"seed": int(seed), "split": split, "variant": variant,
                            "background": head.metadata.get("background", ""), "derived": bg.metadata.get("derived")}
    empty = np.zeros(bg.shape, bool)
    if variant == "nohem":
        ct, labels = bg, np.zeros(bg.shape, np.uint8)
        meta.update(lesion=None, iph_ml=0.0, ivh_ml=0.0)
    else:
        masks = list_lesion_masks(split, data_dir)
        if not masks:
            raise FileNotFoundError("no lesion masks found")
        r = rng.random()
        comp = "iph" if r < 0.65 else ("iph+ivh" if r < 0.87 else "ivh")
        path = masks[int(rng.integers(len(masks)))]
        scale = float(rng.uniform(0.85, 1.15))
        iph = ivh = empty
        if comp in ("iph", "iph+ivh"):
            iph = place_lesion(bg, path, rng, "parenchyma", scale=scale)
        if comp in ("ivh", "iph+ivh"):
            p2 = path if comp == "ivh" else masks[int(rng.integers(len(masks)))]
            ivh = place_lesion(bg, p2, rng, "ventricle", scale=scale)
        app = HematomaAppearance.random(rng)
        if app.satellites and iph.any():
            iph = add_satellites(iph, bg, app.satellites, rng)
        ivh = ivh & ~iph
        ct = paint_hematoma(bg, iph, ivh, app, rng)
        labels = np.zeros(bg.shape, np.uint8)
        labels[iph] = LABEL_IPH
        labels[ivh] = LABEL_IVH
        meta.update(lesion=path.name, compartment=comp, scale=round(scale, 3), appearance=app.to_dict())
    ct, labels, vmeta = apply_variant(ct, labels, variant, rng, brain=bg.from_canonical_array(anatomy(bg).brain))
    meta.update(vmeta)
    vml = ct.voxel_volume_ml
    meta["iph_ml"] = float((labels == LABEL_IPH).sum() * vml)
    meta["ivh_ml"] = float((labels == LABEL_IVH).sum() * vml)
    ct.source = f"simulated:{split}:{seed}:{variant}"
    ct.metadata = {"simulated": True}
    return SimulatedCase(ct, labels.astype(np.uint8), meta)
