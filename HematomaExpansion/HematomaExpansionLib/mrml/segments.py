"""Hemorrhage segments: identity and terminology, label map <-> segmentation node, the content checks."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import slicer
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from ..core.errors import HematomaExpansionError
from ..core.results import LABEL_IPH, LABEL_IVH, LABEL_NAMES
from ..core.terminology import ANATOMIC_REGIONS, HEMORRHAGE_CATEGORY, HEMORRHAGE_TYPE
from .volumes import check_ct_volume_node, check_on_ct_grid, ct_grid_shape, follow_transform, new_volume_on_ct_grid, scene_of

log = logging.getLogger(__name__)

SEGMENT_IDS = {LABEL_IPH: "IntraparenchymalHemorrhage", LABEL_IVH: "IntraventricularHemorrhage"}
SEGMENT_COLORS = {LABEL_IPH: (0.86, 0.10, 0.10), LABEL_IVH: (0.98, 0.67, 0.10)}
CT_REFERENCE_ROLE = "HematomaExpansionCT"

# Slicer terminology string: context~category~type~typeModifier~anatomicContext~region~regionModifier,
# each code as CodingSchemeDesignator^CodeValue^CodeMeaning (see vtkSlicerTerminologiesModuleLogic).
_TERMINOLOGY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
_ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"


class SegmentationExistsError(HematomaExpansionError):
    """The segmentation node already holds non-empty hemorrhage segments (possibly user-edited).

    Raised instead of silently overwriting them; the GUI asks the user, then calls again with
    ``overwrite=True`` (or re-scores the existing segmentation).
    """


# --- terminology ----------------------------------------------------------------------------
def _code(triple: tuple[str, str, str]) -> str:
    return "^".join(triple)


def terminology_entry(label: int) -> str:
    """Slicer terminology string for a hemorrhage label (1 = intraparenchymal, 2 = intraventricular)."""
    region = ANATOMIC_REGIONS[label]
    return "~".join(
        [_TERMINOLOGY_CONTEXT, _code(HEMORRHAGE_CATEGORY), _code(HEMORRHAGE_TYPE), "^^", _ANATOMIC_CONTEXT, _code(region), "^^"]
    )


def segment_terminology(segment: Any) -> str:
    """The segment's terminology string ('' when it has none)."""
    value = vtk.reference("")
    return str(value) if segment.GetTag("TerminologyEntry", value) else ""


def _segment_label_from_identity(segment_id: str, segment: Any) -> int | None:
    """1 or 2 when the segment is recognisably IPH or IVH, None otherwise."""
    for label, sid in SEGMENT_IDS.items():
        if segment_id == sid or segment.GetName().strip().lower() == LABEL_NAMES[label].lower():
            return label
    terminology = segment_terminology(segment)
    for label, region in ANATOMIC_REGIONS.items():
        if terminology and _code(HEMORRHAGE_TYPE) in terminology and _code(region) in terminology:
            return label
    name = segment.GetName().lower()
    if "ivh" in name or "intraventricular" in name or "ventric" in name:
        return LABEL_IVH
    if "iph" in name or "intraparenchymal" in name or "ich" in name:
        return LABEL_IPH
    return None


# --- content checks -------------------------------------------------------------------------
def _our_segment_ids(segmentation_node: Any) -> dict[int, str]:
    """Existing segment ids for labels 1/2 (by id, else by exact name)."""
    segmentation = segmentation_node.GetSegmentation()
    found: dict[int, str] = {}
    for label, sid in SEGMENT_IDS.items():
        if segmentation.GetSegment(sid) is not None:
            found[label] = sid
        else:
            by_name = segmentation.GetSegmentIdBySegmentName(LABEL_NAMES[label])
            if by_name:
                found[label] = by_name
    return found


def _segment_is_empty(segmentation_node: Any, segment_id: str) -> bool:
    """True when the segment has no voxels (checked on its own labelmap, no resampling)."""
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    if segment is None:
        return True
    rep_name = slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()
    labelmap = segment.GetRepresentation(rep_name)
    if labelmap is None:
        # e.g. only a closed surface was loaded: count it as content rather than risk overwriting it
        names: list[str] = []
        segment.GetContainedRepresentationNames(names)
        return not names
    extent = labelmap.GetExtent()
    if extent[0] > extent[1] or extent[2] > extent[3] or extent[4] > extent[5]:
        return True
    scalars = labelmap.GetPointData().GetScalars() if labelmap.GetPointData() else None
    if scalars is None:
        return True
    values = vtk_to_numpy(scalars)
    label_value = segment.GetLabelValue() if hasattr(segment, "GetLabelValue") else 1
    return not bool(np.any(values == label_value))


