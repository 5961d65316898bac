"""3D Slicer module: hematoma segmentation and expansion prediction from a baseline head NCCT.

Thin layer: the widget wires the panel to ``HematomaExpansionLogic``, which delegates to
``HematomaExpansionLib.mrml`` (tested without Slicer on slicer-core) and the core pipeline. The Qt
parts too big for this file (embedded Segment Editor, progress, installer, case list, export,
follow-up views) are in ``HematomaExpansionWidgets``.
"""

import logging
import os
import sys
import time
from typing import Annotated, Optional

import numpy as np
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode, vtkMRMLTransformNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

# Slicer puts the module folder on sys.path; keep the core importable when the file is run directly.
_MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
if _MODULE_DIR not in sys.path:
    sys.path.insert(0, _MODULE_DIR)

# Light parts of the core (numpy, SimpleITK, slicer, vtk only); mrml.logic imports the whole pipeline
# and its packages, so it is imported on first use, after ensureDependencies().
from HematomaExpansionLib.core import dependencies  # noqa: E402
from HematomaExpansionLib.mrml import clinical_form as form  # noqa: E402
from HematomaExpansionLib.mrml import heatmap, segments, volumes  # noqa: E402

SEGMENTATION_METHODS = ["auto", "net", "classic"]


def _definitionChoices() -> list:
    try:
        from HematomaExpansionLib.mrml.definitions import available_definitions

        return available_definitions()
    except Exception as exc:  # the panel must load even when the core cannot (missing packages)
        logging.warning(f"HematomaExpansion: expansion definitions not available: {exc}")
        return ["default"]


#
# HematomaExpansion
#


