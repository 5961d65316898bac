"""Batch inside Slicer: the core batch runner, then Slicer-native files for every finished case.

``pipeline.batch.run_batch`` does the work and writes the per-case outputs and the results table
(one runner, one CSV schema for the CLI and Slicer). Here each finished case is then loaded into
the scene once (CT, segmentation, results table) to add ``segmentation.seg.nrrd`` (segments with
names, colours and terminology) and ``results.tsv`` (the panel's results table) to its folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import slicer

from ..core.errors import HematomaExpansionError
from ..core.results import Contribution, Measurements, ModelOutput, Prediction
from ..io.ct_files import read_ct
from ..io.masks import read_mask
from ..pipeline.batch import BatchOptions, run_batch
from ..pipeline.batch_inputs import case_stem, collect_cases
from .definitions import definition_argument
from .segments import labels_to_segmentation_node
from .tables import prediction_to_table_node
from .volumes import volume_node_from_ct

log = logging.getLogger(__name__)

SEGMENTATION_FILE = "segmentation.seg.nrrd"
TABLE_FILE = "results.tsv"
SUMMARY_FILE = "results.csv"


def write_node(node: Any, path: Path) -> None:
    """Write a node with its default storage node (format from the file name)."""
    storage = node.GetStorageNode() or node.CreateDefaultStorageNode()
    if storage.GetScene() is None:
        node.GetScene().AddNode(storage)
        node.SetAndObserveStorageNodeID(storage.GetID())
    storage.SetFileName(str(path))
    if not storage.WriteData(node):
        raise HematomaExpansionError(f"could not write {path}")


def prediction_from_result(doc: dict[str, Any], mask: np.ndarray) -> Prediction:
    """The ``Prediction`` a result.json describes (the Grad-CAM map is not part of it)."""
    model = None
    if doc.get("he_probability") is not None:
        model = ModelOutput(
            probability=float(doc["he_probability"]), risk_band=doc.get("risk_band"), definition=doc.get("definition"),
            model_id=doc.get("model_id"), model_version=doc.get("model_version"),
            contributions=[Contribution(**c) for c in doc.get("features_used") or []],
            features=dict(doc.get("features") or {}), scores=dict(doc.get("scores") or {}),
        )
    return Prediction(doc.get("source", ""), mask, doc.get("mask_source", ""), Measurements(**doc["measurements"]),
                      model, dict(doc.get("timings_s") or {}), list(doc.get("warnings") or []))


def write_scene_outputs(case_dir: Path, ct_path: Path, scene: Any = None) -> None:
    """Load a finished case into a cleared scene and write its segmentation and results table files."""
    scene = scene or slicer.mrmlScene
    scene.Clear(0)
    ct = read_ct(ct_path)
    volume = volume_node_from_ct(ct, case_stem(ct_path), scene=scene)
    labels = read_mask(case_dir / "mask.nii.gz", ct)
    segmentation = labels_to_segmentation_node(labels, volume, overwrite=True)
    doc = json.loads((case_dir / "result.json").read_text())
    versions = (doc.get("software") or {}).get("packages")  # the versions that made the result
    table = prediction_to_table_node(prediction_from_result(doc, labels), scene=scene, versions=versions)
    write_node(segmentation, case_dir / SEGMENTATION_FILE)
    write_node(table, case_dir / TABLE_FILE)


def _scene_outputs_up_to_date(case_dir: Path) -> bool:
    result = (case_dir / "result.json").stat().st_mtime
    files = [case_dir / SEGMENTATION_FILE, case_dir / TABLE_FILE]
    return all(f.exists() and f.stat().st_mtime >= result for f in files)


def batch_options(definition: str | None = None, seg_method: str = "auto", clinical: dict[str, Any] | None = None,
                  models_dir: str | None = None, segment_only: bool = False) -> BatchOptions:
    """Core ``BatchOptions`` from the panel/script values (``"default"`` definition = the model's own)."""
    return BatchOptions(definition=definition_argument(definition), seg_method=seg_method,
                        models_dir=models_dir, clinical=dict(clinical or {}), score=not segment_only)


def run_batch_in_scene(items: list[str], output_dir: Path, options: BatchOptions, scene: Any = None) -> list[dict[str, Any]]:
    """Run the core batch into ``output_dir`` (case folders + results.csv/.json/.html), then add the
    Slicer files to every successful case. Returns the summary rows; a case whose Slicer files cannot
    be written is returned with status "error" (results.csv keeps the core's row)."""
    output_dir = Path(output_dir)
    cases = collect_cases(items)
    rows = run_batch(cases, output_dir / SUMMARY_FILE, options, cases_dir=output_dir, progress=False)
    paths = {case.case_id: case.path for case in cases}
    for row in rows:
        case_dir = output_dir / str(row["case_id"])
        if row.get("status") == "error" or _scene_outputs_up_to_date(case_dir):
            continue
        try:
            write_scene_outputs(case_dir, paths[row["case_id"]], scene)
        except Exception as exc:  # noqa: BLE001 - one case's Slicer files must not stop the others
            log.exception("%s: could not write the Slicer outputs", case_dir)
            row.update(status="error", error=f"Slicer outputs: {type(exc).__name__}: {exc}")
    return rows