def segmentation_has_content(segmentation_node: Any, only_hemorrhage_segments: bool = False) -> bool:
    """Whether any segment (or only our IPH/IVH segments) holds at least one voxel."""
    if segmentation_node is None:
        return False
    if only_hemorrhage_segments:
        ids = list(_our_segment_ids(segmentation_node).values())
    else:
        ids = list(segmentation_node.GetSegmentation().GetSegmentIDs())
    return any(not _segment_is_empty(segmentation_node, sid) for sid in ids)


def refuse_if_user_content(segmentation_node: Any, overwrite: bool) -> None:
    """Raise ``SegmentationExistsError`` when the node holds IPH/IVH voxels and ``overwrite`` is False.

    Checked before the (slow) pipeline runs, so the GUI can ask at once.
    """
    if segmentation_node is not None and not overwrite and segmentation_has_content(segmentation_node, True):
        raise SegmentationExistsError(
            f"{segmentation_node.GetName()} already contains a hemorrhage segmentation (it may hold your edits). "
            "Re-score it, or confirm to replace it with a new automatic segmentation"
        )


# --- the panel's Segment Editor node ---------------------------------------------------------
EDITOR_NODE_TAG = "HematomaExpansion"


def segment_editor_node(scene: Any) -> Any:
    """This module's ``vtkMRMLSegmentEditorNode`` (a singleton, saved with the scene; created once)."""
    node = scene.GetSingletonNode(EDITOR_NODE_TAG, "vtkMRMLSegmentEditorNode")
    if node is None:
        node = slicer.vtkMRMLSegmentEditorNode()
        node.SetSingletonTag(EDITOR_NODE_TAG)
        node.SetName("HematomaExpansion segment editor")
        node = scene.AddNode(node)
    return node


# --- label map -> segmentation node ---------------------------------------------------------
def new_segmentation_node(ct_volume_node: Any, scene: Any = None) -> Any:
    """An empty segmentation node named after the CT, with the CT as its reference geometry."""
    scene = scene or scene_of(ct_volume_node)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"{ct_volume_node.GetName()} hemorrhage")
    node.CreateDefaultDisplayNodes()
    node.SetReferenceImageGeometryParameterFromVolumeNode(ct_volume_node)
    return node


def _ensure_segment(segmentation_node: Any, label: int, existing: dict[int, str]) -> str:
    segmentation = segmentation_node.GetSegmentation()
    segment_id = existing.get(label)
    if segment_id is None:
        segment_id = segmentation.AddEmptySegment(SEGMENT_IDS[label], LABEL_NAMES[label], list(SEGMENT_COLORS[label]))
    segment = segmentation.GetSegment(segment_id)
    segment.SetName(LABEL_NAMES[label])
    segment.SetColor(*SEGMENT_COLORS[label])
    segment.SetTag("TerminologyEntry", terminology_entry(label))
    return segment_id


def _import_binary(mask: np.ndarray, segmentation_node: Any, segment_id: str, ct_volume_node: Any) -> None:
    """Replace one segment's content with ``mask`` (on the CT grid)."""
    labelmap = new_volume_on_ct_grid(ct_volume_node, "vtkMRMLLabelMapVolumeNode", "__hemexp_temp__")
    try:
        slicer.util.updateVolumeFromArray(labelmap, mask.astype(np.uint8))
        ids = vtk.vtkStringArray()  # a plain str would select the overload that adds a new segment
        ids.InsertNextValue(segment_id)
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation_node, ids)
        if not ok:
            raise HematomaExpansionError(f"could not write segment {segment_id!r} into {segmentation_node.GetName()}")
    finally:
        labelmap.GetScene().RemoveNode(labelmap)


