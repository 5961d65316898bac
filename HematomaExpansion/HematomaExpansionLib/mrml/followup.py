"""Baseline vs follow-up CT on MRML nodes: ``pipeline.compare`` on two volume nodes, shown as nodes.

``compare_followup`` measures both scans on their own grids (given segmentations, or the
automatic segmenter), labels expansion under every definition, registers the follow-up rigidly to
the baseline and puts into the scene (updating its own nodes of an earlier run of the same
follow-up volume):

- the follow-up segmentation ("<follow-up> hemorrhage", IPH/IVH segments with the baseline's
  terminology), unless a segmentation with content was given: that one is used and never modified;
- a linear transform node holding the registration (follow-up → baseline); the follow-up volume and
  the segmentations that followed it are put under it, so they overlay the baseline (the transform
  node itself goes under the baseline's parent transform, if any);
- a "Growth" table (Quantity / Value / Unit): volumes, growth, new IVH, registration quality and
  the label under every definition.

A node made here is recognised on the next run by its role attribute and its reference to the
follow-up volume. An earlier automatic follow-up segmentation is only replaced while it still
holds exactly the labels written into it; once edited it is left alone and a new node is made.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import slicer
import vtk

from ..core.ct_image import CTImage
from ..core.errors import HematomaExpansionError
from ..expansion.labels import DEFINITION_TEXT, DEFINITIONS
from ..pipeline.compare import Scan, compare_scans, comparison_document, write_comparison
from ..segmentation.dispatch import describe_method, segment
from .segments import CT_REFERENCE_ROLE, labels_from_segmentation_node, labels_to_segmentation_node, segmentation_has_content
from .tables import show_column_titles
from .volumes import ct_from_volume_node, follow_transform, scene_of

log = logging.getLogger(__name__)

ROLE_ATTRIBUTE = "HematomaExpansion.Role"
DIGEST_ATTRIBUTE = "HematomaExpansion.LabelsDigest"
FOLLOWUP_REFERENCE = "HematomaExpansionFollowup"
BASELINE_REFERENCE = "HematomaExpansionBaseline"
ROLE_SEGMENTATION = "FollowupSegmentation"
ROLE_TRANSFORM = "FollowupRegistration"
ROLE_TABLE = "FollowupGrowth"
TABLE_NAME = "Growth"
TABLE_COLUMNS = ("Quantity", "Value", "Unit")
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
SEG_METHOD = "auto"  # the segmenter `compare` uses by default


# --- nodes of an earlier run ------------------------------------------------------------------
def previous_output(scene: Any, class_name: str, role: str, followup_volume_node: Any) -> Any:
    """The node of ``class_name`` made by an earlier run for this follow-up volume, or None."""
    for i in range(scene.GetNumberOfNodesByClass(class_name)):
        node = scene.GetNthNodeByClass(i, class_name)
        if (node.GetAttribute(ROLE_ATTRIBUTE) == role
                and node.GetNodeReferenceID(FOLLOWUP_REFERENCE) == followup_volume_node.GetID()):
            return node
    return None


def _mark(node: Any, role: str, baseline_volume_node: Any, followup_volume_node: Any) -> None:
    node.SetAttribute(ROLE_ATTRIBUTE, role)
    node.SetNodeReferenceID(FOLLOWUP_REFERENCE, followup_volume_node.GetID())
    node.SetNodeReferenceID(BASELINE_REFERENCE, baseline_volume_node.GetID())


def labels_digest(labels: np.ndarray) -> str:
    array = np.ascontiguousarray(labels, dtype=np.uint8)
    return hashlib.sha256(str(array.shape).encode() + array.tobytes()).hexdigest()


def reusable_segmentation(followup_volume_node: Any, warnings: list[str]) -> Any:
    """An earlier automatic follow-up segmentation that nobody has edited since, or None."""
    node = previous_output(scene_of(followup_volume_node), "vtkMRMLSegmentationNode", ROLE_SEGMENTATION,
                           followup_volume_node)
    if node is None:
        return None
    if labels_digest(labels_from_segmentation_node(node, followup_volume_node)) == node.GetAttribute(DIGEST_ATTRIBUTE):
        return node
    node.RemoveAttribute(ROLE_ATTRIBUTE)  # from now on it is the user's segmentation
    warnings.append(f"{node.GetName()} was edited after it was made: it is kept as it is, and the new automatic "
                    "follow-up segmentation is in a new node (select the edited one to measure it)")
    return None


# --- scans ------------------------------------------------------------------------------------
def made_for_another_volume(segmentation_node: Any, volume_node: Any) -> bool:
    """True for a segmentation this module made for another CT (e.g. a panel selection left from an earlier case)."""
    reference = segmentation_node.GetNodeReferenceID(CT_REFERENCE_ROLE) if segmentation_node is not None else None
    return bool(reference) and reference != volume_node.GetID()


def given_labels(segmentation_node: Any, volume_node: Any, warnings: list[str]) -> np.ndarray | None:
    """Labels of a given segmentation with content (None when none is given, it is empty, or it
    belongs to another CT: then the scan is segmented automatically, with a warning)."""
    if segmentation_node is None:
        return None
    if made_for_another_volume(segmentation_node, volume_node):
        warnings.append(f"{segmentation_node.GetName()} was made for another CT, not {volume_node.GetName()}: "
                        "not used; this scan was segmented automatically")
        return None
    if not segmentation_has_content(segmentation_node):
        return None
    return labels_from_segmentation_node(segmentation_node, volume_node)


def scan_of(ct: CTImage, volume_node: Any, labels: np.ndarray | None, segmentation_node: Any) -> Scan:
    # node ID in the "path": two volumes with the same name are not "the same file"
    path = f"{volume_node.GetName()} ({volume_node.GetID()})"
    if labels is not None:
        name = segmentation_node.GetName()
        return Scan(ct, labels, path, name, f"given ({name})")
    return Scan(ct, segment(ct, method=SEG_METHOD), path, None, describe_method(SEG_METHOD))


# --- output nodes -----------------------------------------------------------------------------
def write_followup_segmentation(labels: np.ndarray, baseline_volume_node: Any, followup_volume_node: Any,
                                target: Any) -> Any:
    """The automatic follow-up labels into ``target`` (an empty given node or our earlier one) or a new node."""
    scene = scene_of(followup_volume_node)
    if target is None:
        target = scene.AddNewNodeByClass("vtkMRMLSegmentationNode",
                                         scene.GenerateUniqueName(f"{followup_volume_node.GetName()} hemorrhage"))
    node = labels_to_segmentation_node(labels, followup_volume_node, target, overwrite=True)
    _mark(node, ROLE_SEGMENTATION, baseline_volume_node, followup_volume_node)
    node.SetAttribute(DIGEST_ATTRIBUTE, labels_digest(labels))
    return node


def from_parent_ras(transform: Any) -> np.ndarray:
    """4x4 RAS matrix of a SimpleITK rigid transform (baseline LPS point → follow-up LPS point)."""
    a = np.array(transform.GetMatrix(), float).reshape(3, 3)
    c = np.array(transform.GetCenter(), float)
    lps = np.eye(4)
    lps[:3, :3] = a
    lps[:3, 3] = c + np.array(transform.GetTranslation(), float) - a @ c
    return LPS_TO_RAS @ lps @ LPS_TO_RAS


def _transform_chain(node: Any) -> list[str]:
    ids = []
    parent = node.GetParentTransformNode()
    while parent is not None:
        ids.append(parent.GetID())
        parent = parent.GetParentTransformNode()
    return ids


def registration_transform_node(registration: Any, baseline_volume_node: Any, followup_volume_node: Any) -> Any:
    """The (new or earlier) linear transform node holding the follow-up → baseline registration."""
    scene = scene_of(followup_volume_node)
    node = previous_output(scene, "vtkMRMLLinearTransformNode", ROLE_TRANSFORM, followup_volume_node)
    if node is None:
        name = f"{followup_volume_node.GetName()} to {baseline_volume_node.GetName()}"
        node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", scene.GenerateUniqueName(name))
    elif node.GetID() in _transform_chain(baseline_volume_node):
        raise HematomaExpansionError(f"the baseline {baseline_volume_node.GetName()} is under the follow-up's "
                                     f"registration transform {node.GetName()}: take it out of there first")
    # Slicer keeps resampling (ITK-style) transforms "from parent": parent = the baseline's space
    node.SetMatrixTransformFromParent(slicer.util.vtkMatrixFromArray(from_parent_ras(registration.transform)))
    follow_transform(node, baseline_volume_node)
    _mark(node, ROLE_TRANSFORM, baseline_volume_node, followup_volume_node)
    return node


def place_under(transform_node: Any, followup_volume_node: Any, segmentation_nodes: list[Any]) -> None:
    """Put the follow-up volume, and the segmentations that followed it, under the registration."""
    old_parent = followup_volume_node.GetTransformNodeID()
    if old_parent not in (None, transform_node.GetID()):
        log.info("%s: its parent transform is replaced by the registration", followup_volume_node.GetName())
    for node in segmentation_nodes:
        if node is not None and node.GetTransformNodeID() in (old_parent, transform_node.GetID()):
            node.SetAndObserveTransformNodeID(transform_node.GetID())
    followup_volume_node.SetAndObserveTransformNodeID(transform_node.GetID())


# --- the Growth table -------------------------------------------------------------------------
def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def growth_rows(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(quantity, value, unit) rows of a ``compare.json`` document (numbers as plain decimals)."""
    reg, rel = doc["registration"], doc.get("relative_growth_percent")
    rows = [
        ("IPH volume, baseline", f"{doc['baseline_iph_ml']:.3f}", "mL"),
        ("IPH volume, follow-up", f"{doc['followup_iph_ml']:.3f}", "mL"),
        ("IPH growth, absolute", f"{doc['absolute_growth_ml']:+.3f}", "mL"),
        ("IPH growth, relative", "undefined (no baseline IPH)" if rel is None else f"{rel:+.2f}", "%"),
        ("IVH volume, baseline", f"{doc['baseline_ivh_ml']:.3f}", "mL"),
        ("IVH volume, follow-up", f"{doc['followup_ivh_ml']:.3f}", "mL"),
        ("IVH growth", f"{doc['ivh_growth_ml']:+.3f}", "mL"),
        ("New IVH", _yes(doc["new_ivh"]), ""),
        ("Follow-up IPH inside the baseline's ventricles, counted as IVH", f"{doc.get('ivh_relabelled_ml', 0.0):.3f}", "mL"),
        ("Registration: brain Dice", f"{reg['brain_dice']:.3f}", ""),
        ("Registration: rotation", f"{reg['rotation_deg']:.2f}", "deg"),
        ("Registration: translation", f"{reg['translation_norm_mm']:.2f}", "mm"),
        ("Hematoma Dice after registration", f"{doc['overlap']['iph_dice']:.3f}", ""),
    ]
    rows += [(f"Expansion, {d} ({DEFINITION_TEXT[d]})", _yes(doc["labels"][d]), "") for d in DEFINITIONS]
    rows += [("Baseline segmentation", doc["baseline"]["mask_source"], ""),
             ("Follow-up segmentation", doc["followup"]["mask_source"], "")]
    rows += [("Warning", w, "") for w in doc.get("warnings", [])]
    return rows


