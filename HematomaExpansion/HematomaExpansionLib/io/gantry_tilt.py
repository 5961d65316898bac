"""Gantry-tilted DICOM series: re-align the sheared slices onto a regular grid, as dcm2niix does.

With a tilted gantry each slice is displaced within its own plane relative to the previous one
(``ImagePositionPatient`` advances along a direction that is not the slice normal). A reader that
stacks the slices along the normal, as ITK does, misplaces the anatomy by up to several
centimetres at the ends of the scan. Here slice ``k`` is shifted back within its plane by ``k``
times the in-plane step (linear interpolation, air outside), so the result is an orthogonal grid:
origin the first slice's position, axes the row and column directions and the slice normal,
spacing the pixel spacing and the step along the normal. Every voxel is where the scanner put it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..core.ct_image import CTImage

AIR_HU = -1024.0
# Beyond this tilt a series is re-aligned; below it the shear is sub-voxel over a head and is ignored.
MAX_UNCORRECTED_TILT_DEG = 0.5
# Scanners tilt up to about 30°; more than this is not a gantry tilt but a broken or mixed series.
MAX_CORRECTABLE_TILT_DEG = 35.0


def slice_geometry(positions: np.ndarray, orientation: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(row direction, column direction, normal step mm, tilt degrees) of positions sorted along the normal."""
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    step = (positions[-1] - positions[0]) / (len(positions) - 1)
    along = float(step @ normal)
    cos = abs(along) / float(np.linalg.norm(step))
    return row, col, along, float(np.degrees(np.arccos(min(1.0, cos))))


def correct_tilt(array: np.ndarray, positions: np.ndarray, orientation: np.ndarray,
                 pixel_spacing: tuple[float, float], source: str, metadata: dict) -> CTImage:
    """The series re-aligned: ``array`` [k, j, i] with slice k at ``positions[k]`` (sorted along the
    normal), ``orientation`` the six direction cosines, ``pixel_spacing`` (column mm, row mm)."""
    row, col, along, tilt = slice_geometry(positions, orientation)
    normal = np.cross(row, col)
    step = (positions[-1] - positions[0]) / (len(positions) - 1)
    in_plane = step - along * normal
    shift_i = float(in_plane @ row) / pixel_spacing[0]  # voxels per slice, along the columns (i)
    shift_j = float(in_plane @ col) / pixel_spacing[1]  # ... and along the rows (j)
    out = np.empty(array.shape, np.float32)
    for k in range(array.shape[0]):
        # voxel (i, j) of the regular grid lies at (i - k·shift_i, j - k·shift_j) of the sheared slice k
        out[k] = ndi.shift(array[k].astype(np.float32), (k * shift_j, k * shift_i), order=1, mode="constant",
                           cval=AIR_HU)
    meta = dict(metadata, gantry_tilt_deg=round(tilt, 2), gantry_tilt_corrected=True)
    return CTImage(out, (pixel_spacing[0], pixel_spacing[1], along), tuple(positions[0]),
                   np.column_stack([row, col, normal]), source, meta)