def ensure_hemorrhage_segments(ct_volume_node: Any, segmentation_node: Any = None) -> Any:
    """A segmentation ready to be drawn in Segment Editor: the IPH and IVH segments (empty when new,
    with names, colours and terminology) on the CT's geometry. Existing content is never touched.
    Creates the node when none is given; returns it."""
    check_ct_volume_node(ct_volume_node)
    if segmentation_node is None:
        segmentation_node = new_segmentation_node(ct_volume_node)
    if segmentation_node.GetNodeReference(CT_REFERENCE_ROLE) is None:
        segmentation_node.SetNodeReferenceID(CT_REFERENCE_ROLE, ct_volume_node.GetID())
    if not segmentation_has_content(segmentation_node):
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(ct_volume_node)
    follow_transform(segmentation_node, ct_volume_node)
    segmentation_node.CreateDefaultDisplayNodes()
    existing = _our_segment_ids(segmentation_node)
    for label in (LABEL_IPH, LABEL_IVH):
        if label in existing:
            continue
        existing[label] = _ensure_segment(segmentation_node, label, existing)
    return segmentation_node


def labels_to_segmentation_node(
    labels: np.ndarray, ct_volume_node: Any, segmentation_node: Any = None, overwrite: bool = False
) -> Any:
    """Write a label map (0 background, 1 IPH, 2 IVH, on the CT grid) into a segmentation node.

    Creates the node when none is given. Refuses (``SegmentationExistsError``) to replace
    non-empty IPH/IVH segments unless ``overwrite`` is True: they may hold the user's edits.
    Other segments in the node are left untouched.
    """
    labels = np.asarray(labels)
    check_on_ct_grid(labels, ct_volume_node, "label map")
    if segmentation_node is None:
        segmentation_node = new_segmentation_node(ct_volume_node)
    existing = _our_segment_ids(segmentation_node)
    if not overwrite:
        non_empty = [segmentation_node.GetSegmentation().GetSegment(sid).GetName()
                     for sid in existing.values() if not _segment_is_empty(segmentation_node, sid)]
        if non_empty:
            raise SegmentationExistsError(
                f"{segmentation_node.GetName()} already contains {', '.join(non_empty)}; "
                "it may hold your edits. Re-score it, or confirm to replace it with a new automatic segmentation"
            )
    segmentation_node.CreateDefaultDisplayNodes()
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(ct_volume_node)
    follow_transform(segmentation_node, ct_volume_node)
    segmentation_node.SetNodeReferenceID(CT_REFERENCE_ROLE, ct_volume_node.GetID())
    for label in (LABEL_IPH, LABEL_IVH):
        segment_id = _ensure_segment(segmentation_node, label, existing)
        _import_binary(labels == label, segmentation_node, segment_id, ct_volume_node)
    return segmentation_node


# --- segmentation node -> label map ---------------------------------------------------------
def _export_segment(segmentation_node: Any, segment_id: str, ct_volume_node: Any) -> np.ndarray:
    labelmap = scene_of(ct_volume_node).AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__hemexp_temp__")
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segment_id)
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
            segmentation_node, ids, labelmap, ct_volume_node, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
        )
        if not ok:
            raise HematomaExpansionError(f"could not read segment {segment_id!r} from {segmentation_node.GetName()}")
        array = np.array(slicer.util.arrayFromVolume(labelmap), copy=True) > 0
    finally:
        labelmap.GetScene().RemoveNode(labelmap)
    check_on_ct_grid(array, ct_volume_node, f"segment {segment_id!r}")
    return array


def labels_from_segmentation_node(segmentation_node: Any, ct_volume_node: Any) -> np.ndarray:
    """uint8 labels on the CT grid from a (possibly user-edited) segmentation node.

    IPH/IVH segments are recognised by id, name or terminology; any other non-empty segment
    counts as hemorrhage (label 1), with a warning. Where segments overlap, IVH wins.
    """
    if segmentation_node is None:
        raise HematomaExpansionError("no segmentation selected")
    check_ct_volume_node(ct_volume_node)
    labels = np.zeros(ct_grid_shape(ct_volume_node), np.uint8)
    segmentation = segmentation_node.GetSegmentation()
    ordered: list[tuple[int, str]] = []
    for segment_id in segmentation.GetSegmentIDs():
        if _segment_is_empty(segmentation_node, segment_id):
            continue
        label = _segment_label_from_identity(segment_id, segmentation.GetSegment(segment_id))
        if label is None:
            log.warning(
                "segment %r of %s is neither IPH nor IVH; counted as intraparenchymal hemorrhage",
                segmentation.GetSegment(segment_id).GetName(), segmentation_node.GetName(),
            )
            label = LABEL_IPH
        ordered.append((label, segment_id))
    for label, segment_id in sorted(ordered):  # IPH first, so IVH overrides overlaps
        labels[_export_segment(segmentation_node, segment_id, ct_volume_node)] = label
    return labels