def growth_table_node(doc: dict[str, Any], baseline_volume_node: Any, followup_volume_node: Any) -> Any:
    """The "Growth" table of this follow-up (new, or the earlier one updated)."""
    scene = scene_of(followup_volume_node)
    node = previous_output(scene, "vtkMRMLTableNode", ROLE_TABLE, followup_volume_node)
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", TABLE_NAME)
    was_modifying = node.StartModify()
    table = node.GetTable()
    table.Initialize()
    columns = []
    for name in TABLE_COLUMNS:
        column = vtk.vtkStringArray()
        column.SetName(name)
        table.AddColumn(column)
        columns.append(column)
    for row in growth_rows(doc):
        for column, value in zip(columns, row):
            column.InsertNextValue(value)
    for name in TABLE_COLUMNS:
        node.SetColumnType(name, vtk.VTK_STRING)
    node.SetColumnDescription("Value", "Value; numbers are plain decimals, in the row's unit")
    show_column_titles(node)
    _mark(node, ROLE_TABLE, baseline_volume_node, followup_volume_node)
    table.Modified()
    node.EndModify(was_modifying)
    return node


# --- the whole comparison ---------------------------------------------------------------------
def compare_followup(baseline_volume_node: Any, followup_volume_node: Any, baseline_segmentation_node: Any = None,
                     followup_segmentation_node: Any = None, output_dir: str | Path | None = None) -> dict[str, Any]:
    """Compare a follow-up CT with the baseline CT (see the module docstring).

    Given segmentations with content are measured as they are and never modified (one this module
    made for another CT is ignored, with a warning); an empty given follow-up segmentation receives
    the automatic one. ``output_dir`` also writes the ``compare`` command's files there. Returns {"result": the compare.json document, "table_node",
    "followup_segmentation_node", "transform_node"}.
    """
    ct0 = ct_from_volume_node(baseline_volume_node)
    ct1 = ct_from_volume_node(followup_volume_node)
    # both given segmentations are read before any (slow) automatic segmentation
    extra_warnings: list[str] = []
    labels0 = given_labels(baseline_segmentation_node, baseline_volume_node, extra_warnings)
    labels1 = given_labels(followup_segmentation_node, followup_volume_node, extra_warnings)
    target = followup_segmentation_node  # an empty given node receives the automatic segmentation
    if made_for_another_volume(target, followup_volume_node):
        target = None
    if labels1 is None and target is None:
        target = reusable_segmentation(followup_volume_node, extra_warnings)
    baseline = scan_of(ct0, baseline_volume_node, labels0, baseline_segmentation_node)
    followup = scan_of(ct1, followup_volume_node, labels1, followup_segmentation_node)
    cmp = compare_scans(baseline, followup)
    cmp.warnings += extra_warnings
    if output_dir is not None:
        doc = write_comparison(cmp, output_dir)
    else:
        doc = comparison_document(cmp)
        doc.pop("outputs", None)
    if labels1 is None:
        segmentation = write_followup_segmentation(cmp.followup.labels, baseline_volume_node, followup_volume_node, target)
    else:
        segmentation = followup_segmentation_node
    transform = registration_transform_node(cmp.registration, baseline_volume_node, followup_volume_node)
    place_under(transform, followup_volume_node, [segmentation])
    table = growth_table_node(doc, baseline_volume_node, followup_volume_node)
    log.info("%s vs %s: IPH growth %+.2f mL, labels %s", followup_volume_node.GetName(), baseline_volume_node.GetName(),
             doc["absolute_growth_ml"], doc["labels"])
    return {"result": doc, "table_node": table, "followup_segmentation_node": segmentation, "transform_node": transform}
