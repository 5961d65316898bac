"""Grad-CAM heatmap: a volume on the CT grid, its colour table, and its visibility in the slice views."""

from __future__ import annotations

from typing import Any

import numpy as np
import slicer

from .views import FOLLOWUP_VIEWS
from .volumes import check_on_ct_grid, follow_transform, new_volume_on_ct_grid

HEATMAP_COLOR_NODE_NAME = "HematomaExpansion Grad-CAM"
HEATMAP_LOWER_THRESHOLD = 0.2


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
    check_on_ct_grid(heat, ct_volume_node, "heatmap")
    if node is None:
        node = new_volume_on_ct_grid(ct_volume_node, "vtkMRMLScalarVolumeNode", name)
    else:
        node.CopyOrientation(ct_volume_node)
        follow_transform(node, ct_volume_node)
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
    """The slice views that show the baseline CT (not the follow-up views of the comparison layout)."""
    if scene is None:
        return []
    nodes = [scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
             for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))]
    return [n for n in nodes if n.GetLayoutName() not in FOLLOWUP_VIEWS]


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
