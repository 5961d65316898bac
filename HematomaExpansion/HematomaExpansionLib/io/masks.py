"""Reading hemorrhage label maps (1 = IPH, 2 = IVH): on a CT's grid, or on their own."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.ct_image import CTImage
from ..core.errors import GeometryError, InputNotFoundError, UnreadableImageError
from .nifti_integrity import check_nifti_data, is_nifti

log = logging.getLogger(__name__)


def read_label_image(path: str | Path) -> sitk.Image:
    """A 3D label image with integer values, or a specific error (missing, unreadable, not 3D, not labels)."""
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"mask not found: {p}")
    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise UnreadableImageError(f"{p}: not a readable mask image {first}".rstrip()) from None
    if is_nifti(p):
        check_nifti_data(p)
    if image.GetDimension() != 3:
        raise GeometryError(f"{p}: the mask is {image.GetDimension()}D; it must be a 3D label map")
    return image


def _labels(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype.kind == "f" and not np.allclose(array, np.round(array)):
        raise UnreadableImageError(f"{path}: the mask holds non-integer values; expected labels 0/1/2")
    return np.rint(array).astype(np.int32)


def read_mask(path: str | Path, ct: CTImage) -> np.ndarray:
    """Read a label map that must lie on ``ct``'s grid (resampled by nearest neighbour when it lies on
    an equivalent grid with a different axis order, refused otherwise)."""
    p = Path(path)
    image = read_label_image(p)
    mask_img = CTImage.from_sitk(image, str(p))
    if mask_img.same_geometry(ct, tol=1e-2):
        return _labels(mask_img.array, p)
    # Same physical space, different grid: resample by nearest neighbour (e.g. mask saved by another tool).
    res = sitk.Resample(image, ct.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    arr = sitk.GetArrayFromImage(res)
    if (sitk.GetArrayFromImage(image) > 0).sum() > 0 and (arr > 0).sum() == 0:
        raise GeometryError(f"{p}: the mask does not overlap the CT in physical space; was it drawn on another scan?")
    log.warning("%s is on a different grid than the CT; resampled by nearest neighbour", p)
    return _labels(arr, p)


def read_mask_file(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A label map on its own grid: (labels [k, j, i], spacing (x, y, z) mm)."""
    p = Path(path)
    image = read_label_image(p)
    return _labels(sitk.GetArrayFromImage(image), p), tuple(float(s) for s in image.GetSpacing())
