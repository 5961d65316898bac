"""The hematoma mask as a DICOM Segmentation (SEG) object referencing the source CT series, made
with highdicom (an optional dependency, imported on use), and read back onto the CT grid.

Grid convention: ``labels`` is the array of ``read_ct(series_folder)``, i.e. ``[k, j, i]`` with ``k``
the slice in the order SimpleITK/GDCM sorts the series files, ``j`` the DICOM row and ``i`` the
column. So ``labels[k]`` is the segmentation of the k-th file of that sorted list, pixel for pixel.

The SEG is BINARY with two segments, always both described (1 = intraparenchymal hemorrhage,
2 = intraventricular hemorrhage), algorithm type AUTOMATIC (SEMIAUTOMATIC when the user corrected it). Only frames with a non-empty segment
are stored (highdicom's ``omit_empty_frames``): empty slices are implied by the SEG standard's
referenced-instance list, and the reader fills them with 0. An entirely empty mask is stored with
all its (empty) frames so that the object is still valid.

Codes: the same as the Slicer segments' terminology (``core.terminology``): segmented property
category SCT 49755003, type SCT 50960005 "Hemorrhage" for both segments, told apart by the anatomic
region (SCT 12738006 Brain for IPH, SCT 35764002 Cerebral ventricle for IVH); algorithm family
DCM 123110 "Artificial Intelligence". All are in DICOM's code tables; more specific disorder
codes were not used because they could not be verified against a SNOMED CT release here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from ..core.errors import HematomaExpansionError
from ..core.results import LABEL_IPH, LABEL_IVH
from ..core.terminology import ANATOMIC_REGIONS, HEMORRHAGE_CATEGORY, HEMORRHAGE_TYPE

log = logging.getLogger(__name__)

ALGORITHM_NAME = "HematomaExpansion"
MANUFACTURER = "HematomaExpansion (research software)"
SERIES_NUMBER = 9901
SERIES_DESCRIPTION = "Hematoma segmentation (HematomaExpansion)"
# (code value, coding scheme, meaning)
AI_FAMILY = ("123110", "DCM", "Artificial Intelligence")  # CID 7162 algorithm family


def _value_scheme_meaning(code: tuple[str, str, str]) -> tuple[str, str, str]:
    scheme, value, meaning = code
    return value, scheme, meaning


CATEGORY = _value_scheme_meaning(HEMORRHAGE_CATEGORY)
SEGMENTS = (
    # number, label, property type, anatomic region, display colour (CIE L*a*b*)
    (LABEL_IPH, "Intraparenchymal hemorrhage", _value_scheme_meaning(HEMORRHAGE_TYPE),
     _value_scheme_meaning(ANATOMIC_REGIONS[LABEL_IPH]), (53.0, 80.0, 67.0)),
    (LABEL_IVH, "Intraventricular hemorrhage", _value_scheme_meaning(HEMORRHAGE_TYPE),
     _value_scheme_meaning(ANATOMIC_REGIONS[LABEL_IVH]), (85.0, -38.0, -14.0)),
)


def write_dicom_seg(series_folder: Path, labels: np.ndarray, output_path: Path, algorithm_version: str,
                    model_description: str, algorithm_type: str = "AUTOMATIC") -> Path:
    """Write ``labels`` (0 background, 1 IPH, 2 IVH; on the grid of ``read_ct(series_folder)``) as a
    DICOM SEG referencing that series; return ``output_path``. ``algorithm_type``: AUTOMATIC, or
    SEMIAUTOMATIC for a segmentation the user corrected."""
    files = series_files(series_folder)
    hd = _highdicom()
    code = hd.sr.CodedConcept
    sources = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    labels = np.asarray(labels)
    expected = (len(sources), int(sources[0].Rows), int(sources[0].Columns))
    if labels.shape != expected:
        raise HematomaExpansionError(
            f"{series_folder}: the label map has shape {labels.shape} but the series is {expected} "
            "(slices, rows, columns); give the labels on the grid of read_ct() of this folder"
        )
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1, 2}:
        raise HematomaExpansionError(f"label values {sorted(values - {0, 1, 2})} are not 0 (background), 1 (IPH) or 2 (IVH)")
    algorithm = hd.AlgorithmIdentificationSequence(
        name=ALGORITHM_NAME,
        family=code(*AI_FAMILY),
        version=str(algorithm_version),
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=label,
            segmented_property_category=code(*CATEGORY),
            segmented_property_type=code(*prop),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues[algorithm_type],
            algorithm_identification=algorithm,
            anatomic_regions=[code(*region)],
            display_color=hd.color.CIELabColor(*lab),
        )
        for number, label, prop, region, lab in SEGMENTS
    ]
    try:
        seg = hd.seg.Segmentation(
            source_images=sources,
            pixel_array=labels.astype(np.uint8),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=hd.UID(),
            series_number=SERIES_NUMBER,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer=MANUFACTURER,
            manufacturer_model_name=ALGORITHM_NAME,
            software_versions=str(algorithm_version),
            device_serial_number="none",
            content_description=_long_string(model_description),
            content_label="HEMATOMA",
            series_description=SERIES_DESCRIPTION,
            omit_empty_frames=bool(labels.any()),
        )
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise HematomaExpansionError(f"{series_folder}: a DICOM SEG could not be made from this series: {exc}") from None
    out = Path(output_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(str(out))
    return out


def read_dicom_seg_labels(seg_path: Path, series_folder: Path) -> np.ndarray:
    """The SEG at ``seg_path`` as a uint8 label map on the grid of ``read_ct(series_folder)``
    (segment number = label value; slices the SEG does not store are 0)."""
    hd = _highdicom()
    try:
        seg = hd.seg.segread(str(seg_path))
    except (OSError, ValueError, AttributeError, pydicom.errors.InvalidDicomError) as exc:
        raise HematomaExpansionError(f"{seg_path}: not a readable DICOM Segmentation: {exc}") from None
    files = series_files(series_folder)
    uids = [str(pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID) for f in files]
    referenced = {str(item.ReferencedSOPInstanceUID)
                  for series in getattr(seg, "ReferencedSeriesSequence", [])
                  for item in getattr(series, "ReferencedInstanceSequence", [])}
    if referenced and not referenced & set(uids):
        raise HematomaExpansionError(f"{seg_path}: this SEG does not reference the series in {series_folder}")
    try:
        arr = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=uids, combine_segments=True, assert_missing_frames_are_empty=True,
        )
    except (ValueError, RuntimeError, KeyError) as exc:
        raise HematomaExpansionError(f"{seg_path}: could not map the SEG onto the series in {series_folder}: {exc}") from None
    return np.asarray(arr).astype(np.uint8)


def series_files(series_folder: Path) -> list[str]:
    """The files of the DICOM series in ``series_folder`` in the order ``read_ct`` stacks them
    (GDCM's sort; the largest series when the folder holds several, as ``read_ct`` does)."""
    folder = Path(series_folder)
    if not folder.is_dir():
        raise HematomaExpansionError(f"{folder}: not a folder; a DICOM SEG needs the source CT as a DICOM series folder")
    reader = sitk.ImageSeriesReader()
    series_ids = reader.GetGDCMSeriesIDs(str(folder)) or []
    if not series_ids:
        raise HematomaExpansionError(f"{folder}: no DICOM series found; a DICOM SEG can only reference a DICOM series")
    files_per_series = {sid: list(reader.GetGDCMSeriesFileNames(str(folder), sid)) for sid in series_ids}
    series_id = max(files_per_series, key=lambda s: len(files_per_series[s]))
    if len(series_ids) > 1:
        log.warning("%s holds %d series; the SEG references the largest (%s)", folder, len(series_ids), series_id)
    return files_per_series[series_id]


def _highdicom():
    try:
        import highdicom
    except ImportError:
        raise HematomaExpansionError(
            "writing or reading DICOM SEG needs the 'highdicom' package: pip install highdicom"
        ) from None
    return highdicom


def _long_string(text: str) -> str:
    """DICOM LO: at most 64 characters, no backslash or control characters."""
    clean = "".join(c for c in str(text) if c.isprintable() and c != "\\").strip()
    return clean[:64]
