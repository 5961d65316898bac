"""Bridge between the core pipeline and a Slicer MRML scene.

The only core file that imports ``slicer``. It imports no Qt, ctk or ScriptedLoadableModule, so
it runs both inside the Slicer application and on PyPI's ``slicer-core`` (tests, no GUI).

Every node created here is added to the scene of the CT volume node it relates to (not
necessarily ``slicer.mrmlScene``), and placed under the CT's parent transform, if any, so
outputs stay aligned with the CT the user sees.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import slicer
import vtk

from .ct_image import CTImage
from .errors import GeometryError, HematomaExpansionError, NotACTError
from .results import LABEL_IPH, LABEL_IVH, LABEL_NAMES, Prediction, describe_scores

log = logging.getLogger(__name__)

# --- segment identity -----------------------------------------------------------------------
SEGMENT_IDS = {LABEL_IPH: "IntraparenchymalHemorrhage", LABEL_IVH: "IntraventricularHemorrhage"}
SEGMENT_COLORS = {LABEL_IPH: (0.86, 0.10, 0.10), LABEL_IVH: (0.98, 0.67, 0.10)}

# Slicer terminology string: context~category~type~typeModifier~anatomicContext~region~regionModifier,
# each code as CodingSchemeDesignator^CodeValue^CodeMeaning (see vtkSlicerTerminologiesModuleLogic).
_TERMINOLOGY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
_ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"
_CATEGORY = ("SCT", "49755003", "Morphologically Altered Structure")
_HEMORRHAGE = ("SCT", "50960005", "Hemorrhage")
ANATOMIC_REGIONS = {LABEL_IPH: ("SCT", "12738006", "Brain"), LABEL_IVH: ("SCT", "35764002", "Cerebral ventricle")}

HEATMAP_COLOR_NODE_NAME = "HematomaExpansion Grad-CAM"
HEATMAP_LOWER_THRESHOLD = 0.2
TABLE_COLUMNS = ("Quantity", "Value", "Unit")
N_TOP_FEATURES = 5
NO_DEFINITION = "default"  # the GUI's name for "the model's own default definition"


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
        [_TERMINOLOGY_CONTEXT, _code(_CATEGORY), _code(_HEMORRHAGE), "^^", _ANATOMIC_CONTEXT, _code(region), "^^"]
    )


def segment_terminology(segment: Any) -> str:
    """The segment's terminology string ('' when it has none)."""
    value = vtk.reference("")
    return str(value) if segment.GetTag("TerminologyEntry", value) else ""


# --- volumes --------------------------------------------------------------------------------
def _matrix_to_array(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _array_to_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def ijk_to_ras_of(volume_node: Any) -> np.ndarray:
    """The volume's own IJK→RAS matrix (without any parent transform) as a 4x4 array."""
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return _matrix_to_array(matrix)


def _check_ct_volume_node(volume_node: Any) -> None:
    if volume_node is None:
        raise GeometryError("no CT volume selected")
    name = volume_node.GetName() if hasattr(volume_node, "GetName") else str(volume_node)
    if not isinstance(volume_node, slicer.vtkMRMLScalarVolumeNode):
        raise NotACTError(f"{name}: a {volume_node.GetClassName()} is not a scalar (grey-level) CT volume")
    if isinstance(volume_node, slicer.vtkMRMLLabelMapVolumeNode):
        raise NotACTError(f"{name}: this is a labelmap (segmentation) volume, not a CT; select the CT image")
    image = volume_node.GetImageData()
    if image is None or image.GetPointData() is None or image.GetPointData().GetScalars() is None:
        raise GeometryError(f"{name}: the volume holds no voxel data")
    if image.GetNumberOfScalarComponents() != 1:
        raise NotACTError(
            f"{name}: {image.GetNumberOfScalarComponents()} components per voxel (colour/vector image); "
            "a grey-level CT in Hounsfield units is required"
        )
    dims = image.GetDimensions()
    if min(dims) < 2:
        raise GeometryError(f"{name}: grid {tuple(dims)} (i,j,k) is a single slice; a 3D head CT volume is required")


def ct_from_volume_node(volume_node: Any, validate: bool = True) -> CTImage:
    """A ``CTImage`` (copied voxels + geometry) from a scalar volume node.

    Uses the node's own IJK→RAS matrix; a parent transform is ignored for the analysis (volumes and
    shapes do not change under rigid transforms) and re-applied to the output nodes.
    ``validate`` runs the same CT checks as reading a file (HU range, geometry).
    """
    _check_ct_volume_node(volume_node)
    array = np.array(slicer.util.arrayFromVolume(volume_node), dtype=np.float32, copy=True)
    ct = CTImage.from_ijk_to_ras(array, ijk_to_ras_of(volume_node), source=volume_node.GetName())
    if volume_node.GetParentTransformNode() is not None:
        log.info("%s is under a transform; results are computed on its own grid and shown transformed", ct.source)
    if validate:
        from .validation import validate_ct

        validate_ct(ct)
    return ct


def _scene_of(node: Any) -> Any:
    scene = node.GetScene() if node is not None else None
    return scene if scene is not None else slicer.mrmlScene


def _follow_transform(node: Any, reference_node: Any) -> None:
    transform_id = reference_node.GetTransformNodeID() if reference_node is not None else None
    if node.GetTransformNodeID() != transform_id:
        node.SetAndObserveTransformNodeID(transform_id)


def volume_node_from_ct(ct: CTImage, name: str | None = None, scene: Any = None, node: Any = None) -> Any:
    """Put a ``CTImage`` into a scalar volume node (new, or ``node`` updated in place)."""
    scene = scene or (node.GetScene() if node is not None else None) or slicer.mrmlScene
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name or Path(ct.source).name or "CT")
    node.SetIJKToRASMatrix(_array_to_matrix(ct.ijk_to_ras()))
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(ct.array))
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if display is not None:
        display.AutoWindowLevelOff()
        display.SetWindowLevel(80.0, 40.0)  # brain window: hemorrhage stands out
    return node


