"""Export the case shown in the panel: result.json, mask, Grad-CAM, report.html and report.pdf (the CLI's
per-case outputs), and a DICOM Segmentation (seg.dcm) when the CT was read from DICOM.

The report must describe the segmentation as it is now: when it was edited after the last prediction,
the export refuses (``StaleResultError``) until the case is re-scored.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..core.ct_image import CTImage
from ..core.errors import HematomaExpansionError
from ..core.results import Prediction
from ..io.ct_files import read_ct
from ..outputs.case_outputs import result_document, write_case_outputs
from ..outputs.dicom_seg import write_dicom_seg
from ..outputs.pdf_report import write_pdf_report
from .dicom_cases import link_series_files
from .segments import labels_from_segmentation_node
from .volumes import ct_from_volume_node

log = logging.getLogger(__name__)


class StaleResultError(HematomaExpansionError):
    """The segmentation differs from the one the prediction was made on."""


def labels_on_grid(labels: np.ndarray, ct: CTImage, target: CTImage) -> np.ndarray:
    """``labels`` (on ``ct``'s grid) on ``target``'s grid: the same array when the grids are equal, else
    nearest-neighbour resampling in physical space (e.g. a series that the two readers stack in
    opposite slice order)."""
    if ct.same_geometry(target) and ct.shape == target.shape:
        return np.asarray(labels, np.uint8)
    image = ct.to_sitk(np.asarray(labels, np.uint8))
    resampled = sitk.Resample(image, target.to_sitk(np.zeros(target.shape, np.uint8)), sitk.Transform(),
                              sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    out = sitk.GetArrayFromImage(resampled).astype(np.uint8)
    if int((out > 0).sum()) != int((np.asarray(labels) > 0).sum()):
        log.warning("the DICOM grid differs from the volume's: %d voxels became %d", int((labels > 0).sum()), int((out > 0).sum()))
    return out


def check_current(prediction: Prediction, labels: np.ndarray) -> None:
    """Raise ``StaleResultError`` unless ``prediction`` was made on exactly ``labels``."""
    if prediction.mask.shape != labels.shape or not np.array_equal(prediction.mask, labels):
        raise StaleResultError("the segmentation was edited after the last prediction; press Re-score before exporting")


def export_case(ct_volume_node: Any, segmentation_node: Any, prediction: Prediction, output_dir: str | Path,
                dicom_files: list[str] | None = None, pdf: bool = True) -> dict[str, Path]:
    """Write the case's outputs into ``output_dir``; returns name → path (``seg`` only for DICOM input)."""
    ct = ct_from_volume_node(ct_volume_node, validate=False)
    labels = labels_from_segmentation_node(segmentation_node, ct_volume_node)
    check_current(prediction, labels)
    out = Path(output_dir)
    paths = write_case_outputs(ct, prediction, out)
    if pdf:
        paths["pdf"] = write_pdf_report(ct, prediction, result_document(prediction), out / "report.pdf")
    if dicom_files:
        with tempfile.TemporaryDirectory(prefix="hemexp-dicom-") as tmp:
            folder = link_series_files(dicom_files, Path(tmp) / "series")
            dicom_ct = read_ct(folder, validate=False)
            # a segmentation the user drew or corrected is SEMIAUTOMATIC in DICOM's terms
            paths["seg"] = write_dicom_seg(folder, labels_on_grid(labels, ct, dicom_ct), out / "seg.dcm", __version__,
                                           prediction.mask_source,
                                           algorithm_type="SEMIAUTOMATIC" if prediction.mask_source == "user" else "AUTOMATIC")
    return paths
