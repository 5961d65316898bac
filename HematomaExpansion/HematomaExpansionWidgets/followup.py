"""Follow-up comparison in the panel: run ``HematomaExpansionLib.mrml.followup.compare_followup`` (it registers
the follow-up and puts it under the registration transform) and show baseline and follow-up side by side
(two over two: axial and coronal), slice controls linked."""

from __future__ import annotations

import slicer
from slicer.i18n import tr as _

from HematomaExpansionLib.mrml import views


def showSideBySide(baselineVolume, followupVolume, baselineSegmentation=None, followupSegmentation=None) -> None:
    """Switch to the comparison layout and put each scan (and its segmentation) in its own row of views."""
    layoutManager = slicer.app.layoutManager()
    layoutId = views.register_compare_layout(layoutManager.layoutLogic().GetLayoutNode())
    layoutManager.setLayout(layoutId)
    slicer.app.processEvents()  # the new views (and their slice/composite nodes) exist after this
    views.show_side_by_side(slicer.mrmlScene, baselineVolume, followupVolume, baselineSegmentation, followupSegmentation)
    for name in views.BASELINE_VIEWS + views.FOLLOWUP_VIEWS:
        widget = layoutManager.sliceWidget(name)
        if widget is not None:
            widget.sliceLogic().FitSliceToAll()


def compare(params) -> dict:
    """Compare ``params.inputVolume`` with ``params.followupVolume``; the outputs go into the parameter node."""
    try:
        from HematomaExpansionLib.mrml.followup import compare_followup
    except ImportError as exc:
        slicer.util.errorDisplay(_("The follow-up comparison is not available in this version: {e}").format(e=exc))
        return {}
    out = {}
    with slicer.util.tryWithErrorDisplay(_("Follow-up comparison failed."), waitCursor=True):
        out = compare_followup(params.inputVolume, params.followupVolume, baseline_segmentation_node=params.segmentation,
                               followup_segmentation_node=params.followupSegmentation, output_dir=None)
        params.followupSegmentation = out.get("followup_segmentation_node")
        params.growthTable = out.get("table_node")
        params.followupTransform = out.get("transform_node")
        showSideBySide(params.inputVolume, params.followupVolume, params.segmentation, params.followupSegmentation)
    return out
