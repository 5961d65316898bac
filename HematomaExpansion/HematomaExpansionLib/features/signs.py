"""NCCT signs of hematoma expansion measured on the baseline CT + IPH mask.

Each sign is its published reader definition made measurable. The definitions, thresholds and
citations are tabled in ``docs/ncct_signs.md``: change the two together. Everything runs on the
canonical axial array (``CTImage.canonical_view``) cropped to the hematoma's bounding box
(+ ``CROP_MARGIN_MM``), so it does not depend on the scan's storage order.

Density regions. IPH voxels below ``CLOT_FLOOR_HU`` (CSF or edema: a cleft an automatic mask covers) are
not clot. The *core* is the rest eroded by ``CORE_EROSION_MM`` (in-plane only across thick slices: the
partial-volume border left out), lightly smoothed. A region's *density* is the median HU of its interior
(``INTERIOR_MARGIN_MM`` in from its blurred margin). A region *reaches the edge* when it touches the
core's outer border, and is *encapsulated* otherwise. A margin is *well-defined* when the density
transition is at most ``MARGIN_MAX_MM`` wide (``margin_width_mm``). Encapsulated and edge-reaching
exclude each other, and a region inside the hypodense part of a blend belongs to that blend, so one
region never scores both the blend sign and the hypodensity of BAT.

- Hypodensity (Boulouis 2016): encapsulated regions ≥ ``HYPO_DELTA_HU`` below the core median and
  ≥ ``HYPO_MIN_MM3``; presence, count and volume fraction. Small pockets lose most of their contrast
  to partial volume, so the continuous ``sign_core_min_hu`` (lowest smoothed core density) and
  ``sign_hypodensity_depth_hu`` (core median minus it) go with them, and the pocket top-hat
  (``sign_pocket_tophat_hu``, ``sign_pocket_tophat_fraction``): how far the core dips below the blood
  around it in-plane, which an automatic mask reaching into the brain at its border does not fake.
- Black hole (Li 2016): an encapsulated region ≥ ``BLACK_HOLE_DELTA_HU`` below the hematoma around
  it, with a well-defined margin.
- Swirl (Selariu 2012): a region inside the core (any shape, encapsulated or not) at most
  ``SWIRL_ISO_TOLERANCE_HU`` above the density of the brain around the hematoma.
- Blend (Li 2015): the core split into two density populations (Otsu); the largest hypodense part
  reaches the edge, lies ≥ ``BLEND_DELTA_HU`` below the hyperdense part, with a well-defined margin.
- Satellite (Shimoda 2017): a 2D piece of IPH on an axial slice, separate from the main hematoma's
  section there, ≤ ``SATELLITE_MAX_DIAMETER_MM`` across and ≤ ``SATELLITE_MAX_DISTANCE_MM`` from it.
- Island (Li 2017): small (≤ ``ISLAND_MAX_DIAMETER_MM``) hematomas, either separate from the main
  one or bubbles/sprouts on it (what an in-plane opening of that diameter removes); criterion 1:
  ≥ 3 separate, criterion 2: ≥ 4 in all with some attached.
- Heterogeneity: SD of the core HU, and the interquartile range / 1.349 (an SD that a few
  partial-volume voxels at an automatic mask's border do not inflate).
- Shape: 1 − solidity and 1 − sphericity (voxel-face surface area; lower than pyradiomics' mesh
  sphericity, differences between hematomas are what matter).

BAT is in ``expansion.clinical_scores``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist

from ..anatomy.extent import bounding_box
from ..core.ct_image import CTImage
from ..core.morphology import ball, inplane_disk, inplane_grey_closing

CROP_MARGIN_MM = 12.0
CORE_EROSION_MM = 1.6
SMOOTH_SIGMA_MM = 0.8
INTERIOR_MARGIN_MM = 1.0
MARGIN_MAX_MM = 3.0
POCKET_SURROUND_MM = 3.0  # the hematoma around a pocket whose margin is measured
MARGIN_REPORT_MAX_MM = 20.0  # sign_blend_margin_mm is capped here (no interface: the cap)
HYPO_DELTA_HU = 15.0
HYPO_MIN_MM3 = 12.0
BLACK_HOLE_DELTA_HU = 28.0
BLEND_DELTA_HU = 18.0
SWIRL_ISO_TOLERANCE_HU = 5.0
BRAIN_SHELL_MM = (3.0, 10.0)
BRAIN_HU_RANGE = (15.0, 50.0)
BRAIN_MIN_VOXELS = 50
SATELLITE_MAX_DIAMETER_MM = 10.0
SATELLITE_MAX_DISTANCE_MM = 20.0
ISLAND_MAX_DIAMETER_MM = 10.0
ISLAND_MIN_ML = 0.01
ISLAND_SEPARATE_MIN = 3
ISLAND_TOTAL_MIN = 4
BUBBLE_MIN_THICKNESS_MM = 1.5
POCKET_TOPHAT_RADIUS_MM = 8.0
POCKET_TOPHAT_PERCENTILE = 99.0
POCKET_TOPHAT_MIN_HU = 10.0
IQR_PER_SD = 1.349  # interquartile range of a normal distribution, in SDs
CLOT_FLOOR_HU = 18.0
CLOT_MIN_VOXELS = 20

SIGN_FEATURES = (
    "sign_mean_hu", "sign_heterogeneity_sd", "sign_hypodensity", "sign_hypodensity_count",
    "sign_hypodensity_fraction", "sign_core_min_hu", "sign_hypodensity_depth_hu",
    "sign_pocket_tophat_hu", "sign_pocket_tophat_fraction", "sign_heterogeneity_iqr_sd",
    "sign_black_hole", "sign_black_hole_contrast_hu", "sign_swirl",
    "sign_blend", "sign_blend_contrast_hu", "sign_blend_coherence", "sign_blend_margin_mm",
    "sign_satellite", "sign_satellite_count",
    "sign_island_count", "sign_island_separate_count", "sign_island_attached_count",
    "sign_island_sign", "sign_island_criterion", "sign_irregularity", "sign_nonsphericity",
)


# --- geometry helpers ------------------------------------------------------------------------
def _crop(hu: np.ndarray, mask: np.ndarray, spacing, margin_mm: float = CROP_MARGIN_MM):
    """The mask's bounding box + ``margin_mm``: (float32 HU, mask, slices), both contiguous copies
    (``hu`` and ``mask`` may be views of the whole scan)."""
    sl = bounding_box(mask, [int(math.ceil(margin_mm / s)) for s in spacing])
    return np.ascontiguousarray(hu[sl], dtype=np.float32), np.ascontiguousarray(mask[sl]), sl


def _padded(box: tuple[slice, ...], pad_mm: float, spacing, shape) -> tuple[slice, ...]:
    p = [int(math.ceil(pad_mm / s)) + 1 for s in spacing]
    return tuple(slice(max(0, b.start - q), min(n, b.stop + q)) for b, q, n in zip(box, p, shape))


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


def _corner_grid(voxels: np.ndarray) -> np.ndarray:
    """Voxel corners as a grid one larger per axis: corner ``c`` (at voxel coordinate ``c - 0.5``)
    is set when a voxel it bounds is. ``argwhere`` of it lists every corner once, sorted (what
    ``np.unique`` of the 8 corners of every voxel gives, without sorting 8 points per voxel)."""
    c = np.pad(voxels, 1)
    c = c[:-1] | c[1:]
    c = c[:, :-1] | c[:, 1:]
    return c[:, :, :-1] | c[:, :, 1:]


def solidity(mask: np.ndarray, spacing) -> float:
    border = mask & ~ndi.binary_erosion(mask)
    if np.count_nonzero(border) < 8:
        return 1.0
    corners = (np.argwhere(_corner_grid(border)) - 0.5) * np.asarray(spacing)
    corners = np.round(corners, 4)
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


def feret_diameter_mm(piece: np.ndarray, spacing_yx, limit: float = math.inf) -> float:
    """Largest in-plane extent (mm) of a 2D piece: greatest distance between pixel centres plus one
    pixel. Above ``limit`` the value is only a lower bound (enough to say "wider than limit")."""
    pts = np.argwhere(piece) * np.asarray(spacing_yx, dtype=float)
    pixel = float(np.mean(spacing_yx))
    extent = float((pts.max(0) - pts.min(0)).max()) + pixel
    if extent > limit or len(pts) < 2:
        return extent
    return float(pdist(pts).max()) + pixel


def _max_section_diameter_mm(region: np.ndarray, spacing, limit: float) -> float:
    widest = 0.0
    for k in np.flatnonzero(region.any(axis=(1, 2))):
        widest = max(widest, feret_diameter_mm(region[k], spacing[1:], limit))
        if widest > limit:
            break
    return widest


def _inplane_edt(mask: np.ndarray, spacing) -> np.ndarray:
    """Per axial slice: distance (mm) from each mask pixel to the nearest pixel outside the mask."""
    out = np.zeros(mask.shape, np.float32)
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        out[k] = np.inf if mask[k].all() else ndi.distance_transform_edt(mask[k], sampling=spacing[1:])
    return out


def _inplane_opening(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Per-slice opening with a disk of ``radius_mm``: what remains where a disk that size fits."""
    eroded = _inplane_edt(mask, spacing) > radius_mm
    opened = np.zeros_like(mask)
    for k in np.flatnonzero(eroded.any(axis=(1, 2))):
        opened[k] = ndi.distance_transform_edt(~eroded[k], sampling=spacing[1:]) <= radius_mm
    return opened & mask


