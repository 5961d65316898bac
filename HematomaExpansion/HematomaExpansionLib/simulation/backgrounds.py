"""Lesion-free real head CTs for the data engine: loading, derived anatomies, canonical anatomy.

Data (``config.shared_data_dir()``; ``data_dir`` arguments override): backgrounds are
``realct/cranium_invesalius.nii.gz`` (real adult NCCT, no bleed). Anatomical variety is derived
from it by random similarity transforms (mirror, ±12° yaw/roll, ±8 % scale) and HU offsets
(``derive_background``). ``realct/mistie_0034`` contains a real unlabelled ICH + IVH and is
therefore *not* used as background (its blood would be taught as "not blood"); it is kept for
the qualitative check only.

``anatomy(background)``: brain, ventricles (``anatomy.brain``/``anatomy.ventricles``, shared with
inference), depth below the intracranial boundary, and the parenchyma where IPH may be placed
(at least ``PARENCHYMA_MARGIN_MM`` deep, not ventricle, denser than CSF). All geometry is done on
the canonical axial array (``CTImage.to_canonical_array``: [S, P, L]).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from ..anatomy.brain import brain_mask_canonical
from ..anatomy.extent import bounding_box
from ..anatomy.ventricles import CSF_HU, ventricle_mask_canonical
from ..core import config
from ..core.ct_image import CTImage
from ..core.hashing import sha256_file_cached, sha256_text
from ..io.ct_files import read_ct
from ..segmentation import net
from .resampling import center_lps, resample

PARENCHYMA_MARGIN_MM = 4.0
BACKGROUND_FILES = ("cranium_invesalius.nii.gz",)
# real heads with a hemorrhage of their own: a background once that blood is delineated
# (``delineated_head``); new lesions keep ``OWN_BLOOD_MARGIN_MM`` away from it
HEMORRHAGE_HEADS = ("mistie_0034.nii.gz",)
OWN_BLOOD_MARGIN_MM = 10.0


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """``data_dir``, or the shared data folder when None."""
    return Path(data_dir) if data_dir is not None else config.shared_data_dir()


@functools.lru_cache(maxsize=4)
def shared_background_heads(data_dir: str) -> tuple[CTImage, ...]:
    """The background heads under ``data_dir`` (cached, shared: do not modify; anatomy caches on them)."""
    out = []
    for name in BACKGROUND_FILES:
        p = Path(data_dir) / "realct" / name
        if p.exists():
            ct = read_ct(p, validate=False)
            ct.metadata["background"] = name
            out.append(ct)
    return tuple(out)


def load_background_heads(data_dir: str | Path | None = None) -> list[CTImage]:
    """Lesion-free real head CTs (currently cranium_invesalius). Copies; safe to modify.

    For more anatomical variety use ``derive_background(head, rng)``.
    """
    heads = shared_background_heads(str(resolve_data_dir(data_dir)))
    if not heads:
        raise FileNotFoundError(f"no background head CT under {resolve_data_dir(data_dir) / 'realct'}")
    return [CTImage(h.array.copy(), h.spacing, h.origin, h.direction.copy(), h.source,
                    {k: v for k, v in h.metadata.items() if not k.startswith("_")}) for h in heads]


@functools.lru_cache(maxsize=2)
def delineated_head(data_dir: str, name: str) -> tuple[CTImage, np.ndarray]:
    """A real head with a hemorrhage (``HEMORRHAGE_HEADS``) and its own blood's labels (IPH/IVH).

    The blood is delineated by the bundled segmenter (network + anatomical post-processing; on
    mistie_0034 41.6 mL against an independent 41.5 mL) and cached under ``config.cache_dir()``
    keyed by the scan's sha256 and the segmenter's description, so training data stay fixed when
    the weights change only if the cache is kept. The head's anatomy (cached on it) excludes the
    blood and ``OWN_BLOOD_MARGIN_MM`` around it from lesion placement. Shared: do not modify.
    """
    path = Path(data_dir) / "realct" / name
    ct = read_ct(path, validate=False)
    ct.metadata["background"] = name
    key = sha256_text(sha256_file_cached(path) + net.model_description())[:16]
    cached = config.cache_dir() / "delineations" / f"{name.split('.')[0]}_{key}.npy"
    if cached.exists():
        own = np.load(cached)
    else:
        own = net.segment_net(ct).astype(np.uint8)
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, own)
    an = anatomy(ct)
    zone = ndi.distance_transform_edt(~(ct.to_canonical_array(own) > 0), sampling=an.spacing) <= OWN_BLOOD_MARGIN_MM
    an.parenchyma &= ~zone
    an.ventricles &= ~zone
    ct.metadata["_own_blood_zone"] = zone
    return ct, own


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
    kept_out = None
    if isinstance(pre, np.ndarray) and pre.shape == background.shape:
        lab = background.to_canonical_array(pre)
        brain, vent, kept_out = lab >= 1, lab == 2, lab == ANATOMY_KEPT_OUT
    else:
        brain = brain_mask_canonical(hu, sp)
        vent = ventricle_mask_canonical(hu, brain, sp)
    depth = np.zeros(hu.shape, np.float32)
    pre_d = background.metadata.get("_anatomy_depth")
    if isinstance(pre_d, np.ndarray) and pre_d.shape == background.shape:
        depth = background.to_canonical_array(pre_d).astype(np.float32) * brain
    elif brain.any():
        sl = bounding_box(brain, (1, 1, 1))
        depth[sl] = ndi.distance_transform_edt(brain[sl], sampling=sp)
    par = brain & (depth >= PARENCHYMA_MARGIN_MM) & ~vent & (hu > CSF_HU[1] - 3)
    if kept_out is not None:
        par &= ~kept_out
    an = Anatomy(hu, sp, brain, par, vent, depth)
    background.metadata["_anatomy"] = an
    return an


ANISOTROPY = 0.06  # per-axis scale on top of the global one (domain randomisation)
ELASTIC_GRID_MM = 40.0  # correlation length of the elastic displacement
ELASTIC_MM = 2.5  # SD of the displacement
# anatomy label of a derived head: brain where no lesion may be placed (a delineated head's own blood
# and OWN_BLOOD_MARGIN_MM around it); 1 = brain, 2 = ventricles
ANATOMY_KEPT_OUT = 3


def _elastic_field(head: CTImage, rng: np.random.Generator, sd_mm: float) -> sitk.Transform:
    """A smooth random displacement field (LPS mm) on a coarse copy of the head's grid (fast to apply)."""
    coarse = 8.0
    size = [max(4, int(np.ceil(n * s / coarse)) + 1) for n, s in zip(head.shape[::-1], head.spacing)]
    field = rng.standard_normal((3, *size[::-1]))
    field = np.stack([ndi.gaussian_filter(f, ELASTIC_GRID_MM / coarse / 2.0) for f in field])
    field *= sd_mm / max(float(field.std()), 1e-6)
    img = sitk.GetImageFromArray(np.moveaxis(field, 0, -1).astype(np.float64), isVector=True)
    img.SetSpacing([coarse] * 3)
    img.SetOrigin([float(v) for v in head.origin])
    img.SetDirection([float(v) for v in np.asarray(head.direction).ravel()])
    return sitk.DisplacementFieldTransform(img)


