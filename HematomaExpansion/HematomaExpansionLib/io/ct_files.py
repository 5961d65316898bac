"""Reading CT scans (NIfTI, NRRD, MHA, DICOM series folder) into a validated `CTImage`, and writing
masks/heatmaps on the CT's exact grid."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.ct_image import CTImage
from ..core.errors import GeometryError, InputNotFoundError, NotACTError, UnreadableImageError
from .gantry_tilt import MAX_CORRECTABLE_TILT_DEG, MAX_UNCORRECTED_TILT_DEG, correct_tilt, slice_geometry
from .nifti_integrity import check_nifti_data, is_nifti
from .validation import validate_ct

log = logging.getLogger(__name__)
sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ITK prints warnings to stderr; we raise clear errors instead

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
# Beyond this, slice positions are not "equally spaced" and a 3D grid would misplace anatomy.
MAX_SLICE_SPACING_DEVIATION_MM = 0.05


def is_volume_file(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in VOLUME_SUFFIXES)


def read_ct(path: str | Path, validate: bool = True) -> CTImage:
    """Read and (by default) validate a CT. Raises a specific HematomaExpansionError on any problem."""
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such file or folder")
    if p.is_dir():
        ct = _read_dicom_series(p)
    else:
        ct = _read_volume_file(p)
    if validate:
        validate_ct(ct)
    return ct


def _read_volume_file(p: Path) -> CTImage:
    if p.stat().st_size == 0:
        raise UnreadableImageError(f"{p}: the file is empty")
    # the data check decompresses the file a second time; both release the GIL, so it runs beside the read
    # (0.6 s of a 68 MB thin-slice scan). The reader's own error, if any, is the one reported.
    with ThreadPoolExecutor(max_workers=1) as pool:
        data_check = pool.submit(check_nifti_data, p) if is_nifti(p) else None
        try:
            image = sitk.ReadImage(str(p))
        except RuntimeError as exc:
            first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
            raise UnreadableImageError(
                f"{p}: not a readable image (expected NIfTI, NRRD, MHA or a DICOM folder). {first_line}".strip()
            ) from None
        if data_check is not None:
            data_check.result()
    return _image_to_ct(image, str(p), {"format": p.suffix.lower().lstrip(".")})


def _image_to_ct(image: sitk.Image, source: str, metadata: dict) -> CTImage:
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise NotACTError(
            f"{source}: has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour or vector "
            "image); a CT has one intensity per voxel"
        )
    dim = image.GetDimension()
    size = image.GetSize()
    if dim == 4:
        if size[3] == 1:
            image = image[:, :, :, 0]
        else:
            raise GeometryError(
                f"{source}: 4D image with {size[3]} volumes (time series or multi-phase); "
                "give one 3D CT volume"
            )
    elif dim == 2:
        raise GeometryError(f"{source}: 2D image {size[0]}x{size[1]}; a 3D head CT volume is required")
    elif dim != 3:
        raise GeometryError(f"{source}: {dim}D image; a 3D head CT volume is required")
    direction = np.array(image.GetDirection()).reshape(3, 3)
    if abs(abs(np.linalg.det(direction)) - 1) > 1e-3:
        raise GeometryError(f"{source}: the image direction matrix is degenerate (determinant {np.linalg.det(direction):.3f})")
    return CTImage.from_sitk(image, source, metadata)


def _read_dicom_series(folder: Path) -> CTImage:
    reader = sitk.ImageSeriesReader()
    series_ids = reader.GetGDCMSeriesIDs(str(folder)) or []
    if not series_ids:
        if not any(folder.iterdir()):
            raise InputNotFoundError(f"{folder}: the folder is empty")
        raise UnreadableImageError(f"{folder}: no DICOM series found in this folder")
    if len(series_ids) > 1:
        # The largest series is the scan; localizers/dose reports are small.
        files_per_series = {sid: reader.GetGDCMSeriesFileNames(str(folder), sid) for sid in series_ids}
        series_id = max(files_per_series, key=lambda s: len(files_per_series[s]))
        log.warning("%s holds %d series; using the largest (%s)", folder, len(series_ids), series_id)
        files = files_per_series[series_id]
    else:
        files = reader.GetGDCMSeriesFileNames(str(folder), series_ids[0])
    meta = _dicom_metadata(files[0])
    modality = meta.get("modality", "").upper()
    if modality and modality != "CT":
        raise NotACTError(f"{folder}: DICOM Modality is {modality!r}, not CT; this tool needs a non-contrast head CT")
    if len(files) < 3:
        raise GeometryError(f"{folder}: only {len(files)} slice(s); a 3D CT series is required")
    geometry = _slice_positions(files, folder)
    if geometry is not None:
        files = [files[i] for i in geometry[0]]  # ascending along the slice normal
    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise UnreadableImageError(f"{folder}: DICOM series could not be read: {str(exc).strip().splitlines()[-1]}") from None
    # GDCM applies RescaleSlope/Intercept, so voxels are HU when the tags are present.
    meta["format"] = "dicom"
    meta["n_files"] = len(files)
    if geometry is not None and geometry[3] > MAX_UNCORRECTED_TILT_DEG:
        sheared = _image_to_ct(image, str(folder), meta)  # the same checks as any series
        return correct_tilt(sheared.array, geometry[1], geometry[2], sheared.spacing[:2], str(folder), meta)
    return _image_to_ct(image, str(folder), meta)


def _dicom_metadata(path: str) -> dict:
    r = sitk.ImageFileReader()
    r.SetFileName(path)
    r.LoadPrivateTagsOff()
    try:
        r.ReadImageInformation()
    except RuntimeError:
        return {}
    tags = {"modality": "0008|0060", "rescale_type": "0028|1054", "series_description": "0008|103e",
            "image_orientation": "0020|0037", "kvp": "0018|0060"}
    return {k: r.GetMetaData(t).strip() for k, t in tags.items() if r.HasMetaDataKey(t)}


def _slice_positions(files: list[str], folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """(file order along the normal, sorted positions, orientation, tilt degrees); refuses series whose
    slices are not equally spaced along the slice normal. None when the positional tags are missing."""
    positions, orientation = [], None
    for f in files:
        r = sitk.ImageFileReader()
        r.SetFileName(f)
        try:
            r.ReadImageInformation()
            pos = [float(v) for v in r.GetMetaData("0020|0032").split("\\")]
            orientation = [float(v) for v in r.GetMetaData("0020|0037").split("\\")]
        except (RuntimeError, ValueError):
            return None  # no positional tags: let SimpleITK decide
        positions.append(pos)
    orientation = np.array(orientation)
    normal = np.cross(orientation[:3], orientation[3:])
    pos = np.array(positions)
    order = np.argsort(pos @ normal)
    pos = pos[order]
    gaps = np.diff(pos @ normal)
    if np.any(gaps < 1e-3):
        raise GeometryError(f"{folder}: two or more slices share a position (duplicate slices or several series mixed)")
    if gaps.max() - gaps.min() > MAX_SLICE_SPACING_DEVIATION_MM:
        raise GeometryError(
            f"{folder}: unequal slice spacing ({gaps.min():.2f}–{gaps.max():.2f} mm; missing slices or a "
            "variable-thickness reconstruction). Export an equally spaced series"
        )
    steps = np.diff(pos, axis=0)
    if np.abs(steps - steps.mean(axis=0)).max() > MAX_SLICE_SPACING_DEVIATION_MM:
        raise GeometryError(f"{folder}: the slices are not shifted by a constant step (not a gantry tilt); "
                            "export a regular series")
    tilt = slice_geometry(pos, orientation)[3]
    if tilt > MAX_CORRECTABLE_TILT_DEG:
        raise GeometryError(f"{folder}: the slices are sheared by {tilt:.1f}°, more than a gantry tilts "
                            f"({MAX_CORRECTABLE_TILT_DEG:.0f}°); this is not one regular series")
    return order, pos, orientation, tilt


def write_labels(ct: CTImage, labels: np.ndarray, path: str | Path) -> Path:
    """Write a label map with the CT's exact geometry."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(ct.to_sitk(labels.astype(np.uint8)), str(p), True)
    return p


def write_float_volume(ct: CTImage, volume: np.ndarray, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(ct.to_sitk(volume.astype(np.float32, copy=False)), str(p), True)
    return p
