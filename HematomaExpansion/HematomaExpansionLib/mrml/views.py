"""Baseline and follow-up side by side: the layout (two over two: baseline on top, follow-up below, axial
and coronal), which volume and segmentation each view shows, and linked slice controls.

The Qt layer registers ``COMPARE_LAYOUT_XML`` with the layout node and switches to it (the views
exist only then); ``show_side_by_side`` then fills the views. Linked views share slice position and
field of view within one orientation; the volumes shown stay per view (Slicer only broadcasts a
layer change the user makes in a view's controller).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

COMPARE_LAYOUT_ID = 4701  # above Slicer's built-in layout ids
BASELINE_VIEWS = ("Red", "Green")  # axial, coronal
FOLLOWUP_VIEWS = ("HEFollowupAxial", "HEFollowupCoronal")
_VIEW_PROPERTIES = {
    "Red": ("Axial", "B", "#F34A33"), "Green": ("Coronal", "B", "#6EB04B"),
    "HEFollowupAxial": ("Axial", "F", "#EDD54C"), "HEFollowupCoronal": ("Coronal", "F", "#C8A2C8"),
}


def _view_xml(tag: str) -> str:
    orientation, label, colour = _VIEW_PROPERTIES[tag]
    return (f'<item><view class="vtkMRMLSliceNode" singletontag="{tag}">'
            f'<property name="orientation" action="default">{orientation}</property>'
            f'<property name="viewlabel" action="default">{label}</property>'
            f'<property name="viewcolor" action="default">{colour}</property>'
            '<property name="viewgroup" action="default">0</property></view></item>')


COMPARE_LAYOUT_XML = (
    '<layout type="vertical" split="true">'
    '<item><layout type="horizontal">' + "".join(_view_xml(t) for t in BASELINE_VIEWS) + "</layout></item>"
    '<item><layout type="horizontal">' + "".join(_view_xml(t) for t in FOLLOWUP_VIEWS) + "</layout></item>"
    "</layout>"
)


def layout_view_tags(layout_xml: str = COMPARE_LAYOUT_XML) -> list[str]:
    """The slice views a layout description declares, in order."""
    return [v.get("singletontag") for v in ET.fromstring(layout_xml).iter("view")]


def register_compare_layout(layout_node: Any) -> int:
    """Add the two-over-two layout to a ``vtkMRMLLayoutNode`` (once); returns its id for ``setLayout``."""
    if not layout_node.IsLayoutDescription(COMPARE_LAYOUT_ID):
        layout_node.AddLayoutDescription(COMPARE_LAYOUT_ID, COMPARE_LAYOUT_XML)
    return COMPARE_LAYOUT_ID


def _nodes(scene: Any, class_name: str) -> list[Any]:
    return [scene.GetNthNodeByClass(i, class_name) for i in range(scene.GetNumberOfNodesByClass(class_name))]


def nodes_by_layout_name(scene: Any, class_name: str) -> dict[str, Any]:
    """Slice or composite nodes of ``scene`` by their view name (``GetLayoutName``: Red, Green, ...)."""
    return {node.GetLayoutName(): node for node in _nodes(scene, class_name)}


def _show_segmentation_in(segmentation_node: Any, view_ids: Iterable[str]) -> None:
    if segmentation_node is None:
        return
    segmentation_node.CreateDefaultDisplayNodes()
    display = segmentation_node.GetDisplayNode()
    display.RemoveAllViewNodeIDs()
    for view_id in view_ids:
        display.AddViewNodeID(view_id)
    display.SetVisibility(True)


def show_side_by_side(scene: Any, baseline_volume: Any, followup_volume: Any, baseline_segmentation: Any = None,
                      followup_segmentation: Any = None, baseline_views: tuple[str, ...] = BASELINE_VIEWS,
                      followup_views: tuple[str, ...] = FOLLOWUP_VIEWS) -> dict[str, list[str]]:
    """Baseline CT + segmentation in ``baseline_views``, follow-up in ``followup_views``, slice controls
    linked. Each segmentation is shown only in its own views (the baseline one also in 3D). Returns the
    slice node ids used per side; views that do not exist (yet) are skipped."""
    slices = nodes_by_layout_name(scene, "vtkMRMLSliceNode")
    composites = nodes_by_layout_name(scene, "vtkMRMLSliceCompositeNode")
    used: dict[str, list[str]] = {"baseline": [], "followup": []}
    for side, volume, views in (("baseline", baseline_volume, baseline_views), ("followup", followup_volume, followup_views)):
        for name in views:
            composite, slice_node = composites.get(name), slices.get(name)
            if composite is None or slice_node is None:
                continue
            composite.SetBackgroundVolumeID(volume.GetID() if volume is not None else None)
            composite.SetForegroundVolumeID(None)
            composite.SetLabelVolumeID(None)
            composite.SetLinkedControl(True)
            used[side].append(slice_node.GetID())
    three_d = [n.GetID() for n in _nodes(scene, "vtkMRMLViewNode")]
    if used["baseline"]:
        _show_segmentation_in(baseline_segmentation, used["baseline"] + three_d)
    if used["followup"]:
        _show_segmentation_in(followup_segmentation, used["followup"])
    return used

