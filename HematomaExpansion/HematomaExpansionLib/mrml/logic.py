"""The whole run on MRML nodes: load a case or a model, segment, score, show the results as nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.results import Prediction
from ..expansion.predictor import ExpansionPredictor
from ..io.ct_files import read_ct
from ..pipeline.batch_inputs import case_stem
from ..pipeline.run_case import run_pipeline
from .definitions import definition_argument
from .heatmap import heatmap_to_volume_node
from .segments import labels_from_segmentation_node, labels_to_segmentation_node, refuse_if_user_content
from .tables import prediction_to_table_node
from .volumes import ct_from_volume_node, scene_of, volume_node_from_ct


def load_predictor(definition: str | None = None, models_dir: Path | None = None) -> Any:
    """Load the expansion model once; pass it to ``run_on_nodes`` to make re-scoring fast."""
    return ExpansionPredictor.load(models_dir=models_dir, definition=definition_argument(definition))


class PredictorCache:
    """Expansion models loaded once per (definition, models folder) for a session."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str | None, str], Any] = {}

    def get(self, definition: str | None = None, models_folder: str = "") -> Any:
        """The model for ``definition`` from ``models_folder`` (empty = the bundled models)."""
        folder = (models_folder or "").strip()
        key = (definition_argument(definition), folder)
        if key not in self._loaded:
            self._loaded[key] = load_predictor(key[0], Path(folder) if folder else None)
        return self._loaded[key]


def load_case(path: str | Path, scene: Any = None) -> Any:
    """Read a CT file or DICOM folder with the core reader (same checks as the CLI) into a volume node."""
    return volume_node_from_ct(read_ct(path), case_stem(path), scene=scene)


def segment_on_nodes(
    ct_volume_node: Any, segmentation_node: Any = None, seg_method: str = "auto", overwrite: bool = False
) -> tuple[Prediction, Any]:
    """Automatic segmentation only (no scoring). Returns (prediction with measurements, segmentation node)."""
    refuse_if_user_content(segmentation_node, overwrite)
    ct = ct_from_volume_node(ct_volume_node)
    prediction = run_pipeline(ct, seg_method=seg_method, score=False)
    segmentation_node = labels_to_segmentation_node(prediction.mask, ct_volume_node, segmentation_node, overwrite=True)
    return prediction, segmentation_node


def run_on_nodes(
    ct_volume_node: Any,
    segmentation_node: Any = None,
    use_existing_segmentation: bool = False,
    clinical: dict[str, Any] | None = None,
    definition: str | None = None,
    seg_method: str = "auto",
    predictor: Any = None,
    overwrite: bool = False,
    table_node: Any = None,
    heatmap_node: Any = None,
    models_dir: Path | None = None,
) -> tuple[Prediction, Any, Any, Any]:
    """Segment (or read the edited segmentation), measure, score; show everything as MRML nodes.

    ``use_existing_segmentation``: re-score the labels in ``segmentation_node`` (user edits included)
    instead of segmenting. Otherwise a non-empty IPH/IVH segmentation is only replaced when
    ``overwrite`` is True (``SegmentationExistsError`` otherwise).
    Returns ``(prediction, segmentation_node, table_node, heatmap_node)``; heatmap_node is None
    when the model gives no Grad-CAM map.
    """
    ct = ct_from_volume_node(ct_volume_node)
    definition = definition_argument(definition)
    if use_existing_segmentation:
        labels = labels_from_segmentation_node(segmentation_node, ct_volume_node)
        prediction = run_pipeline(ct, mask=labels, clinical=clinical, definition=definition,
                                  models_dir=models_dir, predictor=predictor)
    else:
        refuse_if_user_content(segmentation_node, overwrite)
        prediction = run_pipeline(ct, clinical=clinical, seg_method=seg_method, definition=definition,
                                  models_dir=models_dir, predictor=predictor)
        segmentation_node = labels_to_segmentation_node(prediction.mask, ct_volume_node, segmentation_node, overwrite=True)
    table_node = prediction_to_table_node(prediction, table_node, scene=scene_of(ct_volume_node))
    gradcam = prediction.model.gradcam if prediction.model is not None else None
    if gradcam is None:
        return prediction, segmentation_node, table_node, None
    heatmap_node = heatmap_to_volume_node(gradcam, ct_volume_node, heatmap_node, name=f"{ct_volume_node.GetName()} Grad-CAM")
    return prediction, segmentation_node, table_node, heatmap_node
