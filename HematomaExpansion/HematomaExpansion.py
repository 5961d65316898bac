"""3D Slicer module: hematoma segmentation and expansion prediction from a baseline head NCCT.

Thin layer: the widget wires the panel to ``HematomaExpansionLogic``, which delegates to
``HematomaExpansionLib.mrml`` (tested without Slicer on slicer-core) and the core pipeline.
"""

import importlib.util
import logging
import os
import sys
import time
from typing import Annotated, Optional

import numpy as np
import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
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
from HematomaExpansionLib.mrml import heatmap, segments, volumes  # noqa: E402
from HematomaExpansionLib.mrml.cases import CaseNodes  # noqa: E402

SEGMENTATION_METHODS = ["auto", "net", "classic"]
# Packages the core needs beyond what Slicer bundles (import name, pip requirement).
PYTHON_DEPENDENCIES = [("scipy", "scipy"), ("sklearn", "scikit-learn"), ("radiomics", "pyradiomics"), ("torch", "torch")]


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
            "Edit the segmentation in Segment Editor and press Re-score to update the prediction. "
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
    """Panel state, saved with the scene.

    inputVolume - the baseline NCCT.
    segmentation - hemorrhage segmentation (automatic or edited by the user).
    resultsTable / heatmapVolume - outputs of the last prediction.
    definition - hematoma expansion definition the model predicts ("default" = the model's own).
    segmentationMethod - auto, net or classic.
    clinical - optional KEY=VALUE clinical inputs (e.g. "onset_to_ct_h=2.5 anticoagulation=yes").
    modelsFolder - folder of a retrained model (its manifest.json, as written by
      `hematoma-expansion train --models-dir`); empty = the bundled models.
    showHeatmap / heatmapOpacity - Grad-CAM overlay in the slice views.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    resultsTable: vtkMRMLTableNode
    heatmapVolume: vtkMRMLScalarVolumeNode
    definition: Annotated[str, Choice(_definitionChoices())] = "default"
    segmentationMethod: Annotated[str, Choice(SEGMENTATION_METHODS)] = "auto"
    clinical: str = ""
    modelsFolder: str = ""
    showHeatmap: bool = True
    heatmapOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.4


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
        self._casePaths = []
        self._caseNodes = CaseNodes()  # case path -> its nodes, so clicking back keeps the user's edits

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/HematomaExpansion.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = HematomaExpansionLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.segmentButton.connect("clicked(bool)", self.onSegmentButton)
        self.ui.predictButton.connect("clicked(bool)", self.onPredictButton)
        self.ui.rescoreButton.connect("clicked(bool)", self.onRescoreButton)
        self.ui.segmentEditorButton.connect("clicked(bool)", self.onSegmentEditorButton)
        self.ui.loadFolderButton.connect("clicked(bool)", self.onLoadFolderButton)
        self.ui.loadFilesButton.connect("clicked(bool)", self.onLoadFilesButton)
        self.ui.previousCaseButton.connect("clicked(bool)", lambda: self.stepCase(-1))
        self.ui.nextCaseButton.connect("clicked(bool)", lambda: self.stepCase(+1))
        self.ui.caseListWidget.connect("currentRowChanged(int)", self.onCaseSelected)
        self.ui.showHeatmapCheckBox.connect("toggled(bool)", self.onHeatmapDisplayChanged)
        self.ui.heatmapOpacitySlider.connect("valueChanged(double)", self.onHeatmapDisplayChanged)

        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtonStates)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        self._caseNodes.clear()
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
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
            self._updateButtonStates()

    def _updateButtonStates(self, caller=None, event=None) -> None:
        p = self._parameterNode
        hasVolume = bool(p and p.inputVolume)
        hasSegmentation = bool(hasVolume and p.segmentation)
        self.ui.segmentButton.enabled = hasVolume
        self.ui.predictButton.enabled = hasVolume
        self.ui.rescoreButton.enabled = hasSegmentation
        self.ui.segmentEditorButton.enabled = hasVolume
        self.ui.previousCaseButton.enabled = self.ui.caseListWidget.currentRow > 0
        self.ui.nextCaseButton.enabled = 0 <= self.ui.caseListWidget.currentRow < self.ui.caseListWidget.count - 1
        self.ui.predictButton.toolTip = (_("Segment the hemorrhage and predict expansion") if hasVolume
                                         else _("Select a CT volume first"))
        self.ui.rescoreButton.toolTip = (_("Predict again from the (edited) segmentation") if hasSegmentation
                                         else _("Segment or select a segmentation first"))

    # --- actions -------------------------------------------------------------------------------
    def _confirmReplace(self, message: str) -> Optional[bool]:
        """Ask what to do with an existing segmentation: True = replace, False = keep and score it."""
        return slicer.util.confirmYesNoDisplay(
            message + "\n\n" + _("Replace it with a new automatic segmentation?\n"
                                 "Yes: replace it. No: keep it and score it as it is."),
            windowTitle=_("Segmentation exists"))

    def onSegmentButton(self) -> None:
        if not self.logic.ensureDependencies():
            return
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Segmentation failed."), waitCursor=True):
            try:
                prediction, segmentation = self.logic.segment(p.inputVolume, p.segmentation, p.segmentationMethod)
            except segments.SegmentationExistsError as exc:
                if not slicer.util.confirmYesNoDisplay(str(exc) + "\n\n" + _("Replace it?"),
                                                       windowTitle=_("Segmentation exists")):
                    return
                prediction, segmentation = self.logic.segment(p.inputVolume, p.segmentation, p.segmentationMethod, overwrite=True)
            p.segmentation = segmentation
            self._showStatus(prediction)

    def onPredictButton(self) -> None:
        if not self.logic.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Prediction failed."), waitCursor=True):
            try:
                self._predict(useExisting=False, overwrite=False)
            except segments.SegmentationExistsError as exc:
                replace = self._confirmReplace(str(exc))
                self._predict(useExisting=not replace, overwrite=bool(replace))

    def onRescoreButton(self) -> None:
        if not self.logic.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(_("Re-scoring failed."), waitCursor=True):
            self._predict(useExisting=True, overwrite=False)

    def _predict(self, useExisting: bool, overwrite: bool) -> None:
        p = self._parameterNode
        prediction, p.segmentation, p.resultsTable, p.heatmapVolume = self.logic.process(
            p.inputVolume, segmentationNode=p.segmentation, useExistingSegmentation=useExisting, overwrite=overwrite,
            definition=p.definition, method=p.segmentationMethod, clinicalText=p.clinical, modelsFolder=p.modelsFolder,
            tableNode=p.resultsTable, heatmapNode=p.heatmapVolume)
        self.ui.resultsTableView.setMRMLTableNode(p.resultsTable)
        self._caseNodes.remember(p.inputVolume, p.segmentation, p.resultsTable, p.heatmapVolume)
        self.onHeatmapDisplayChanged()
        self._showStatus(prediction)

    def _showStatus(self, prediction) -> None:
        m = prediction.measurements
        text = _("Hemorrhage {volume:.1f} mL (IPH {iph:.1f}, IVH {ivh:.1f}; ABC/2 {abc2:.1f} mL)").format(
            volume=m.volume_ml, iph=m.iph_volume_ml, ivh=m.ivh_volume_ml, abc2=m.abc2_ml)
        if prediction.model is not None:
            text += "\n" + _("Expansion probability {p:.0%} ({band} risk, definition: {d})").format(
                p=prediction.model.probability, band=prediction.model.risk_band, d=prediction.model.definition)
        self.ui.statusLabel.text = text

    def onSegmentEditorButton(self) -> None:
        p = self._parameterNode
        if not p.segmentation:
            p.segmentation = segments.new_segmentation_node(p.inputVolume, slicer.mrmlScene)
        slicer.util.selectModule("SegmentEditor")
        editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
        editor.setSegmentationNode(p.segmentation)
        if hasattr(editor, "setSourceVolumeNode"):
            editor.setSourceVolumeNode(p.inputVolume)
        else:  # Slicer < 5.4
            editor.setMasterVolumeNode(p.inputVolume)

    def onHeatmapDisplayChanged(self, *args) -> None:
        p = self._parameterNode
        if p and p.heatmapVolume:
            heatmap.set_heatmap_visibility(p.heatmapVolume, p.showHeatmap, p.heatmapOpacity, p.inputVolume)

    # --- case list -----------------------------------------------------------------------------
    def onLoadFolderButton(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Folder of head CT scans"))
        if folder:
            self.setCases([folder])

    def onLoadFilesButton(self) -> None:
        files = qt.QFileDialog.getOpenFileNames(
            slicer.util.mainWindow(), _("Head CT scans"), "",
            _("Volumes (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd);;All files (*)"))
        if files:
            self.setCases(list(files))

    def setCases(self, paths: list) -> None:
        from HematomaExpansionLib.pipeline.batch_inputs import case_stem, collect_inputs

        self._casePaths = [str(p) for p in collect_inputs(paths)]
        self.ui.caseListWidget.clear()
        for path in self._casePaths:
            item = qt.QListWidgetItem(case_stem(path))
            item.setToolTip(path)
            self.ui.caseListWidget.addItem(item)
        if self._casePaths:
            self.ui.caseListWidget.setCurrentRow(0)
        self._updateButtonStates()

    def stepCase(self, step: int) -> None:
        row = self.ui.caseListWidget.currentRow + step
        if 0 <= row < self.ui.caseListWidget.count:
            self.ui.caseListWidget.setCurrentRow(row)

    def onCaseSelected(self, row: int) -> None:
        self._updateButtonStates()
        if not (0 <= row < len(self._casePaths)):
            return
        path, p = self._casePaths[row], self._parameterNode
        volume = self._caseNodes.volume(path, slicer.mrmlScene)
        with slicer.util.tryWithErrorDisplay(_("Could not load {path}.").format(path=path), waitCursor=True):
            if volume is None:
                volume = self.logic.loadCase(path)
                self._caseNodes.add(path, volume)
            p.inputVolume = volume
            p.segmentation, p.resultsTable, p.heatmapVolume = self._caseNodes.outputs(path, slicer.mrmlScene)
            self.ui.resultsTableView.setMRMLTableNode(p.resultsTable)
            slicer.util.setSliceViewerLayers(background=volume, foreground=None, fit=True)
            self.onHeatmapDisplayChanged()
            self.ui.statusLabel.text = _("Case {n} of {total}: {name}").format(
                n=row + 1, total=len(self._casePaths), name=volume.GetName())


#
# HematomaExpansionLogic
#


class HematomaExpansionLogic(ScriptedLoadableModuleLogic):
    """Facade over ``HematomaExpansionLib.mrml.logic``; keeps loaded models for fast re-scoring.

    Usable without the GUI, e.g. from the Python console or HematomaExpansionBatch.py.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._predictors = None  # a mrml.logic.PredictorCache, made on first use

    def getParameterNode(self):
        return HematomaExpansionParameterNode(super().getParameterNode())

    @staticmethod
    def missingDependencies() -> list:
        return [requirement for name, requirement in PYTHON_DEPENDENCIES if importlib.util.find_spec(name) is None]

    def ensureDependencies(self, askConfirmation: bool = True) -> bool:
        """Install missing Python packages (after asking). Returns True when everything is importable."""
        missing = self.missingDependencies()
        if not missing:
            return True
        question = _("Hematoma Expansion needs these Python packages: {packages}. Install them now (this may take minutes)?")
        if askConfirmation and not slicer.util.confirmOkCancelDisplay(
                question.format(packages=", ".join(missing)), windowTitle=_("Install Python packages")):
            return False
        slicer.util.pip_install(missing)
        return not self.missingDependencies()

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
        ``clinicalText``: KEY=VALUE inputs, added to ``clinical``; ``modelsFolder``: a retrained model's folder
        (empty = the bundled model)."""
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
        from HematomaExpansionLib.mrml.logic import load_case

        return load_case(path, slicer.mrmlScene)


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