class HematomaExpansion(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Hematoma Expansion")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["Segmentations"]
        self.parent.contributors = ["HematomaExpansion contributors"]
        self.parent.helpText = _(
            "Segments intracerebral hemorrhage (intraparenchymal and intraventricular) on a baseline "
            "non-contrast head CT, measures its volume (voxel count and ABC/2) and predicts the probability "
            "of hematoma expansion, with the features that drove the prediction and a Grad-CAM map. "
            "Correct the segmentation in the embedded Segment Editor and press Re-score to update the prediction. "
            "Research use only: not a medical device."
        )
        self.parent.acknowledgementText = _(
            "Uses 3D Slicer, SimpleITK, pyradiomics, scikit-learn and PyTorch."
        )


#
# HematomaExpansionParameterNode
#


@parameterNodeWrapper
class HematomaExpansionParameterNode:
    """Panel state, saved with the scene: the baseline CT, its segmentation and the last outputs; model
    choices (empty models folder = bundled); the clinical form (-1 h and "not given" are left out of the
    clinical inputs, never imputed); the Grad-CAM display; the follow-up comparison's nodes."""

    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    resultsTable: vtkMRMLTableNode
    heatmapVolume: vtkMRMLScalarVolumeNode
    definition: Annotated[str, Choice(_definitionChoices())] = "default"
    segmentationMethod: Annotated[str, Choice(SEGMENTATION_METHODS)] = "auto"
    modelsFolder: str = ""
    onsetToCtHours: Annotated[float, WithinRange(form.ONSET_NOT_GIVEN, form.MAX_ONSET_HOURS)] = form.ONSET_NOT_GIVEN
    anticoagulation: Annotated[str, Choice(list(form.ANTICOAGULATION_CHOICES))] = form.NOT_GIVEN
    recurrentIch: Annotated[str, Choice(list(form.YES_NO_CHOICES))] = form.NOT_GIVEN
    showHeatmap: bool = True
    heatmapOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.4
    followupVolume: vtkMRMLScalarVolumeNode
    followupSegmentation: vtkMRMLSegmentationNode
    growthTable: vtkMRMLTableNode
    followupTransform: vtkMRMLTransformNode


#
# HematomaExpansionWidget
#


class HematomaExpansionWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._prediction = None  # the last prediction shown (what Export writes)

    def setup(self) -> None:
        from HematomaExpansionWidgets.cases import CaseList
        from HematomaExpansionWidgets.editor import EmbeddedSegmentEditor

        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/HematomaExpansion.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = HematomaExpansionLogic()
        self.editor = EmbeddedSegmentEditor(self.ui.segmentEditorWidget)
        self.cases = CaseList(self.ui, os.path.join(slicer.app.temporaryPath, "HematomaExpansion"), self._updateButtonStates)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndImportEvent, self.onSceneEndImport)

        self.ui.segmentButton.connect("clicked(bool)", self.onSegmentButton)
        self.ui.predictButton.connect("clicked(bool)", self.onPredictButton)
        self.ui.rescoreButton.connect("clicked(bool)", self.onRescoreButton)
        self.ui.exportButton.connect("clicked(bool)", self.onExportButton)
        self.ui.compareFollowupButton.connect("clicked(bool)", self.onCompareFollowupButton)
        self.ui.editorCollapsibleButton.connect("contentsCollapsed(bool)", self.onEditorCollapsed)
        self.ui.segmentationSelector.connect("nodeAddedByUser(vtkMRMLNode*)", lambda node: self.onEditorCollapsed(False))
        self.ui.caseListWidget.connect("currentRowChanged(int)", self.onCaseSelected)
        self.ui.showHeatmapCheckBox.connect("toggled(bool)", self.onHeatmapDisplayChanged)
        self.ui.heatmapOpacitySlider.connect("valueChanged(double)", self.onHeatmapDisplayChanged)

        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        self.editor.enter()

    def exit(self) -> None:
        self.editor.exit()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtonStates)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        self.editor.sceneClosing()

    def onSceneEndClose(self, caller, event) -> None:
        self.cases.nodes.clear()
        self._prediction = None
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onSceneEndImport(self, caller, event) -> None:
        self.onSceneEndClose(caller, event)  # a loaded scene brings its own parameter node, editor node, table, heatmap
        self.onHeatmapDisplayChanged()

    def initializeParameterNode(self) -> None:
        self.editor.attachScene(slicer.mrmlScene)
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode and not firstVolumeNode.IsA("vtkMRMLLabelMapVolumeNode"):
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode: Optional[HematomaExpansionParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtonStates)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Widgets with a SlicerParameterName property in the .ui are bound to the parameters here.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtonStates)
            self.ui.resultsTableView.setMRMLTableNode(self._parameterNode.resultsTable)
            self.ui.followupTableView.setMRMLTableNode(self._parameterNode.growthTable)
            self._updateButtonStates()

    def _updateButtonStates(self, caller=None, event=None) -> None:
        p = self._parameterNode
        hasVolume = bool(p and p.inputVolume)
        hasSegmentation = bool(hasVolume and p.segmentation)
        self.editor.setNodes(p.segmentation if p else None, p.inputVolume if p else None)
        self.ui.segmentButton.enabled = hasVolume
        self.ui.predictButton.enabled = hasVolume
        self.ui.rescoreButton.enabled = hasSegmentation
        self.ui.exportButton.enabled = hasSegmentation and self._prediction is not None
        self.ui.compareFollowupButton.enabled = bool(hasVolume and p.followupVolume and p.followupVolume != p.inputVolume)
        self.cases.updateButtons()
        self.ui.predictButton.toolTip = (_("Segment the hemorrhage and predict expansion") if hasVolume
                                         else _("Select a CT volume first"))
        self.ui.rescoreButton.toolTip = (_("Predict again from the (edited) segmentation") if hasSegmentation
                                         else _("Segment or select a segmentation first"))

    # --- actions -------------------------------------------------------------------------------
    def _saveForUndo(self) -> None:
        """Before an automatic change: the segmentation as it is can be brought back with Undo."""
        self.editor.saveStateForUndo(self._parameterNode.segmentation, self._parameterNode.inputVolume)

    def _runLong(self, title: str, step: str, **kwargs):
        """``HematomaExpansionWidgets.longsteps.<step>(pump=..., **kwargs)`` with a progress dialog and Cancel;
        None when cancelled (nothing was changed)."""
        from HematomaExpansionLib.mrml.background import CancelledError
        from HematomaExpansionWidgets import longsteps
        from HematomaExpansionWidgets.progress import progress

        try:
            with progress(_("Hematoma Expansion"), title) as pump:
                return getattr(longsteps, step)(pump=pump, **kwargs)
        except CancelledError:
            self.ui.statusLabel.text = _("Cancelled; nothing was changed.")
            return None

    def _replaceExisting(self, question: str) -> Optional[bool]:
        """None when the segmentation is empty or absent; else whether the user agrees to replace it."""
        try:
            segments.refuse_if_user_content(self._parameterNode.segmentation, overwrite=False)
            return None
        except segments.SegmentationExistsError as exc:
            return slicer.util.confirmYesNoDisplay(f"{exc}\n\n{question}", windowTitle=_("Segmentation exists"))

    def onSegmentButton(self) -> None:
        p = self._parameterNode
        if not self.logic.ensureDependencies() or self._replaceExisting(_("Replace it? (Undo in the editor brings it back.)")) is False:
            return
        with slicer.util.tryWithErrorDisplay(_("Segmentation failed.")):
            result = self._runLong(_("Segmenting the hemorrhage..."), "segmentWithProgress", volumeNode=p.inputVolume,
                                   segmentationNode=p.segmentation, method=p.segmentationMethod, overwrite=True,
                                   beforeWrite=self._saveForUndo)
            if result:
                prediction, p.segmentation = result
                self._showStatus(prediction)

    def onPredictButton(self) -> None:
        if not self.logic.ensureDependencies():
            return
        replace = self._replaceExisting(_("Replace it with a new automatic segmentation?\nYes: replace it (Undo in the editor "
                                          "brings it back). No: keep it and score it as it is."))
        with slicer.util.tryWithErrorDisplay(_("Prediction failed.")):
            self._predict(useExisting=replace is False)

    def onRescoreButton(self) -> None:
        if not self.logic.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Re-scoring failed.")):
            self._predict(useExisting=True)

    def _predict(self, useExisting: bool) -> None:
        p = self._parameterNode
        clinical = self.logic.clinicalInputs(p)
        title = _("Scoring...") if useExisting else _("Segmenting the hemorrhage and scoring...")
        result = self._runLong(title, "predictWithProgress", logic=self.logic, volumeNode=p.inputVolume, segmentationNode=p.segmentation,
                               useExistingSegmentation=useExisting, overwrite=True, clinical=clinical, definition=p.definition,
                               method=p.segmentationMethod, modelsFolder=p.modelsFolder, tableNode=p.resultsTable,
                               heatmapNode=p.heatmapVolume, beforeWrite=self._saveForUndo)
        if not result:
            return
        self._prediction, p.segmentation, p.resultsTable, p.heatmapVolume = result
        self.ui.resultsTableView.setMRMLTableNode(p.resultsTable)
        self.cases.nodes.remember(p.inputVolume, p.segmentation, p.resultsTable, p.heatmapVolume)
        self.onHeatmapDisplayChanged()
        self._showStatus(self._prediction, clinical)
        self._updateButtonStates()

    def _showStatus(self, prediction, clinical: Optional[dict] = None) -> None:
        self.ui.statusLabel.text = form.status_text(prediction, clinical, dependencies.package_versions(("torch", "pyradiomics")))

    def onEditorCollapsed(self, collapsed: bool) -> None:
        """Opening the editor on a CT without segmentation gives one with empty IPH/IVH segments to draw in."""
        p = self._parameterNode
        if not collapsed and p and p.inputVolume:
            p.segmentation = self.editor.prepare(p.inputVolume, p.segmentation)

    def onExportButton(self) -> None:
        from HematomaExpansionWidgets.export import exportWithDialog

        exportWithDialog(self._parameterNode.inputVolume, self._parameterNode.segmentation, self._prediction)

    def onCompareFollowupButton(self) -> None:
        from HematomaExpansionWidgets import followup

        followup.compare(self._parameterNode)
        self.ui.followupTableView.setMRMLTableNode(self._parameterNode.growthTable)

    def onHeatmapDisplayChanged(self, *args) -> None:
        p = self._parameterNode
        if p and p.heatmapVolume:
            heatmap.set_heatmap_visibility(p.heatmapVolume, p.showHeatmap, p.heatmapOpacity, p.inputVolume)

    # --- case list (its buttons are wired in HematomaExpansionWidgets.cases) --------------------
    def onCaseSelected(self, row: int) -> None:
        self._updateButtonStates()
        if not (0 <= row < len(self.cases.keys)):
            return
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Could not load the case."), waitCursor=True):
            volume = self.cases.load(row)
            key = self.cases.keys[row]
            p.inputVolume = volume
            p.segmentation, p.resultsTable, p.heatmapVolume = self.cases.nodes.outputs(key, slicer.mrmlScene)
            self._prediction = None
            self.ui.resultsTableView.setMRMLTableNode(p.resultsTable)
            slicer.util.setSliceViewerLayers(background=volume, foreground=None, fit=True)
            self.onHeatmapDisplayChanged()
            self.ui.statusLabel.text = _("Case {n} of {total}: {name}").format(
                n=row + 1, total=len(self.cases.keys), name=volume.GetName())
            self._updateButtonStates()