def margin_width_mm(sm: np.ndarray, within: np.ndarray, lo: float, hi: float, spacing) -> float:
    """Width (mm) of the density transition between levels ``lo`` and ``hi`` inside ``within``.

    Volume of the voxels in the middle half of the step per unit area of the mid-level interface:
    ≈ 1.35 σ for a step blurred by a Gaussian of σ, half the length of a linear ramp between two
    plateaus. ``inf`` when there is no interface.
    """
    step = hi - lo
    if step <= 0:
        return math.inf
    band = within & (sm > lo + step / 4) & (sm < hi - step / 4)
    above = sm > (lo + hi) / 2
    vox = float(np.prod(spacing))
    area = 0.0
    for axis in range(3):
        a = tuple(slice(0, -1) if i == axis else slice(None) for i in range(3))
        b = tuple(slice(1, None) if i == axis else slice(None) for i in range(3))
        faces = within[a] & within[b] & (above[a] != above[b])
        area += np.count_nonzero(faces) * vox / spacing[axis]
    return float(band.sum() * vox / area) if area > 0 else math.inf


def _density(hu: np.ndarray, region: np.ndarray, spacing) -> float:
    """Median HU of the region's interior (the whole region when it is thinner than the margin)."""
    inner = ndi.binary_erosion(region, ball(INTERIOR_MARGIN_MM, spacing))
    return float(np.median(hu[inner if inner.any() else region]))


