"""The Segment Editor embedded in the panel: correct the segmentation and Re-score without leaving the module.

The ``qMRMLSegmentEditorWidget`` of the .ui gets the scene, this module's own ``vtkMRMLSegmentEditorNode``
(a singleton saved with the scene, separate from the Segment Editor module's), the current
segmentation and the CT as source volume. ``saveStateForUndo`` is called before every automatic
change (new automatic segmentation), so Undo in the editor brings the user's version back.
"""

from __future__ import annotations

import logging

import slicer

from HematomaExpansionLib.mrml import segments

EFFECT_ORDER = ["Paint", "Draw", "Erase", "Level tracing", "Grow from seeds", "Fill between slices", "Threshold",
                "Islands", "Scissors", "Smoothing", "Margin", "Logical operators"]
MAX_UNDO_STATES = 10


def _call(widget, *names_and_args) -> None:
    """Call the first method of ``names`` the widget has (APIs renamed across Slicer versions)."""
    *names, args = names_and_args
    for name in names:
        method = getattr(widget, name, None)
        if method is not None:
            method(*args)
            return


class EmbeddedSegmentEditor:
    def __init__(self, editorWidget) -> None:
        self.widget = editorWidget
        self.widget.setMaximumNumberOfUndoStates(MAX_UNDO_STATES)
        _call(self.widget, "setSegmentationNodeSelectorVisible", (False,))  # the panel has its own selectors
        _call(self.widget, "setSourceVolumeNodeSelectorVisible", "setMasterVolumeNodeSelectorVisible", (False,))
        _call(self.widget, "setSwitchToSegmentationsButtonVisible", (False,))
        self.widget.unorderedEffectsVisible = False
        self.widget.setEffectNameOrder(EFFECT_ORDER)
        self.attachScene(slicer.mrmlScene)

    def attachScene(self, scene) -> None:
        """Editor node, then scene (so the editor's first selections are stored in the node); again after a
        scene close or load, when the singleton may be another node."""
        editorNode = segments.segment_editor_node(scene)
        if self.widget.mrmlSegmentEditorNode() != editorNode:
            self.widget.setMRMLSegmentEditorNode(editorNode)
        if self.widget.mrmlScene() != scene:
            self.widget.setMRMLScene(scene)
        self.widget.updateWidgetFromMRML()

    def setNodes(self, segmentationNode, volumeNode) -> None:
        """Edit ``segmentationNode`` on ``volumeNode`` (either may be None); nothing changes when they are set."""
        if self.widget.segmentationNode() != segmentationNode:
            self.widget.setSegmentationNode(segmentationNode)
        current = getattr(self.widget, "sourceVolumeNode", None) or self.widget.masterVolumeNode  # Slicer < 5.4
        if current() != volumeNode:
            _call(self.widget, "setSourceVolumeNode", "setMasterVolumeNode", (volumeNode,))

    def prepare(self, volumeNode, segmentationNode):
        """A segmentation with the IPH/IVH segments to draw in (created when there is none); returns it."""
        segmentationNode = segments.ensure_hemorrhage_segments(volumeNode, segmentationNode)
        self.setNodes(segmentationNode, volumeNode)
        return segmentationNode

    def saveStateForUndo(self, segmentationNode, volumeNode) -> None:
        """Remember ``segmentationNode`` as it is now, before the tool changes it automatically."""
        if segmentationNode is None:
            return
        self.setNodes(segmentationNode, volumeNode)
        self.widget.saveStateForUndo()
        logging.info("HematomaExpansion: saved %s for undo before an automatic change", segmentationNode.GetName())

    def enter(self) -> None:
        self.widget.installKeyboardShortcuts()
        _call(self.widget, "setupViewObservations", ())

    def exit(self) -> None:
        self.widget.setActiveEffect(None)
        self.widget.uninstallKeyboardShortcuts()
        _call(self.widget, "removeViewObservations", ())

    def sceneClosing(self) -> None:
        self.widget.setSegmentationNode(None)
        _call(self.widget, "removeViewObservations", ())
