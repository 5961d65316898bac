"""The panel's Qt layer (HematomaExpansionWidgets) with stand-ins for Qt and slicer.app on a real slicer-core
scene: the embedded Segment Editor's call order and undo, progress with Cancel around the long steps,
the case list with the DICOM database, and the follow-up handler. Real Qt widgets exist only in Slicer;
here they are small fakes that record what the panel asks of them."""

from __future__ import annotations

import importlib
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest
from mrml_fixtures import fresh_scene, slicer  # skips the module without slicer-core

from HematomaExpansionLib.mrml import background, segments, views, volumes


class FakeProgressDialog:
    instances: list = []

    def __init__(self, parent=None):
        self.labels, self.cancelAfter, self.calls, self.shown = [], None, 0, False
        FakeProgressDialog.instances.append(self)

    def __getattr__(self, name):  # setWindowTitle, setRange, ... : accepted and ignored
        return lambda *args: None

    def setLabelText(self, text):
        self.labels.append(text)

    def show(self):
        self.shown = True

    def hide(self):
        self.shown = False

    @property
    def wasCanceled(self):
        self.calls += 1
        return self.cancelAfter is not None and self.calls > self.cancelAfter


class FakeEditorWidget:
    """qMRMLSegmentEditorWidget's methods the panel uses, recording the calls."""

    def __init__(self):
        self.calls, self._scene, self._node, self._seg, self._source = [], None, None, None, None
        self.unorderedEffectsVisible = True

    def __getattr__(self, name):
        def method(*args):
            self.calls.append((name, *args))
        return method

    def setMRMLScene(self, scene):
        self.calls.append(("setMRMLScene",))
        self._scene = scene

    def mrmlScene(self):
        return self._scene

    def setMRMLSegmentEditorNode(self, node):
        self.calls.append(("setMRMLSegmentEditorNode", node.GetID()))
        self._node = node

    def mrmlSegmentEditorNode(self):
        return self._node

    def setSegmentationNode(self, node):
        self.calls.append(("setSegmentationNode", node))
        self._seg = node

    def segmentationNode(self):
        return self._seg

    def setSourceVolumeNode(self, node):
        self.calls.append(("setSourceVolumeNode", node))
        self._source = node

    def sourceVolumeNode(self):
        return self._source

    def saveStateForUndo(self):
        self.calls.append(("saveStateForUndo", self._seg))

    def names(self):
        return [c[0] for c in self.calls]


@pytest.fixture
def qt_layer(monkeypatch, tmp_path):
    """slicer-core scene + stand-ins for qt, slicer.i18n and slicer.app; yields the widgets package."""
    gen = fresh_scene(monkeypatch)
    scene = next(gen)

    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, m)
        return m

    FakeProgressDialog.instances = []
    module("qt", QProgressDialog=FakeProgressDialog, Qt=SimpleNamespace(WindowModal=1, Unchecked=0, Checked=2))
    i18n = module("slicer.i18n", tr=lambda text: text, translate=lambda context, text: text)
    monkeypatch.setattr(slicer, "i18n", i18n, raising=False)
    monkeypatch.setattr(slicer, "app", SimpleNamespace(processEvents=lambda: None, temporaryPath=str(tmp_path),
                                                       slicerHome=""), raising=False)
    monkeypatch.setattr(slicer.util, "mainWindow", lambda: None)
    monkeypatch.setattr("shutil.which", lambda name: None)  # no PythonSlicer: segmentation runs in a thread
    for name in [n for n in sys.modules if n.startswith("HematomaExpansionWidgets")]:
        monkeypatch.delitem(sys.modules, name)
    yield SimpleNamespace(scene=scene, editor=importlib.import_module("HematomaExpansionWidgets.editor"),
                          progress=importlib.import_module("HematomaExpansionWidgets.progress"),
                          longsteps=importlib.import_module("HematomaExpansionWidgets.longsteps"))
    for name in [n for n in sys.modules if n.startswith("HematomaExpansionWidgets")]:
        sys.modules.pop(name, None)
    next(gen, None)


@pytest.fixture
def ct_node(qt_layer, small_sample_case):
    ct, labels, _ = small_sample_case
    return volumes.volume_node_from_ct(ct, "CT", scene=qt_layer.scene), labels


def test_embedded_editor_gets_its_node_before_the_scene_and_saves_undo(qt_layer, ct_node):
    node, labels = ct_node
    widget = FakeEditorWidget()
    editor = qt_layer.editor.EmbeddedSegmentEditor(widget)
    names = widget.names()
    assert names.index("setMRMLSegmentEditorNode") < names.index("setMRMLScene")
    assert ("setSegmentationNodeSelectorVisible", False) in widget.calls and widget.unorderedEffectsVisible is False
    assert widget.mrmlSegmentEditorNode() is segments.segment_editor_node(qt_layer.scene)
    seg = editor.prepare(node, None)  # opening the editor on a CT without segmentation
    assert widget.segmentationNode() is seg and widget.sourceVolumeNode() is node
    assert list(seg.GetSegmentation().GetSegmentIDs()) == list(segments.SEGMENT_IDS.values())
    n_calls = len(widget.calls)
    editor.setNodes(seg, node)  # unchanged: nothing is re-set
    assert len(widget.calls) == n_calls
    editor.saveStateForUndo(seg, node)
    assert widget.calls[-1] == ("saveStateForUndo", seg)
    editor.attachScene(qt_layer.scene)  # again (scene reload): same singleton, no second scene set
    assert widget.names().count("setMRMLScene") == 1


