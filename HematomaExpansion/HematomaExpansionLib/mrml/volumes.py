"""CT volume nodes: CTImage <-> scalar volume node, IJK->RAS geometry, new volumes on the CT grid.

Every node created here is added to the scene of the CT volume node it relates to (not
necessarily ``slicer.mrmlScene``), and placed under the CT's parent transform, if any, so
outputs stay aligned with the CT the user sees.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import slicer
import vtk

from ..core.ct_image import CTImage
from ..core.errors import GeometryError, NotACTError
from ..io.validation import validate_ct

log = logging.getLogger(__name__)

BRAIN_WINDOW = (80.0, 40.0)  # window, level: hemorrhage stands out


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


def check_ct_volume_node(volume_node: Any) -> None:
    """Raise ``GeometryError``/``NotACTError`` unless the node is a 3D grey-level scalar volume with voxels."""
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
    check_ct_volume_node(volume_node)
    array = np.array(slicer.util.arrayFromVolume(volume_node), dtype=np.float32, copy=True)
    ct = CTImage.from_ijk_to_ras(array, ijk_to_ras_of(volume_node), source=volume_node.GetName())
    if volume_node.GetParentTransformNode() is not None:
        log.info("%s is under a transform; results are computed on its own grid and shown transformed", ct.source)
    if validate:
        validate_ct(ct)
    return ct


def scene_of(node: Any) -> Any:
    """The node's scene (``slicer.mrmlScene`` when it has none)."""
    scene = node.GetScene() if node is not None else None
    return scene if scene is not None else slicer.mrmlScene


def follow_transform(node: Any, reference_node: Any) -> None:
    """Put ``node`` under the same parent transform as ``reference_node`` (none when it has none)."""
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
        display.SetWindowLevel(*BRAIN_WINDOW)
    return node


def new_volume_on_ct_grid(ct_volume_node: Any, class_name: str, name: str) -> Any:
    """A new volume node of ``class_name`` with the CT's origin, spacing, directions and parent transform."""
    node = scene_of(ct_volume_node).AddNewNodeByClass(class_name, name)
    node.CopyOrientation(ct_volume_node)  # origin, spacing and directions
    follow_transform(node, ct_volume_node)
    return node


def ct_grid_shape(ct_volume_node: Any) -> tuple[int, ...]:
    """The CT's voxel grid as a numpy (k, j, i) shape."""
    return tuple(reversed(ct_volume_node.GetImageData().GetDimensions()))


def check_on_ct_grid(array: np.ndarray, ct_volume_node: Any, what: str) -> None:
    """Raise ``GeometryError`` unless ``array`` has the CT's (k, j, i) shape."""
    shape = ct_grid_shape(ct_volume_node)
    if tuple(array.shape) != shape:
        raise GeometryError(
            f"{what} grid {tuple(array.shape)[::-1]} (i,j,k) does not match the CT grid {shape[::-1]}"
        )
