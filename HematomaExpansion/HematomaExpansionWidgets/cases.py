"""The panel's case list: scans from folders or files, and CT series from Slicer's DICOM database.

Each row is a case key (a file/folder path, or ``dicom-series:<UID>``); ``CaseNodes`` remembers the
nodes made for each, so stepping back to a case keeps its (edited) segmentation and results.
Listing and loading the database's series is ``HematomaExpansionLib.mrml.dicom_cases`` (tested
without Slicer); this file is the dialog and the list widget.
"""

from __future__ import annotations

import os

import qt
import slicer
from slicer.i18n import tr as _

from HematomaExpansionLib.mrml import dicom_cases
from HematomaExpansionLib.mrml.cases import CaseNodes


class DicomSeriesDialog:
    """Patients → CT series of the DICOM database, checkable; ``choose()`` returns the checked series."""

    def __init__(self, series: list, parent=None) -> None:
        self.series = series
        self.dialog = qt.QDialog(parent or slicer.util.mainWindow())
        self.dialog.setWindowTitle(_("CT series in the DICOM database"))
        self.dialog.resize(640, 420)
        layout = qt.QVBoxLayout(self.dialog)
        self.tree = qt.QTreeWidget()
        self.tree.setHeaderLabels([_("Patient / series"), _("Study date"), _("Images")])
        layout.addWidget(self.tree)
        self._items = []
        patients = {}
        for s in series:
            key = (s.patient_name, s.patient_id)
            if key not in patients:
                patients[key] = qt.QTreeWidgetItem(self.tree, [f"{s.patient_name.replace('^', ' ')} ({s.patient_id})"])
                patients[key].setExpanded(True)
            item = qt.QTreeWidgetItem(patients[key], [s.series_description or s.series_number, s.study_date, str(len(s.files))])
            item.setCheckState(0, qt.Qt.Unchecked)
            self._items.append((item, s))
        buttons = qt.QDialogButtonBox(qt.QDialogButtonBox.Ok | qt.QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.dialog.accept)
        buttons.rejected.connect(self.dialog.reject)
        layout.addWidget(buttons)

    def choose(self) -> list:
        if not self.dialog.exec_():
            return []
        return [s for item, s in self._items if item.checkState(0) == qt.Qt.Checked]


class CaseList:
    """The list widget and its buttons, the keys of its rows, how each case is loaded, and ``nodes``
    (``CaseNodes``: the nodes made for each case). ``onChanged`` is called when the list changes."""

    def __init__(self, ui, workDir: str, onChanged=None) -> None:
        self.ui = ui
        self.nodes = CaseNodes()
        self.workDir = workDir
        self.onChanged = onChanged or (lambda: None)
        self.keys: list = []
        self._series: dict = {}  # case key -> DicomSeries
        ui.loadFolderButton.connect("clicked(bool)", self.onLoadFolder)
        ui.loadFilesButton.connect("clicked(bool)", self.onLoadFiles)
        ui.loadDicomButton.connect("clicked(bool)", self.onLoadDicom)
        ui.previousCaseButton.connect("clicked(bool)", lambda: self.step(-1))
        ui.nextCaseButton.connect("clicked(bool)", lambda: self.step(+1))

    def onLoadFolder(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Folder of head CT scans"))
        if folder:
            self.setPaths([folder])

    def onLoadFiles(self) -> None:
        files = qt.QFileDialog.getOpenFileNames(
            slicer.util.mainWindow(), _("Head CT scans"), "",
            _("Volumes (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd);;All files (*)"))
        if files:
            self.setPaths(list(files))

    def onLoadDicom(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not read the DICOM database."), waitCursor=True):
            self.chooseFromDicomDatabase()

    def step(self, step: int) -> None:
        row = self.ui.caseListWidget.currentRow + step
        if 0 <= row < self.ui.caseListWidget.count:
            self.ui.caseListWidget.setCurrentRow(row)

    def updateButtons(self) -> None:
        row, count = self.ui.caseListWidget.currentRow, self.ui.caseListWidget.count
        self.ui.previousCaseButton.enabled = row > 0
        self.ui.nextCaseButton.enabled = 0 <= row < count - 1

    def _fill(self, entries: list) -> None:
        """``entries``: (key, label, tooltip)."""
        self.keys = [key for key, _label, _tip in entries]
        self.ui.caseListWidget.clear()
        for _key, label, tip in entries:
            item = qt.QListWidgetItem(label)
            item.setToolTip(tip)
            self.ui.caseListWidget.addItem(item)
        if self.keys:
            self.ui.caseListWidget.setCurrentRow(0)
        self.onChanged()

    def setPaths(self, paths: list) -> None:
        from HematomaExpansionLib.pipeline.batch_inputs import case_stem, collect_inputs

        self._fill([(str(p), case_stem(p), str(p)) for p in collect_inputs([str(p) for p in paths])])

    def chooseFromDicomDatabase(self) -> None:
        database = getattr(slicer, "dicomDatabase", None)
        series = dicom_cases.list_series(database)
        if not series:
            slicer.util.infoDisplay(_("The DICOM database holds no CT series. Import scans in the DICOM module first."))
            return
        chosen = DicomSeriesDialog(series).choose()
        if chosen:
            self._series = {s.case_key: s for s in chosen}
            self._fill([(s.case_key, s.label, f"{s.patient_id} {s.series_uid}") for s in chosen])

    def load(self, row: int):
        """The volume node of case ``row`` (loaded once; the same node when it is still in the scene)."""
        key = self.keys[row]
        volume = self.nodes.volume(key, slicer.mrmlScene)
        if volume is None:
            if key in self._series:
                volume = dicom_cases.load_series(self._series[key], os.path.join(self.workDir, "dicom"), slicer.mrmlScene)
            else:
                volume = dicom_cases.load_path(key, slicer.mrmlScene)
            self.nodes.add(key, volume)
        return volume
