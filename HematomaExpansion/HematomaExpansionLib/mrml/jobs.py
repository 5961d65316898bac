"""The panel's long steps with progress and cancel: the same results as ``mrml.logic``'s blocking calls,
with the slow part (automatic segmentation, model loading) off the GUI thread.

Each step reads the nodes first, computes on arrays (``mrml.background``: a subprocess or a thread,
polled through ``pump``), and writes the nodes last, on the calling thread, after ``before_write``
(the panel's ``saveStateForUndo``, so an automatic change can be undone in Segment Editor). A
cancelled step raises ``background.CancelledError`` before any node is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..core.ct_image import CTImage
from ..core.results import Prediction
from ..pipeline.run_case import run_pipeline
from ..segmentation.dispatch import describe_method, segment
from .background import Pump, ThreadTask, segment_in_subprocess, wait_for
from .definitions import definition_argument
from .heatmap import heatmap_to_volume_node
from .logic import run_on_nodes
from .segments import labels_to_segmentation_node, refuse_if_user_content
from .tables import prediction_to_table_node
from .volumes import ct_from_volume_node, scene_of


def automatic_labels(ct: CTImage, seg_method: str = "auto", pump: Pump | None = None, python: str | None = None,
                     env: Mapping[str, str] | None = None) -> np.ndarray:
    """The automatic segmentation of ``ct``: in a child process when ``python`` is given (cancel kills it),
    else in a worker thread when ``pump`` is given, else right here."""
    if python:
        return segment_in_subprocess(ct, seg_method, pump, python=python, env=env)
    if pump is not None:
        return wait_for(ThreadTask(segment, ct, seg_method).start(), pump)
    return segment(ct, method=seg_method)


def load_in_background(load: Callable[[], Any], pump: Pump | None = None) -> Any:
    """``load()`` (e.g. reading the expansion model) in a worker thread while ``pump`` keeps the GUI alive."""
    if pump is None:
        return load()
    return wait_for(ThreadTask(load).start(), pump)


def _automatic_prediction(ct: CTImage, seg_method: str, pump: Pump | None, python: str | None,
                          env: Mapping[str, str] | None, **pipeline: Any) -> Prediction:
    t0 = time.perf_counter()
    labels = automatic_labels(ct, seg_method, pump, python, env)
    seconds = time.perf_counter() - t0
    prediction = run_pipeline(ct, mask=labels, **pipeline)
    prediction.mask_source = describe_method(seg_method)  # as run_pipeline records its own segmentation
    prediction.timings["segmentation"] = seconds
    return prediction


def segment_with_progress(ct_volume_node: Any, segmentation_node: Any = None, seg_method: str = "auto",
                          overwrite: bool = False, pump: Pump | None = None, python: str | None = None,
                          env: Mapping[str, str] | None = None,
                          before_write: Callable[[], None] | None = None) -> tuple[Prediction, Any]:
    """``logic.segment_on_nodes`` with the segmentation off the GUI thread. Returns (prediction with
    measurements, segmentation node)."""
    refuse_if_user_content(segmentation_node, overwrite)
    ct = ct_from_volume_node(ct_volume_node)
    prediction = _automatic_prediction(ct, seg_method, pump, python, env, score=False)
    if before_write is not None:
        before_write()
    segmentation_node = labels_to_segmentation_node(prediction.mask, ct_volume_node, segmentation_node, overwrite=True)
    return prediction, segmentation_node


def show_prediction(prediction: Prediction, ct_volume_node: Any, segmentation_node: Any = None, table_node: Any = None,
                    heatmap_node: Any = None, write_segmentation: bool = True) -> tuple[Prediction, Any, Any, Any]:
    """Put a prediction into the scene (segmentation, results table, Grad-CAM volume), as ``run_on_nodes`` does."""
    if write_segmentation:
        segmentation_node = labels_to_segmentation_node(prediction.mask, ct_volume_node, segmentation_node, overwrite=True)
    table_node = prediction_to_table_node(prediction, table_node, scene=scene_of(ct_volume_node))
    gradcam = prediction.model.gradcam if prediction.model is not None else None
    if gradcam is None:
        return prediction, segmentation_node, table_node, None
    heatmap_node = heatmap_to_volume_node(gradcam, ct_volume_node, heatmap_node, name=f"{ct_volume_node.GetName()} Grad-CAM")
    return prediction, segmentation_node, table_node, heatmap_node


def predict_with_progress(ct_volume_node: Any, segmentation_node: Any = None, use_existing_segmentation: bool = False,
                          clinical: dict[str, Any] | None = None, definition: str | None = None, seg_method: str = "auto",
                          predictor: Any = None, overwrite: bool = False, table_node: Any = None, heatmap_node: Any = None,
                          pump: Pump | None = None, python: str | None = None, env: Mapping[str, str] | None = None,
                          before_write: Callable[[], None] | None = None) -> tuple[Prediction, Any, Any, Any]:
    """``logic.run_on_nodes`` with the automatic segmentation off the GUI thread (re-scoring an existing
    segmentation has no long step and is ``run_on_nodes`` itself). ``predictor``: the loaded model
    (``load_in_background``). Returns (prediction, segmentation, table, heatmap)."""
    if use_existing_segmentation:
        return run_on_nodes(ct_volume_node, segmentation_node, use_existing_segmentation=True, clinical=clinical,
                            definition=definition, predictor=predictor, table_node=table_node, heatmap_node=heatmap_node)
    refuse_if_user_content(segmentation_node, overwrite)
    ct = ct_from_volume_node(ct_volume_node)
    prediction = _automatic_prediction(ct, seg_method, pump, python, env, clinical=clinical,
                                       definition=definition_argument(definition), predictor=predictor)
    if before_write is not None:
        before_write()
    return show_prediction(prediction, ct_volume_node, segmentation_node, table_node, heatmap_node)