def _new_volume_on_ct_grid(ct_volume_node: Any, class_name: str, name: str) -> Any:
    node = _scene_of(ct_volume_node).AddNewNodeByClass(class_name, name)
    node.CopyOrientation(ct_volume_node)  # origin, spacing and directions
    _follow_transform(node, ct_volume_node)
    return node


def _check_on_ct_grid(array: np.ndarray, ct_volume_node: Any, what: str) -> None:
    shape = tuple(reversed(ct_volume_node.GetImageData().GetDimensions()))
    if tuple(array.shape) != shape:
        raise GeometryError(
            f"{what} grid {tuple(array.shape)[::-1]} (i,j,k) does not match the CT grid {shape[::-1]}"
        )


# --- segmentation ---------------------------------------------------------------------------
def _segment_label_from_identity(segment_id: str, segment: Any) -> int | None:
    """1 or 2 when the segment is recognisably IPH or IVH, None otherwise."""
    for label, sid in SEGMENT_IDS.items():
        if segment_id == sid or segment.GetName().strip().lower() == LABEL_NAMES[label].lower():
            return label
    terminology = segment_terminology(segment)
    for label, region in ANATOMIC_REGIONS.items():
        if terminology and _code(_HEMORRHAGE) in terminology and _code(region) in terminology:
            return label
    name = segment.GetName().lower()
    if "ivh" in name or "intraventricular" in name or "ventric" in name:
        return LABEL_IVH
    if "iph" in name or "intraparenchymal" in name or "ich" in name:
        return LABEL_IPH
    return None


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
    from vtk.util.numpy_support import vtk_to_numpy

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
    labelmap = _new_volume_on_ct_grid(ct_volume_node, "vtkMRMLLabelMapVolumeNode", "__hemexp_temp__")
    try:
        slicer.util.updateVolumeFromArray(labelmap, mask.astype(np.uint8))
        ids = vtk.vtkStringArray()  # a plain str would select the overload that adds a new segment
        ids.InsertNextValue(segment_id)
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation_node, ids)
        if not ok:
            raise HematomaExpansionError(f"could not write segment {segment_id!r} into {segmentation_node.GetName()}")
    finally:
        labelmap.GetScene().RemoveNode(labelmap)


def labels_to_segmentation_node(
    labels: np.ndarray, ct_volume_node: Any, segmentation_node: Any = None, overwrite: bool = False
) -> Any:
    """Write a label map (0 background, 1 IPH, 2 IVH, on the CT grid) into a segmentation node.

    Creates the node when none is given. Refuses (``SegmentationExistsError``) to replace
    non-empty IPH/IVH segments unless ``overwrite`` is True: they may hold the user's edits.
    Other segments in the node are left untouched.
    """
    labels = np.asarray(labels)
    _check_on_ct_grid(labels, ct_volume_node, "label map")
    scene = _scene_of(ct_volume_node)
    if segmentation_node is None:
        segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"{ct_volume_node.GetName()} hemorrhage")
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
    _follow_transform(segmentation_node, ct_volume_node)
    segmentation_node.SetNodeReferenceID("HematomaExpansionCT", ct_volume_node.GetID())
    for label in (LABEL_IPH, LABEL_IVH):
        segment_id = _ensure_segment(segmentation_node, label, existing)
        _import_binary(labels == label, segmentation_node, segment_id, ct_volume_node)
    return segmentation_node


