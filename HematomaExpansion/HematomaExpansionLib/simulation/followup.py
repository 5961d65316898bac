"""Simulated baseline/follow-up pairs with a known growth and a known rigid head motion.

The baseline is ``make_sample_case``; the follow-up is the same head with the IPH grown by an
exact number of voxels (the region nearest the hematoma, with an irregular front, inside the brain
and outside the ventricles), optionally new IVH layering in the occipital horns, painted at acute
blood density, then the whole head moved by a rigid transform and resampled onto a new grid
(linear for HU, one-hot ≥ 0.5 for labels) with fresh noise. The true growth is measured from the
true masks on their own grids, as the comparison measures it. ``pair_from_case`` does the same from
a given baseline and mask (a real CT: ``scripts/bench_compare.py --real``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from ..anatomy.registration import brain_mask
from ..core.ct_image import CTImage
from ..core.results import LABEL_IPH, LABEL_IVH
from ..expansion.labels import GrowthFigures, label_from_masks
from .resampling import AIR_HU, center_lps, resample
from .sample import make_sample_case

CSF_HU = 18.0
PAD = 8
BLOOD_HU = 62.0


@dataclass
class SimulatedPair:
    baseline: CTImage
    baseline_labels: np.ndarray
    followup: CTImage
    followup_labels: np.ndarray
    transform: sitk.Euler3DTransform  # baseline LPS point -> follow-up LPS point (the truth)
    truth: GrowthFigures
    reference_points: np.ndarray  # baseline LPS: hematoma centroid + 8 brain bounding-box corners
    info: dict[str, Any]


def _allowed(ct: CTImage, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parenchyma where blood may grow, ventricular CSF) of a phantom on its grid."""
    brain = brain_mask(ct)
    smooth = ndi.gaussian_filter(ct.array, 1.0)
    csf = brain & (smooth < CSF_HU) & (labels == 0)
    csf = ndi.binary_opening(csf, iterations=1)
    parenchyma = brain & ~ndi.binary_dilation(csf, iterations=1) & (labels == 0)
    return parenchyma, csf


