"""Export of the shown case: a folder with result.json, report.html, report.pdf, the mask and the Grad-CAM
map, plus seg.dcm (DICOM Segmentation) when the CT came from DICOM. ``HematomaExpansionLib.mrml.export``
does the work; this asks for the folder and tells what was written."""

from __future__ import annotations

import qt
import slicer
from slicer.i18n import tr as _

from HematomaExpansionLib.mrml import dicom_cases
from HematomaExpansionLib.mrml.export import export_case


def exportWithDialog(volumeNode, segmentationNode, prediction) -> dict:
    """Ask for a folder and export into it; returns name -> path ({} when cancelled)."""
    if prediction is None:
        slicer.util.warningDisplay(_("Predict or Re-score first: the report describes the last prediction."))
        return {}
    folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Export the case into a folder"))
    if not folder:
        return {}
    dicomFiles = dicom_cases.dicom_files_of(volumeNode, getattr(slicer, "dicomDatabase", None))
    paths = {}
    with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
        paths = export_case(volumeNode, segmentationNode, prediction, folder, dicom_files=dicomFiles)
        written = "\n".join(f"{name}: {path}" for name, path in sorted(paths.items()))
        note = "" if dicomFiles else "\n\n" + _("No DICOM SEG: this CT was not read from DICOM.")
        slicer.util.infoDisplay(_("Written:\n{written}").format(written=written) + note, windowTitle=_("Export"))
    return paths