# --- density signs ---------------------------------------------------------------------------
def _hypodense_regions(hu: np.ndarray, sm: np.ndarray, core: np.ndarray, med: float, blend_part: np.ndarray,
                       spacing) -> list[dict]:
    """Low-density regions of the core (≥ HYPO_DELTA_HU below the median, ≥ HYPO_MIN_MM3). A region
    inside the hypodense part of a blend belongs to that edge-reaching part: not encapsulated."""
    low = core & (sm < med - HYPO_DELTA_HU)
    lab, _ = ndi.label(low)
    border = core & ~ndi.binary_erosion(core)
    around = core & ~ndi.binary_dilation(low, ball(INTERIOR_MARGIN_MM, spacing))
    hyper = float(np.median(hu[around])) if around.any() else med
    min_vox = HYPO_MIN_MM3 / float(np.prod(spacing))
    regions = []
    for i, box in enumerate(ndi.find_objects(lab), start=1):
        big = _padded(box, POCKET_SURROUND_MM, spacing, lab.shape)
        region = lab[big] == i
        n = int(region.sum())
        if n < min_vox:
            continue
        level = _density(hu[big], region, spacing)
        regions.append({
            "voxels": n, "level": level, "contrast": hyper - level,
            "encapsulated": not bool(((border[big] | blend_part[big]) & region).any()),
            "margin_mm": margin_width_mm(sm[big], core[big], level, hyper, spacing),
        })
    return regions