def _export_segment(segmentation_node: Any, segment_id: str, ct_volume_node: Any) -> np.ndarray:
    labelmap = _scene_of(ct_volume_node).AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__hemexp_temp__")
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
    _check_on_ct_grid(array, ct_volume_node, f"segment {segment_id!r}")
    return array


def labels_from_segmentation_node(segmentation_node: Any, ct_volume_node: Any) -> np.ndarray:
    """uint8 labels on the CT grid from a (possibly user-edited) segmentation node.

    IPH/IVH segments are recognised by id, name or terminology; any other non-empty segment
    counts as hemorrhage (label 1), with a warning. Where segments overlap, IVH wins.
    """
    if segmentation_node is None:
        raise HematomaExpansionError("no segmentation selected")
    _check_ct_volume_node(ct_volume_node)
    shape = tuple(reversed(ct_volume_node.GetImageData().GetDimensions()))
    labels = np.zeros(shape, np.uint8)
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


# --- results table --------------------------------------------------------------------------
def _fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.{digits}f}"


def prediction_rows(prediction: Prediction) -> list[tuple[str, str, str]]:
    """(quantity, value, unit) rows shown in the results table (values as text, full precision kept)."""
    m = prediction.measurements
    rows = [
        ("Hemorrhage volume (IPH + IVH)", _fmt(m.volume_ml, 3), "mL"),
        ("Intraparenchymal hemorrhage volume", _fmt(m.iph_volume_ml, 3), "mL"),
        ("Intraventricular hemorrhage volume", _fmt(m.ivh_volume_ml, 3), "mL"),
        ("ABC/2 volume", _fmt(m.abc2_ml, 3), "mL"),
        ("ABC/2 diameters A x B x C", f"{m.abc2_a_mm:.1f} x {m.abc2_b_mm:.1f} x {m.abc2_c_mm:.1f}", "mm"),
        ("Hemorrhage components", str(int(m.n_components)), ""),
        ("Segmentation source", prediction.mask_source, ""),
    ]
    model = prediction.model
    if model is not None:
        rows += [
            ("Expansion probability", _fmt(float(model.probability), 4), "probability (0-1)"),
            ("Risk band", str(model.risk_band), ""),
            ("Expansion definition", str(model.definition), ""),
            ("Model", str(model.model_id), ""),
            ("Model version", str(model.model_version), ""),
        ]
        rows += describe_scores(model.scores)
        top = sorted(model.contributions, key=lambda c: abs(c.contribution), reverse=True)[:N_TOP_FEATURES]
        for rank, c in enumerate(top, 1):
            rows.append((f"Top feature {rank}: {c.name}", f"{c.contribution:+.4f}", "log-odds"))
    for warning in prediction.warnings:
        rows.append(("Warning", warning, ""))
    return rows


def prediction_to_table_node(prediction: Prediction, table_node: Any = None, scene: Any = None) -> Any:
    """Results as a vtkMRMLTableNode with columns Quantity / Value / Unit (one row per quantity)."""
    if table_node is None:
        scene = scene or slicer.mrmlScene
        table_node = scene.AddNewNodeByClass("vtkMRMLTableNode", f"{prediction.source or 'Case'} expansion results")
    was_modifying = table_node.StartModify()
    table = table_node.GetTable()
    table.Initialize()
    columns = {}
    for name in TABLE_COLUMNS:
        column = vtk.vtkStringArray()
        column.SetName(name)
        table.AddColumn(column)
        columns[name] = column
    for quantity, value, unit in prediction_rows(prediction):
        columns["Quantity"].InsertNextValue(quantity)
        columns["Value"].InsertNextValue(value)
        columns["Unit"].InsertNextValue(unit)
    table_node.SetColumnDescription("Quantity", "Measured or predicted quantity")
    table_node.SetColumnDescription("Value", "Value; numbers are plain decimals, in the row's unit")
    table_node.SetColumnDescription("Unit", "Unit of the value in the same row")
    for name in TABLE_COLUMNS:
        table_node.SetColumnType(name, vtk.VTK_STRING)
    table_node.SetUseColumnNameAsColumnHeader(True)
    table_node.SetAttribute("HematomaExpansion.Source", prediction.source or "")
    table.Modified()
    table_node.EndModify(was_modifying)
    return table_node