#
# HematomaExpansionLogic
#


class HematomaExpansionLogic(ScriptedLoadableModuleLogic):
    """Facade over ``HematomaExpansionLib.mrml``; keeps loaded models for fast re-scoring. Usable without the
    GUI (Python console, HematomaExpansionBatch.py): ``segment`` and ``process`` block; the panel runs the
    same steps with progress and Cancel (``HematomaExpansionWidgets.longsteps``)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._predictors = None  # a mrml.logic.PredictorCache, made on first use

    def getParameterNode(self):
        return HematomaExpansionParameterNode(super().getParameterNode())

    @staticmethod
    def missingDependencies() -> list:
        """Pinned requirements (``core.dependencies``, the same as pyproject.toml) not installed."""
        return dependencies.missing_requirements(skip=dependencies.NOT_NEEDED_IN_SLICER)

    def ensureDependencies(self, askConfirmation: bool = True) -> bool:
        """Install missing Python packages (after asking). Returns True when everything is importable."""
        from HematomaExpansionWidgets.dependencies import ensureDependencies

        return not self.missingDependencies() or ensureDependencies(askConfirmation)

    @staticmethod
    def clinicalInputs(parameterNode) -> dict:
        """The clinical inputs of the panel's form; fields left at "not given" are left out."""
        return form.clinical_from_form(parameterNode.onsetToCtHours, parameterNode.anticoagulation, parameterNode.recurrentIch)

    def predictor(self, definition: Optional[str] = None, modelsFolder: str = ""):
        """The expansion model for ``definition`` from ``modelsFolder`` (empty = bundled), loaded once per session."""
        from HematomaExpansionLib.mrml.logic import PredictorCache

        self._predictors = self._predictors or PredictorCache()
        return self._predictors.get(definition, modelsFolder)

    def segment(self, volumeNode, segmentationNode=None, method: str = "auto", overwrite: bool = False):
        """Automatic segmentation only. Returns (prediction with measurements, segmentation node)."""
        from HematomaExpansionLib.mrml.logic import segment_on_nodes

        return segment_on_nodes(volumeNode, segmentationNode, seg_method=method, overwrite=overwrite)

    def process(self, volumeNode, segmentationNode=None, useExistingSegmentation: bool = False, overwrite: bool = False,
                definition: Optional[str] = None, method: str = "auto", clinicalText: str = "", clinical: Optional[dict] = None,
                modelsFolder: str = "", tableNode=None, heatmapNode=None):
        """Segment (or read the edited segmentation) and predict. Returns (prediction, segmentation, table, heatmap).
        ``clinicalText``: KEY=VALUE inputs added to ``clinical``; ``modelsFolder``: a retrained model (empty = bundled)."""
        from HematomaExpansionLib.features.clinical import parse_clinical
        from HematomaExpansionLib.mrml.logic import run_on_nodes

        if not volumeNode:
            raise ValueError(_("Select a CT volume first."))
        start = time.time()
        clinicalValues = {**(clinical or {}), **parse_clinical(clinicalText or "")}
        result = run_on_nodes(
            volumeNode, segmentationNode, use_existing_segmentation=useExistingSegmentation, clinical=clinicalValues,
            definition=definition, seg_method=method, predictor=self.predictor(definition, modelsFolder),
            overwrite=overwrite, table_node=tableNode, heatmap_node=heatmapNode)
        logging.info(f"Hematoma expansion prediction completed in {time.time() - start:.1f} s")
        return result

    @staticmethod
    def loadCase(path: str):
        """Read a CT file or DICOM folder with the core reader (same checks as the CLI) into a volume node."""
        from HematomaExpansionLib.mrml.dicom_cases import load_path

        return load_path(path, slicer.mrmlScene)