def _brain_density(hu: np.ndarray, mask: np.ndarray, spacing) -> float | None:
    """Median HU of brain parenchyma in a shell around the hematoma (None without enough of it)."""
    d = ndi.distance_transform_edt(~mask, sampling=spacing)
    lo, hi = BRAIN_HU_RANGE
    shell = (d > BRAIN_SHELL_MM[0]) & (d <= BRAIN_SHELL_MM[1]) & (hu >= lo) & (hu <= hi)
    return float(np.median(hu[shell])) if shell.sum() >= BRAIN_MIN_VOXELS else None


def _pocket_signs(regions: list[dict], core_voxels: int, brain: float | None) -> dict[str, float]:
    enc = [r for r in regions if r["encapsulated"]]
    holes = [r for r in enc if r["contrast"] >= BLACK_HOLE_DELTA_HU and r["margin_mm"] <= MARGIN_MAX_MM]
    swirl = brain is not None and any(r["level"] <= brain + SWIRL_ISO_TOLERANCE_HU for r in regions)
    return {
        "sign_hypodensity": float(bool(enc)), "sign_hypodensity_count": float(len(enc)),
        "sign_hypodensity_fraction": float(sum(r["voxels"] for r in enc) / max(1, core_voxels)),
        "sign_black_hole": float(bool(holes)),
        "sign_black_hole_contrast_hu": float(max((r["contrast"] for r in enc), default=0.0)),
        "sign_swirl": float(swirl),
    }


def _pocket_tophat(sm: np.ndarray, core: np.ndarray, spacing) -> dict[str, float]:
    """How far the core dips below the blood around it, in-plane: the black top-hat of the smoothed
    HU (grey closing with a ``POCKET_TOPHAT_RADIUS_MM`` disk, minus the image). A pocket inside the
    clot is filled to the surrounding blood's level; brain or edema at the mask's edge has brain on
    one side and is not, so an over-reaching mask border does not read as a pocket (the minimum-based
    ``sign_core_min_hu`` does)."""
    ks = np.nonzero(core.any(axis=(1, 2)))[0]  # in-plane: slices without core voxels are not needed
    sub = sm[ks]
    tophat = inplane_grey_closing(sub, inplane_disk(POCKET_TOPHAT_RADIUS_MM, spacing)) - sub
    vals = tophat[core[ks]]
    return {"sign_pocket_tophat_hu": float(np.percentile(vals, POCKET_TOPHAT_PERCENTILE)),
            "sign_pocket_tophat_fraction": float((vals >= POCKET_TOPHAT_MIN_HU).mean())}


def _blend(hu: np.ndarray, sm: np.ndarray, core: np.ndarray, spacing) -> tuple[dict[str, float], np.ndarray]:
    """Blend sign features and the blend's hypodense part (empty when there is no blend)."""
    none = np.zeros_like(core)
    svals = sm[core]
    if svals.size < 30 or svals.max() - svals.min() <= 1:
        return {}, none
    thr = _otsu(svals)
    lowpop, hipop = core & (sm <= thr), core & (sm > thr)
    if not lowpop.any() or not hipop.any():
        return {}, none
    lab, n = ndi.label(lowpop)
    sizes = ndi.sum(lowpop, lab, np.arange(1, n + 1))
    part = lab == 1 + int(np.argmax(sizes))
    hi, lo = _density(hu, hipop, spacing), _density(hu, part, spacing)
    border = core & ~ndi.binary_erosion(core)
    reaches = bool((border & part).any())
    margin = margin_width_mm(sm, core, lo, hi, spacing)
    big_enough = part.sum() * float(np.prod(spacing)) >= HYPO_MIN_MM3
    present = reaches and big_enough and hi - lo >= BLEND_DELTA_HU and margin <= MARGIN_MAX_MM
    return {
        "sign_blend": float(present), "sign_blend_contrast_hu": hi - lo,
        "sign_blend_coherence": float(sizes.max() / lowpop.sum()),
        "sign_blend_margin_mm": min(margin, MARGIN_REPORT_MAX_MM),
    }, part if present else none