def grow_labels(ct: CTImage, labels: np.ndarray, growth_ml: float, new_ivh_ml: float,
                rng: np.random.Generator, ivh_region: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(follow-up labels on the baseline grid, voxels that became blood) with exactly the voxels asked for.

    ``ivh_region``: where new IVH may layer (e.g. a real CT's ventricle mask); default the CSF found
    by a density threshold, which on a phantom is the ventricles only.
    """
    vox = ct.voxel_volume_ml
    spacing = np.array(ct.spacing[::-1])
    parenchyma, csf = _allowed(ct, labels)
    if ivh_region is not None:
        csf = np.asarray(ivh_region, bool) & (labels == 0)
    out = labels.copy()
    n_grow = int(round(growth_ml / vox))
    if n_grow > 0:
        dist = ndi.distance_transform_edt(labels != LABEL_IPH, sampling=spacing)
        front = ndi.gaussian_filter(rng.standard_normal(labels.shape), (1, 3, 3))
        score = dist + 4.0 * front / (front.std() + 1e-9)
        cand = np.flatnonzero(parenchyma)
        if len(cand) < n_grow:
            raise ValueError(f"cannot grow {growth_ml} mL inside the brain")
        pick = cand[np.argsort(score.ravel()[cand], kind="stable")[:n_grow]]
        out.ravel()[pick] = LABEL_IPH
    n_ivh = int(round(new_ivh_ml / vox))
    if n_ivh > 0:
        cand = np.flatnonzero(csf & (out == 0))
        # blood layers in the dependent (posterior, LPS +y for a supine patient) occipital horns
        kji = np.array(np.unravel_index(cand, labels.shape), float)
        posterior = ct.ijk_to_lps()[1, :3] @ kji[::-1]
        pick = cand[np.argsort(-posterior, kind="stable")[:n_ivh]]
        out.ravel()[pick] = LABEL_IVH
    return out, (out > 0) & (labels == 0)


def paint_new_blood(ct: CTImage, new: np.ndarray, rng: np.random.Generator) -> CTImage:
    weight = ndi.gaussian_filter(new.astype(np.float32), (0.3, 0.7, 0.7))
    weight[new] = np.maximum(weight[new], 0.8)
    blood = BLOOD_HU + ndi.gaussian_filter(rng.standard_normal(ct.shape).astype(np.float32), (0.5, 2, 2)) * 8.0
    hu = ct.array * (1 - weight) + blood * weight
    return ct.like(np.round(hu).astype(np.float32))


def random_rigid(rng: np.random.Generator, center, max_rotation_deg: float, max_translation_mm: float) -> sitk.Euler3DTransform:
    tx = sitk.Euler3DTransform()
    tx.SetCenter(tuple(float(c) for c in center))
    angles = np.radians(rng.uniform(-max_rotation_deg, max_rotation_deg, 3))
    tx.SetRotation(*(float(a) for a in angles))
    tx.SetTranslation(tuple(float(t) for t in rng.uniform(-max_translation_mm, max_translation_mm, 3)))
    return tx


def random_inplane_rigid(rng: np.random.Generator, center, axes: np.ndarray, max_rotation_deg: float,
                         max_translation_mm: float) -> sitk.Euler3DTransform:
    """A rigid motion within the slice plane of a grid with direction ``axes``: a rotation about the slice
    normal and a translation along the rows and columns. Only this motion moves a thick-slice scan
    without inventing anatomy between its slices."""
    u, v, n = (np.asarray(axes, float)[:, i] for i in range(3))
    phi = np.radians(rng.uniform(-max_rotation_deg, max_rotation_deg))
    k = np.array([[0.0, -n[2], n[1]], [n[2], 0.0, -n[0]], [-n[1], n[0], 0.0]])
    rotation = np.eye(3) + np.sin(phi) * k + (1.0 - np.cos(phi)) * k @ k  # Rodrigues
    tx = sitk.Euler3DTransform()
    tx.SetCenter(tuple(float(c) for c in center))
    tx.SetMatrix(tuple(float(r) for r in rotation.ravel()))
    shift = rng.uniform(-max_translation_mm, max_translation_mm) * u + rng.uniform(-max_translation_mm, max_translation_mm) * v
    tx.SetTranslation(tuple(float(t) for t in shift))
    return tx


def crop_array(array: np.ndarray, pad: int) -> np.ndarray:
    return np.ascontiguousarray(array[pad:-pad, pad:-pad, pad:-pad]) if pad else array.copy()


def crop(ct: CTImage, pad: int) -> CTImage:
    """The centre of ``ct`` without ``pad`` voxels on each side (same geometry otherwise)."""
    origin = np.array(ct.origin) + ct.direction @ (np.array(ct.spacing) * pad)
    return CTImage(crop_array(ct.array, pad), ct.spacing, tuple(origin), ct.direction.copy(), ct.source)


def move_case(ct: CTImage, labels: np.ndarray, transform: sitk.Euler3DTransform, spacing_xyz,
              rng: np.random.Generator, noise_hu: float = 3.0, fov_of: CTImage | None = None,
              direction: np.ndarray | None = None) -> tuple[CTImage, np.ndarray]:
    """The head moved by ``transform`` (baseline → follow-up points) on a new grid of ``spacing_xyz``
    covering the field of view of ``fov_of`` (default ``ct``; content moved out of it is lost, as on a rescan).

    ``direction``: the new grid's axes (default axial, the identity). Giving the baseline's keeps its
    gantry tilt, as a follow-up on the same protocol would be acquired."""
    spacing_xyz = np.asarray(spacing_xyz, float)
    direction = np.eye(3) if direction is None else np.asarray(direction, float)
    fov = ct if fov_of is None else fov_of
    extent = np.array(fov.spacing) * np.array(fov.shape[::-1])
    size = np.maximum(1, np.round(extent / spacing_xyz)).astype(int)
    center = center_lps(fov)
    origin = center - direction @ ((size - 1) / 2.0 * spacing_xyz)
    inverse = transform.GetInverse()  # resampling maps output (follow-up) points to input (baseline) points
    hu = resample(ct, size, spacing_xyz, origin, direction, transform=inverse, default=AIR_HU)
    hu = np.clip(np.round(hu + rng.normal(0.0, noise_hu, hu.shape)), -1024, 3071).astype(np.float32)
    probs = [resample(ct, size, spacing_xyz, origin, direction, transform=inverse, default=0.0,
                      array=(labels == lab).astype(np.float32)) for lab in (LABEL_IPH, LABEL_IVH)]
    out = np.zeros(hu.shape, np.uint8)
    out[(probs[0] >= 0.5) & (probs[0] >= probs[1])] = LABEL_IPH
    out[(probs[1] >= 0.5) & (probs[1] > probs[0])] = LABEL_IVH
    moved = CTImage(hu, tuple(spacing_xyz), tuple(origin), direction.copy(), source=ct.source + "-followup")
    return moved, out


def reference_points(ct: CTImage, labels: np.ndarray) -> np.ndarray:
    """Baseline LPS points to score a registration at: the IPH centroid and the brain's 8 bounding-box corners."""
    brain = brain_mask(ct)
    idx = np.argwhere(brain)
    lo, hi = idx.min(0), idx.max(0)
    corners = np.array([[k, j, i] for k in (lo[0], hi[0]) for j in (lo[1], hi[1]) for i in (lo[2], hi[2])], float)
    iph = np.argwhere(labels == LABEL_IPH)
    kji = np.vstack([iph.mean(0) if len(iph) else idx.mean(0), corners])
    m = ct.ijk_to_lps()
    return (m[:3, :3] @ kji[:, ::-1].T).T + m[:3, 3]


def registration_error_mm(recovered, truth: sitk.Transform, points: np.ndarray) -> np.ndarray:
    """|recovered(p) − truth(p)| in mm at each point (``recovered``: a transform or an object with ``map_points``)."""
    pts = [tuple(float(v) for v in p) for p in points]
    if hasattr(recovered, "map_points"):
        got = recovered.map_points(points)
    else:
        got = np.array([recovered.TransformPoint(p) for p in pts])
    want = np.array([truth.TransformPoint(p) for p in pts])
    return np.linalg.norm(got - want, axis=1)


def make_pair(seed: int, baseline_ml: float = 20.0, growth_ml: float = 8.0, new_ivh_ml: float = 0.0,
              baseline_ivh: bool = True, max_rotation_deg: float = 5.0, max_translation_mm: float = 5.0,
              shape=(40, 160, 160), spacing=(3.0, 1.2, 1.2), followup_spacing=None) -> SimulatedPair:
    """A pair with ``growth_ml`` of IPH growth (exact on the baseline grid) and a random rigid motion.

    ``spacing``/``followup_spacing`` are in numpy order (slice, row, column) like ``make_sample_case``.
    """
    rng = np.random.default_rng(10_000 + seed)
    # The head is generated on a grid PAD voxels larger per side and the baseline is its centre, so the
    # moved follow-up shows real head where the baseline's field of view ended (not air).
    big_shape = tuple(n + 2 * PAD for n in shape)
    head, head_lab, _ = make_sample_case(seed, shape=big_shape, spacing=spacing, hematoma_ml=baseline_ml, with_ivh=baseline_ivh)
    lab1_head, new = grow_labels(head, head_lab, growth_ml, new_ivh_ml, rng)
    ct1_head = paint_new_blood(head, new, rng)
    ct0, lab0 = crop(head, PAD), crop_array(head_lab, PAD)
    transform = random_rigid(rng, center_lps(ct0), max_rotation_deg, max_translation_mm)
    fspacing = spacing if followup_spacing is None else followup_spacing
    ct1, lab1 = move_case(ct1_head, lab1_head, transform, tuple(fspacing[::-1]), rng, fov_of=ct0)
    truth = label_from_masks(lab0, ct0.spacing, lab1, ct1.spacing)
    info = {"seed": seed, "baseline_ml": baseline_ml, "growth_ml_on_baseline_grid": growth_ml, "new_ivh_ml": new_ivh_ml,
            "rotation_deg": [float(np.degrees(a)) for a in (transform.GetAngleX(), transform.GetAngleY(), transform.GetAngleZ())],
            "translation_mm": list(transform.GetTranslation())}
    return SimulatedPair(ct0, lab0, ct1, lab1, transform, truth, reference_points(ct0, lab0), info)


def pair_from_case(ct: CTImage, labels: np.ndarray, seed: int, growth_ml: float, new_ivh_ml: float = 0.0,
                   max_rotation_deg: float = 5.0, max_translation_mm: float = 5.0, followup_spacing=None,
                   ivh_region: np.ndarray | None = None, noise_hu: float = 3.0,
                   followup_axes: str = "axial", motion: str = "3d") -> SimulatedPair:
    """A pair from a given baseline (e.g. a real CT and its mask): grown, painted, moved, resampled.

    The follow-up keeps the baseline's field of view (head moved out of it is lost) on a grid of
    ``followup_spacing`` (numpy order; default the baseline's spacing) whose axes are axial
    (``followup_axes="axial"``) or the baseline's own, gantry tilt included (``"baseline"``).
    ``motion="3d"`` moves the head by a random rotation about every axis and a 3D translation;
    ``"in-plane"`` only within the baseline's slice plane, on the baseline's own grid (a thick-slice
    scan resampled across its slices is blurred as no rescan is; see ``random_inplane_rigid``).
    """
    if followup_axes not in ("axial", "baseline"):
        raise ValueError(f"followup_axes must be 'axial' or 'baseline', not {followup_axes!r}")
    if motion not in ("3d", "in-plane"):
        raise ValueError(f"motion must be '3d' or 'in-plane', not {motion!r}")
    if motion == "in-plane":
        followup_spacing, followup_axes = None, "baseline"
    rng = np.random.default_rng(20_000 + seed)
    lab1_on0, new = grow_labels(ct, labels, growth_ml, new_ivh_ml, rng, ivh_region=ivh_region)
    ct1_on0 = paint_new_blood(ct, new, rng)
    if motion == "in-plane":
        transform = random_inplane_rigid(rng, center_lps(ct), ct.direction, max_rotation_deg, max_translation_mm)
    else:
        transform = random_rigid(rng, center_lps(ct), max_rotation_deg, max_translation_mm)
    fspacing = tuple(ct.spacing) if followup_spacing is None else tuple(followup_spacing[::-1])
    ct1, lab1 = move_case(ct1_on0, lab1_on0, transform, fspacing, rng, noise_hu=noise_hu, fov_of=ct,
                          direction=ct.direction if followup_axes == "baseline" else None)
    truth = label_from_masks(labels, ct.spacing, lab1, ct1.spacing)
    info = {"seed": seed, "growth_ml_on_baseline_grid": growth_ml, "new_ivh_ml": new_ivh_ml,
            "rotation_deg": [float(np.degrees(a)) for a in (transform.GetAngleX(), transform.GetAngleY(), transform.GetAngleZ())],
            "translation_mm": list(transform.GetTranslation())}
    return SimulatedPair(ct, labels, ct1, lab1, transform, truth, reference_points(ct, labels), info)