# Wide format: one row per case, one numeric column per quantity, units as column properties.
SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("volume_ml", "Hemorrhage volume", "mL"),
    ("iph_volume_ml", "Intraparenchymal hemorrhage volume", "mL"),
    ("ivh_volume_ml", "Intraventricular hemorrhage volume", "mL"),
    ("abc2_ml", "ABC/2 volume", "mL"),
    ("he_probability", "Expansion probability", ""),
)


def add_case_to_summary_table(prediction: Prediction, case_name: str, table_node: Any = None, scene: Any = None) -> Any:
    """Add (or replace) the row of ``case_name`` in a case-per-row summary table.

    Numeric columns are doubles with units in the column properties (``SetColumnUnitLabel``);
    text columns: case, risk band, definition, model.
    """
    if table_node is None:
        table_node = (scene or slicer.mrmlScene).AddNewNodeByClass("vtkMRMLTableNode", "Hematoma expansion cases")
    table = table_node.GetTable()
    if table.GetNumberOfColumns() == 0:
        for name in ("case", "risk_band", "definition", "model_id"):
            column = vtk.vtkStringArray()
            column.SetName(name)
            table.AddColumn(column)
        for name, long_name, unit in SUMMARY_COLUMNS:
            column = vtk.vtkDoubleArray()
            column.SetName(name)
            table.AddColumn(column)
            table_node.SetColumnLongName(name, long_name)
            table_node.SetColumnUnitLabel(name, unit)
    values = prediction.to_json_dict()
    row = next((r for r in range(table.GetNumberOfRows()) if table.GetValueByName(r, "case").ToString() == case_name), None)
    if row is None:
        row = table.InsertNextBlankRow()
    table.SetValueByName(row, "case", vtk.vtkVariant(case_name))
    for name in ("risk_band", "definition", "model_id"):
        table.SetValueByName(row, name, vtk.vtkVariant("" if values.get(name) is None else str(values[name])))
    for name, _, _ in SUMMARY_COLUMNS:
        value = values.get(name)
        table.SetValueByName(row, name, vtk.vtkVariant(float("nan") if value is None else float(value)))
    table.Modified()
    table_node.Modified()
    return table_node


# --- Grad-CAM heatmap -----------------------------------------------------------------------
def heatmap_color_node(scene: Any) -> Any:
    """A black-body (dark red → yellow → white) color table for the heatmap, created once per scene."""
    nodes = scene.GetNodesByName(HEATMAP_COLOR_NODE_NAME)
    if nodes.GetNumberOfItems() > 0:
        return nodes.GetItemAsObject(0)
    color_node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", HEATMAP_COLOR_NODE_NAME)
    color_node.SetTypeToUser()
    color_node.SetNumberOfColors(256)
    color_node.SetHideFromEditors(False)
    for i in range(256):
        t = i / 255.0
        color_node.SetColor(i, f"{i}", min(1.0, 3 * t), min(1.0, max(0.0, 3 * t - 1)), min(1.0, max(0.0, 3 * t - 2)), 1.0)
    color_node.SetAttribute("Category", "HematomaExpansion")
    return color_node


def heatmap_to_volume_node(heat: np.ndarray, ct_volume_node: Any, node: Any = None, name: str = "Grad-CAM") -> Any:
    """A scalar volume on the CT's grid showing ``heat`` (0..1), thresholded at 0.2, heat colormap."""
    heat = np.asarray(heat, dtype=np.float32)
    _check_on_ct_grid(heat, ct_volume_node, "heatmap")
    if node is None:
        node = _new_volume_on_ct_grid(ct_volume_node, "vtkMRMLScalarVolumeNode", name)
    else:
        node.CopyOrientation(ct_volume_node)
        _follow_transform(node, ct_volume_node)
    slicer.util.updateVolumeFromArray(node, np.clip(np.nan_to_num(heat), 0.0, 1.0))
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.SetAndObserveColorNodeID(heatmap_color_node(node.GetScene()).GetID())
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(0.0, 1.0)
    display.AutoThresholdOff()
    display.SetApplyThreshold(True)
    display.SetThreshold(HEATMAP_LOWER_THRESHOLD, 1.0)
    node.SetAttribute("HematomaExpansion.Role", "GradCAM")
    return node


def _composite_nodes(scene: Any) -> list[Any]:
    if scene is None:
        return []
    return [scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
            for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))]


def set_heatmap_visibility(heatmap_node: Any, visible: bool, opacity: float | None = None, ct_volume_node: Any = None) -> int:
    """Show/hide the heatmap as the foreground layer of every slice view. Returns the views changed.

    A no-op (returns 0) when the scene has no slice views (batch, tests).
    """
    if heatmap_node is None:
        return 0
    changed = 0
    for composite in _composite_nodes(heatmap_node.GetScene()):
        if visible:
            if ct_volume_node is not None:
                composite.SetBackgroundVolumeID(ct_volume_node.GetID())
            composite.SetForegroundVolumeID(heatmap_node.GetID())
            if opacity is not None:
                composite.SetForegroundOpacity(float(opacity))
            changed += 1
        elif composite.GetForegroundVolumeID() == heatmap_node.GetID():
            composite.SetForegroundVolumeID(None)
            changed += 1
    return changed


