"""Checks that an image is a 3D head CT in Hounsfield units with usable geometry.

Each check raises a specific error whose message says what was found and what to do.
"""

from __future__ import annotations

import numpy as np

from ..core.ct_image import CTImage
from ..core.errors import GeometryError, NotACTError

MIN_VOXELS_PER_AXIS = 8
MAX_INPLANE_SPACING_MM = 3.0  # coarser than this, a 10 mL hematoma is a handful of voxels
MAX_SLICE_SPACING_MM = 10.0
MAX_TILT_DEG = 45.0  # the axial axis must be recognisable
# HU plausibility: air is ≈ −1000, water 0, bone several hundred.
AIR_HU = -500.0
BONE_OR_BLOOD_HU = 40.0


def validate_ct(ct: CTImage) -> None:
    _check_geometry(ct)
    _check_hounsfield(ct)


def _check_geometry(ct: CTImage) -> None:
    src = ct.source or "image"
    if ct.array.ndim != 3:
        raise GeometryError(f"{src}: {ct.array.ndim}D array; a 3D CT is required")
    if min(ct.shape) < MIN_VOXELS_PER_AXIS:
        raise GeometryError(
            f"{src}: grid {ct.shape[::-1]} (i,j,k) has fewer than {MIN_VOXELS_PER_AXIS} voxels along an axis; "
            "this is a single slice or a localizer, not a head CT volume"
        )
    if any(s <= 0 or not np.isfinite(s) for s in ct.spacing):
        raise GeometryError(f"{src}: invalid voxel spacing {ct.spacing}")
    slice_mm, row_mm, col_mm = ct.canonical_spacing()
    if max(row_mm, col_mm) > MAX_INPLANE_SPACING_MM:
        raise GeometryError(
            f"{src}: in-plane spacing {row_mm:.2f}×{col_mm:.2f} mm is too coarse (limit {MAX_INPLANE_SPACING_MM} mm); "
            "check the header's spacing units (mm expected) or use the original reconstruction"
        )
    if slice_mm > MAX_SLICE_SPACING_MM:
        raise GeometryError(
            f"{src}: slice spacing {slice_mm:.1f} mm exceeds {MAX_SLICE_SPACING_MM} mm; hematoma volume cannot be "
            "measured reliably (check spacing units or use a thinner reconstruction)"
        )
    tilt = ct.tilt_degrees()
    if tilt > 0.5:
        raise GeometryError(
            f"{src}: the grid is sheared by {tilt:.1f}° (uncorrected gantry tilt); resample to a regular grid first"
        )
    d = ct.direction
    axial_alignment = max(abs(d[2, a]) for a in range(3))
    if np.degrees(np.arccos(min(1.0, axial_alignment))) > MAX_TILT_DEG:
        raise GeometryError(f"{src}: no image axis is within {MAX_TILT_DEG}° of the head's superior axis")
    if not np.all(np.isfinite(ct.array)):
        raise NotACTError(f"{src}: contains NaN or infinite values")


def _check_hounsfield(ct: CTImage) -> None:
    src = ct.source or "image"
    a = ct.array
    sample = a[:: max(1, a.shape[0] // 16), ::4, ::4].ravel()
    lo, hi = float(sample.min()), float(sample.max())
    if hi - lo < 1e-6:
        raise NotACTError(f"{src}: all voxels have the value {lo:g}; the image is blank")
    modality = str(ct.metadata.get("modality", "")).upper()
    if modality and modality != "CT":
        raise NotACTError(f"{src}: Modality {modality!r}, not CT")
    if hi <= 1.5 and lo >= -1.5:
        raise NotACTError(f"{src}: values lie within [-1.5, 1.5]; this looks like a normalised image, not HU")
    # Background (the most frequent value) is excluded when judging tissue content.
    values, counts = np.unique(np.round(sample), return_counts=True)
    background = values[np.argmax(counts)]
    foreground = sample[np.round(sample) != background]
    if foreground.size == 0:
        raise NotACTError(f"{src}: the image holds only background")
    brain_like = float(np.mean((foreground > -15) & (foreground < 100)))
    raw_water_like = float(np.mean((sample > 950) & (sample < 1130)))
    if lo >= 0 and hi > 1500 and raw_water_like > 0.1:
        raise NotACTError(
            f"{src}: values {lo:g}..{hi:g} look like raw CT numbers without the rescale intercept "
            "(air ≈ 0, brain ≈ 1030); apply RescaleIntercept (usually −1024) to get Hounsfield units"
        )
    if hi < 250 and brain_like > 0.7:
        ct.metadata["skull_stripped"] = True  # brain-only HU image (skull-stripped export)
        return
    if lo >= 0:
        raise NotACTError(
            f"{src}: no negative values (range {lo:g}..{hi:g}); a head CT in Hounsfield units has air at ≈ −1000 "
            "and bone above 300. This looks like an MR or a non-HU image"
        )
    if lo > AIR_HU and hi < 250:
        raise NotACTError(
            f"{src}: values {lo:g}..{hi:g} contain neither air nor bone in HU; this is not a head CT "
            "(or it was intensity-normalised)"
        )
    if hi < BONE_OR_BLOOD_HU:
        raise NotACTError(f"{src}: no voxel above {BONE_OR_BLOOD_HU:g} HU (no bone, no blood); this is not a head CT in HU")