def test_long_step_with_progress_saves_undo_before_writing(qt_layer, ct_node):
    node, labels = ct_node
    seg = segments.labels_to_segmentation_node(labels, node)
    before = segments.labels_from_segmentation_node(seg, node)
    widget = FakeEditorWidget()
    editor = qt_layer.editor.EmbeddedSegmentEditor(widget)
    order = []

    def save():
        order.append(("undo", segments.labels_from_segmentation_node(seg, node).copy()))
        editor.saveStateForUndo(seg, node)

    with qt_layer.progress.progress("Hematoma Expansion", "Segmenting") as pump:
        prediction, out = qt_layer.longsteps.segmentWithProgress(volumeNode=node, segmentationNode=seg, method="classic",
                                                                 overwrite=True, pump=pump, beforeWrite=save)
    dialog = FakeProgressDialog.instances[-1]
    assert out is seg and not dialog.shown and any("Segmenting" in t for t in dialog.labels)
    np.testing.assert_array_equal(order[0][1], before)  # the undo state is the segmentation before the change
    assert widget.calls[-1] == ("saveStateForUndo", seg)
    np.testing.assert_array_equal(segments.labels_from_segmentation_node(seg, node), prediction.mask)


def test_cancel_in_the_dialog_leaves_the_segmentation_alone(qt_layer, ct_node):
    node, labels = ct_node
    seg = segments.labels_to_segmentation_node(labels, node)
    before = segments.labels_from_segmentation_node(seg, node)
    writes = []
    with pytest.raises(background.CancelledError):
        with qt_layer.progress.progress("Hematoma Expansion", "Segmenting") as pump:
            pump.dialog.cancelAfter = 1
            qt_layer.longsteps.segmentWithProgress(volumeNode=node, segmentationNode=seg, method="classic", overwrite=True,
                                                   pump=pump, beforeWrite=lambda: writes.append(1))
    assert writes == [] and not FakeProgressDialog.instances[-1].shown
    np.testing.assert_array_equal(segments.labels_from_segmentation_node(seg, node), before)


def test_followup_handler_fills_the_parameters_and_the_views(qt_layer, ct_node, monkeypatch):
    node, labels = ct_node
    scene = qt_layer.scene
    followup_module = importlib.import_module("HematomaExpansionLib.mrml.followup")
    followup_volume = volumes.volume_node_from_ct(volumes.ct_from_volume_node(node), "CT follow-up", scene=scene)
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "Growth")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    followup_seg = segments.labels_to_segmentation_node(labels, followup_volume)
    received = {}

    def fake_compare(baseline, followup, baseline_segmentation_node=None, followup_segmentation_node=None, output_dir=None):
        received.update(baseline=baseline, followup=followup, seg=baseline_segmentation_node, out=output_dir)
        return {"result": {}, "table_node": table, "followup_segmentation_node": followup_seg, "transform_node": transform}

    monkeypatch.setattr(followup_module, "compare_followup", fake_compare)
    shown = {}
    layout_node = slicer.vtkMRMLLayoutNode()
    scene.AddNode(layout_node)
    manager = SimpleNamespace(layoutLogic=lambda: SimpleNamespace(GetLayoutNode=lambda: layout_node),
                              setLayout=lambda layout_id: shown.update(layout=layout_id), sliceWidget=lambda name: None)
    monkeypatch.setattr(slicer.app, "layoutManager", lambda: manager, raising=False)
    monkeypatch.setattr(slicer.util, "tryWithErrorDisplay", lambda *a, **k: _NoErrors())
    monkeypatch.setattr(views, "show_side_by_side", lambda *args: shown.update(args=args))
    followup = importlib.import_module("HematomaExpansionWidgets.followup")
    seg = segments.labels_to_segmentation_node(labels, node)
    params = SimpleNamespace(inputVolume=node, followupVolume=followup_volume, segmentation=seg, followupSegmentation=None,
                             growthTable=None, followupTransform=None)
    followup.compare(params)
    assert received == {"baseline": node, "followup": followup_volume, "seg": seg, "out": None}
    assert params.growthTable is table and params.followupSegmentation is followup_seg and params.followupTransform is transform
    assert shown["layout"] == views.COMPARE_LAYOUT_ID and layout_node.IsLayoutDescription(views.COMPARE_LAYOUT_ID)
    assert shown["args"][1:] == (node, followup_volume, seg, followup_seg)


class _NoErrors:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
