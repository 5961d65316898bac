"""The panel's long steps with progress and Cancel: the module Logic's ``segment`` / ``process`` with the
model loading in a worker thread and the automatic segmentation in a PythonSlicer child process
(Cancel kills it), both polled by the progress dialog's ``pump``. The work is
``HematomaExpansionLib.mrml.jobs`` (tested on slicer-core); nothing is written to the scene when the
user cancels, and ``beforeWrite`` (the editor's ``saveStateForUndo``) runs before anything is."""

from __future__ import annotations

from typing import Optional

from slicer.i18n import tr as _

from HematomaExpansionLib.mrml import jobs

from .progress import segmentationPython


def segmentWithProgress(volumeNode, segmentationNode=None, method: str = "auto", overwrite: bool = False, pump=None,
                        beforeWrite=None):
    """Automatic segmentation only. Returns (prediction with measurements, segmentation node)."""
    if pump is not None:
        pump.step(_("Segmenting the hemorrhage..."))
    python, env = segmentationPython()
    return jobs.segment_with_progress(volumeNode, segmentationNode, method, overwrite, pump, python, env, beforeWrite)


def predictWithProgress(logic, volumeNode, segmentationNode=None, useExistingSegmentation: bool = False,
                        overwrite: bool = False, clinical: Optional[dict] = None, definition: Optional[str] = None,
                        method: str = "auto", modelsFolder: str = "", tableNode=None, heatmapNode=None, pump=None,
                        beforeWrite=None):
    """Segment (unless re-scoring) and predict. Returns (prediction, segmentation, table, heatmap)."""
    if not volumeNode:
        raise ValueError(_("Select a CT volume first."))
    if pump is not None:
        pump.step(_("Loading the expansion model..."))
    predictor = jobs.load_in_background(lambda: logic.predictor(definition, modelsFolder), pump)
    python, env = (None, None) if useExistingSegmentation else segmentationPython()
    if pump is not None:
        pump.step(_("Scoring...") if useExistingSegmentation else _("Segmenting the hemorrhage..."))
    return jobs.predict_with_progress(
        volumeNode, segmentationNode, use_existing_segmentation=useExistingSegmentation, clinical=clinical,
        definition=definition, seg_method=method, predictor=predictor, overwrite=overwrite, table_node=tableNode,
        heatmap_node=heatmapNode, pump=pump, python=python, env=env, before_write=beforeWrite)