def derive_background(head: CTImage, rng: np.random.Generator, strength: float = 1.0,
                      elastic_rng: np.random.Generator | None = None,
                      own_blood: np.ndarray | None = None) -> CTImage:
    """A new head from a real one: mirror, small rotation/scale, HU offset (same grid).

    ``elastic_rng`` (domain randomisation) adds a per-axis scale (±``ANISOTROPY``) and a smooth
    elastic deformation (smooth random displacement field, correlation ``ELASTIC_GRID_MM``, SD ``ELASTIC_MM``), drawn
    from that generator so ``rng``'s stream (and every other draw of the case) is unchanged.
    ``own_blood``: the labels of a delineated head's own hemorrhage (``delineated_head``), moved with
    the head into ``metadata["own_blood"]``; the zone around it stays out of lesion placement.
    """
    c = center_lps(head)
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
    tx_all = aff
    derived_extra = {}
    if elastic_rng is not None:
        aniso = 1.0 + elastic_rng.uniform(-ANISOTROPY, ANISOTROPY, 3) * strength
        aff.SetMatrix([float(v) for v in (m @ np.diag(1.0 / aniso)).ravel()])
        tx_all = sitk.CompositeTransform([aff, _elastic_field(head, elastic_rng, ELASTIC_MM * strength)])
        derived_extra = {"anisotropy": [round(float(a), 3) for a in aniso], "elastic_mm": ELASTIC_MM * strength}
    # every map of the head moves onto its own grid by the same transform
    warp = functools.partial(resample, head, head.shape[::-1], head.spacing, head.origin, head.direction,
                             transform=tx_all)
    arr = warp()
    an = anatomy(head)
    lab = (an.brain.astype(np.uint8) + an.ventricles.astype(np.uint8))
    zone = head.metadata.get("_own_blood_zone")
    if isinstance(zone, np.ndarray):
        lab[zone & an.brain] = ANATOMY_KEPT_OUT
    lab_arr = warp(interp=sitk.sitkNearestNeighbor, default=0, array=head.from_canonical_array(lab), pixel=None)
    depth_arr = warp(default=0, array=head.from_canonical_array(an.depth)) / scale
    moved_blood = None
    if own_blood is not None:
        moved_blood = warp(interp=sitk.sitkNearestNeighbor, default=0, array=np.asarray(own_blood, np.uint8),
                           pixel=None).astype(np.uint8)
    offset = rng.uniform(-3.0, 3.0) * strength
    soft = (arr > -50) & (arr < 150)
    arr = arr.astype(np.float32)
    arr[soft] += offset
    out = CTImage(arr, head.spacing, head.origin, head.direction.copy(), head.source,
                  {"background": head.metadata.get("background", ""), "derived": {
                      "angles_deg": [round(float(a), 2) for a in angles], "scale": round(float(scale), 3),
                      "mirror": bool(mirror), "hu_offset": round(float(offset), 2), **derived_extra},
                   "_anatomy_labels": lab_arr.astype(np.uint8), "_anatomy_depth": depth_arr.astype(np.float32)})
    if moved_blood is not None:
        out.metadata["own_blood"] = moved_blood
    return out