def set_heatmap_opacity(heatmap_node: Any, opacity: float) -> int:
    """Set the foreground opacity of the slice views that show the heatmap. Returns the views changed."""
    if heatmap_node is None:
        return 0
    opacity = min(1.0, max(0.0, float(opacity)))
    changed = 0
    for composite in _composite_nodes(heatmap_node.GetScene()):
        if composite.GetForegroundVolumeID() == heatmap_node.GetID():
            composite.SetForegroundOpacity(opacity)
            changed += 1
    return changed


# --- model / options helpers ----------------------------------------------------------------
def available_definitions() -> list[str]:
    """Expansion definitions the bundled models offer, ``"default"`` first (= the model's default)."""
    import importlib

    for module_name in ("expansion_labels", "expansion_model"):
        try:
            module = importlib.import_module(f"{__package__}.{module_name}")
        except Exception as exc:  # missing optional dependency or module: the GUI still loads
            log.debug("expansion definitions not available from %s: %s", module_name, exc)
            continue
        found = getattr(module, "DEFINITIONS", None)
        if found:
            names = [str(n) for n in (found.keys() if isinstance(found, dict) else found)]
            return [NO_DEFINITION] + [n for n in names if n != NO_DEFINITION]
    return [NO_DEFINITION]


def definition_argument(definition: str | None) -> str | None:
    """GUI value → pipeline argument (``"default"``/empty → None)."""
    return None if not definition or definition == NO_DEFINITION else definition


def load_predictor(definition: str | None = None, models_dir: Path | None = None) -> Any:
    """Load the expansion model once; pass it to ``run_on_nodes`` to make re-scoring fast."""
    from .expansion_model import ExpansionPredictor

    return ExpansionPredictor.load(models_dir=models_dir, definition=definition_argument(definition))


# --- the whole run on MRML nodes ------------------------------------------------------------
def segment_on_nodes(
    ct_volume_node: Any, segmentation_node: Any = None, seg_method: str = "auto", overwrite: bool = False
) -> tuple[Prediction, Any]:
    """Automatic segmentation only (no scoring). Returns (prediction with measurements, segmentation node)."""
    from .pipeline import run_pipeline

    _refuse_if_user_content(segmentation_node, overwrite)
    ct = ct_from_volume_node(ct_volume_node)
    prediction = run_pipeline(ct, seg_method=seg_method, score=False)
    segmentation_node = labels_to_segmentation_node(prediction.mask, ct_volume_node, segmentation_node, overwrite=True)
    return prediction, segmentation_node


def _refuse_if_user_content(segmentation_node: Any, overwrite: bool) -> None:
    # Checked before the (slow) pipeline runs, so the GUI can ask at once.
    if segmentation_node is not None and not overwrite and segmentation_has_content(segmentation_node, True):
        raise SegmentationExistsError(
            f"{segmentation_node.GetName()} already contains a hemorrhage segmentation (it may hold your edits). "
            "Re-score it, or confirm to replace it with a new automatic segmentation"
        )


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
    from .pipeline import run_pipeline

    ct = ct_from_volume_node(ct_volume_node)
    definition = definition_argument(definition)
    if use_existing_segmentation:
        labels = labels_from_segmentation_node(segmentation_node, ct_volume_node)
        prediction = run_pipeline(ct, mask=labels, clinical=clinical, definition=definition,
                                  models_dir=models_dir, predictor=predictor)
    else:
        _refuse_if_user_content(segmentation_node, overwrite)
        prediction = run_pipeline(ct, clinical=clinical, seg_method=seg_method, definition=definition,
                                  models_dir=models_dir, predictor=predictor)
        segmentation_node = labels_to_segmentation_node(prediction.mask, ct_volume_node, segmentation_node, overwrite=True)
    scene = _scene_of(ct_volume_node)
    table_node = prediction_to_table_node(prediction, table_node, scene=scene)
    gradcam = prediction.model.gradcam if prediction.model is not None else None
    if gradcam is not None:
        heatmap_node = heatmap_to_volume_node(gradcam, ct_volume_node, heatmap_node, name=f"{ct_volume_node.GetName()} Grad-CAM")
    return prediction, segmentation_node, table_node, heatmap_node if gradcam is not None else None