#
# HematomaExpansionTest
#


class HematomaExpansionTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer (Developer mode > Reload and Test); the same logic is covered by pytest on slicer-core."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_HematomaExpansion_predict_and_rescore()

    def test_HematomaExpansion_predict_and_rescore(self):
        from HematomaExpansionLib.simulation.sample import make_sample_case

        self.delayDisplay("Building a sample head CT with a known hematoma")
        ct, labels, info = make_sample_case(0)
        volumeNode = volumes.volume_node_from_ct(ct, "HematomaExpansionSample")

        logic = HematomaExpansionLogic()
        self.delayDisplay("Segmenting and predicting")
        prediction, segmentation, table, heat = logic.process(volumeNode)
        self.assertTrue(segments.segmentation_has_content(segmentation, only_hemorrhage_segments=True))
        self.assertLess(abs(prediction.measurements.volume_ml - info["volume_ml"]) / info["volume_ml"], 0.10)
        probability = prediction.model.probability
        self.assertTrue(0.0 <= probability <= 1.0)
        self.assertGreater(table.GetNumberOfRows(), 5)
        self.assertEqual(table.GetTable().GetValue(0, 0).ToString(), "Hemorrhage volume (IPH + IVH)")
        self.assertAlmostEqual(table.GetTable().GetValue(0, 1).ToDouble(), prediction.measurements.volume_ml, places=2)

        self.delayDisplay("Editing the segmentation and re-scoring")
        segmentId = segments.SEGMENT_IDS[1]
        edited = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segmentId, volumeNode)
        edited[labels == 1] = 1  # the user completes the hematoma with the ground truth
        slicer.util.updateSegmentBinaryLabelmapFromArray(edited, segmentation, segmentId, volumeNode)
        rescored = logic.process(volumeNode, segmentation, useExistingSegmentation=True, tableNode=table, heatmapNode=heat)[0]
        expected = float(np.count_nonzero(segments.labels_from_segmentation_node(segmentation, volumeNode))) * ct.voxel_volume_ml
        self.assertAlmostEqual(rescored.measurements.volume_ml, expected, places=3)

        self.delayDisplay("Refusing to overwrite the edited segmentation without confirmation")
        with self.assertRaises(segments.SegmentationExistsError):
            logic.process(volumeNode, segmentation)
        self.delayDisplay("Test passed")