def _clot_voxels(hu: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The mask's voxels of at least ``CLOT_FLOOR_HU`` (all of it when fewer than ``CLOT_MIN_VOXELS``)."""
    clot = m & (hu >= CLOT_FLOOR_HU)
    return clot if clot.sum() >= CLOT_MIN_VOXELS else m


def _density_signs(hu: np.ndarray, m: np.ndarray, spacing) -> dict[str, float]:
    m = _clot_voxels(hu, m)
    core = ndi.binary_erosion(m, ball(CORE_EROSION_MM, spacing))
    if core.sum() < 20:
        core = m
    sm = ndi.gaussian_filter(hu, [SMOOTH_SIGMA_MM / s if s < 2.5 else 0.0 for s in spacing])
    svals = sm[core]
    med = float(np.median(svals))
    q1, q3 = np.percentile(hu[core], [25, 75])
    out = {
        "sign_mean_hu": float(hu[core].mean()), "sign_heterogeneity_sd": float(hu[core].std()),
        "sign_heterogeneity_iqr_sd": float((q3 - q1) / IQR_PER_SD),
        "sign_core_min_hu": float(svals.min()), "sign_hypodensity_depth_hu": med - float(svals.min()),
    }
    out.update(_pocket_tophat(sm, core, spacing))
    blend, blend_part = _blend(hu, sm, core, spacing)
    out.update(blend)
    regions = _hypodense_regions(hu, sm, core, med, blend_part, spacing)
    out.update(_pocket_signs(regions, int(core.sum()), _brain_density(hu, m, spacing)))
    return out


# --- satellites and islands ------------------------------------------------------------------
def _small(region: np.ndarray, spacing) -> bool:
    return _max_section_diameter_mm(region, spacing, ISLAND_MAX_DIAMETER_MM) <= ISLAND_MAX_DIAMETER_MM


def _slice_sections(lab3: np.ndarray, main_id: int, small_ids: set[int], spacing) -> tuple[np.ndarray, np.ndarray]:
    """Per axial slice: the main hematoma's section (its largest 2D piece there) and the satellite
    candidates: the other pieces of the main hematoma no wider than SATELLITE_MAX_DIAMETER_MM, and
    the pieces of separate hematomas that small (a focus's size is its own, not one slice's)."""
    m = lab3 > 0
    body, candidates = np.zeros_like(m), np.zeros_like(m)
    for k in np.flatnonzero(m.any(axis=(1, 2))):
        lab, n = ndi.label(m[k], structure=np.ones((3, 3)))
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        on_main = np.unique(lab[lab3[k] == main_id])
        on_main = on_main[on_main > 0]
        main_piece = int(on_main[np.argmax(sizes[on_main])]) if on_main.size else 0
        if main_piece:
            body[k] = lab == main_piece
        for j, box in enumerate(ndi.find_objects(lab), start=1):
            piece = lab[box] == j
            owner = int(lab3[k][box][piece][0])
            if owner == main_id:
                keep = j != main_piece and feret_diameter_mm(
                    piece, spacing[1:], SATELLITE_MAX_DIAMETER_MM) <= SATELLITE_MAX_DIAMETER_MM
            else:
                keep = owner in small_ids
            if keep:
                candidates[k][box] |= piece
    return body, candidates


def count_satellites(lab3: np.ndarray, main_id: int, small_ids: set[int], spacing) -> int:
    """Satellite foci (3D-connected groups of candidate pieces) within reach of the main hematoma."""
    body, candidates = _slice_sections(lab3, main_id, small_ids, spacing)
    if not body.any() or not candidates.any():
        return 0
    dist = ndi.distance_transform_edt(~body, sampling=spacing)
    lab, _ = ndi.label(candidates, structure=np.ones((3, 3, 3)))
    min_vox = ISLAND_MIN_ML * 1000.0 / float(np.prod(spacing))
    count = 0
    for i, box in enumerate(ndi.find_objects(lab), start=1):
        group = lab[box] == i
        if group.sum() >= min_vox and dist[box][group].min() <= SATELLITE_MAX_DISTANCE_MM:
            count += 1
    return count


def count_attached_islands(main: np.ndarray, spacing) -> int:
    """Bubble/sprout-like small hematomas on the main one: what an in-plane opening with a disk of
    ISLAND_MAX_DIAMETER_MM removes, on slices where the main body survives it, when thicker than
    BUBBLE_MIN_THICKNESS_MM (not a sliver along the border) and small."""
    opened = _inplane_opening(main, ISLAND_MAX_DIAMETER_MM / 2, spacing)
    residue = main & ~opened & opened.any(axis=(1, 2))[:, None, None]
    if not residue.any():
        return 0
    thickness = _inplane_edt(residue, spacing)
    lab, _ = ndi.label(residue, structure=np.ones((3, 3, 3)))
    min_vox = ISLAND_MIN_ML * 1000.0 / float(np.prod(spacing))
    count = 0
    for i, box in enumerate(ndi.find_objects(lab), start=1):
        bump = lab[box] == i
        if bump.sum() >= min_vox and thickness[box][bump].max() >= BUBBLE_MIN_THICKNESS_MM and _small(bump, spacing):
            count += 1
    return count


def _island_signs(m: np.ndarray, spacing) -> tuple[dict[str, float], np.ndarray]:
    """Island and satellite features; also returns the main (largest) component."""
    lab, n = ndi.label(m, structure=np.ones((3, 3, 3)))
    vox_ml = float(np.prod(spacing)) / 1000.0
    sizes = ndi.sum(m, lab, np.arange(1, n + 1)) * vox_ml
    main_id = 1 + int(np.argmax(sizes))
    main = lab == main_id
    small_ids = {i for i, box in enumerate(ndi.find_objects(lab), start=1)
                 if i != main_id and _small(lab[box] == i, spacing)}
    separate = sum(1 for i in small_ids if sizes[i - 1] >= ISLAND_MIN_ML)
    attached = count_attached_islands(main, spacing)
    criterion = 1 if separate >= ISLAND_SEPARATE_MIN else 2 if attached and separate + attached >= ISLAND_TOTAL_MIN else 0
    satellites = count_satellites(lab, main_id, small_ids, spacing)
    return {
        "sign_island_count": float(separate + attached), "sign_island_separate_count": float(separate),
        "sign_island_attached_count": float(attached), "sign_island_sign": float(criterion > 0),
        "sign_island_criterion": float(criterion),
        "sign_satellite": float(satellites > 0), "sign_satellite_count": float(satellites),
    }, main


def _shape_signs(main: np.ndarray, spacing) -> dict[str, float]:
    vol = main.sum() * float(np.prod(spacing))
    area = _surface_area(main, spacing)
    sph = (math.pi ** (1 / 3)) * (6 * vol) ** (2 / 3) / area if area > 0 else 1.0
    return {"sign_irregularity": 1.0 - solidity(main, spacing), "sign_nonsphericity": float(1.0 - min(1.0, sph))}


# --- the measurements ------------------------------------------------------------------------
def measure_signs(ct: CTImage, labels: np.ndarray) -> dict[str, float]:
    """NCCT-sign features of the IPH (label 1; all hemorrhage when there is no IPH)."""
    lab_c = ct.canonical_view(labels)
    iph = lab_c == 1
    if not iph.any():
        iph = lab_c > 0
    out = {k: 0.0 for k in SIGN_FEATURES}
    if not iph.any():
        return out
    sp = ct.canonical_spacing()
    hu, m, _ = _crop(ct.canonical_view(), iph, sp)
    islands, main = _island_signs(m, sp)
    out.update(islands)
    out.update(_shape_signs(main, sp))
    out.update(_density_signs(hu, m, sp))
    return out
