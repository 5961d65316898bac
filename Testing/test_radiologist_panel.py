"""The radiologist's panel on a real slicer-core scene (no Qt): segment → edit → re-score, the clinical form,
progress/cancel, scene save and reload, terminology codes, DICOM database cases and export, the
side-by-side follow-up views. The Qt layer (HematomaExpansionWidgets) only wires these to widgets."""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np
import pytest
from mrml_fixtures import fresh_scene, make_scene, slicer  # skips the module without slicer-core

from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH
from HematomaExpansionLib.core.terminology import ANATOMIC_REGIONS, HEMORRHAGE_CATEGORY, HEMORRHAGE_TYPE
from HematomaExpansionLib.mrml import background, clinical_form, dicom_cases, export, heatmap, jobs, segments, views, volumes
from HematomaExpansionLib.mrml import logic as node_logic
from HematomaExpansionLib.segmentation.dispatch import segment


@pytest.fixture
def mrml_scene(monkeypatch):
    yield from fresh_scene(monkeypatch)


@pytest.fixture(scope="module")
def bundled_predictor():
    return node_logic.load_predictor()  # the model shipped in models/ (sha256-verified)


class RecordingPredictor:
    """The bundled model, recording the clinical inputs and labels of every call."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def predict(self, ct, labels, clinical):
        self.calls.append((np.asarray(labels).copy(), dict(clinical or {})))
        return self.real.predict(ct, labels, clinical)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture
def case(mrml_scene, small_sample_case):
    ct, labels, info = small_sample_case
    return volumes.volume_node_from_ct(ct, "CT", scene=mrml_scene), ct, labels


def _table(table_node) -> dict:
    t = table_node.GetTable()
    return {t.GetValue(r, 0).ToString(): t.GetValue(r, 1) for r in range(t.GetNumberOfRows())}


def _labels(seg, node):
    return segments.labels_from_segmentation_node(seg, node)


# --- clinical form --------------------------------------------------------------------------
def test_clinical_form_leaves_out_what_is_not_given():
    nothing = clinical_form.clinical_from_form()
    assert nothing == {}
    assert clinical_form.clinical_from_form(0.0, "none", "no") == {
        "onset_to_ct_h": 0.0, "anticoagulation": False, "warfarin": False, "recurrent_ich": False}
    assert clinical_form.clinical_from_form(2.5, "warfarin", clinical_form.NOT_GIVEN) == {
        "onset_to_ct_h": 2.5, "anticoagulation": True, "warfarin": True}
    assert clinical_form.clinical_from_form(clinical_form.ONSET_NOT_GIVEN, "DOAC", "yes") == {
        "anticoagulation": True, "warfarin": False, "recurrent_ich": True}
    with pytest.raises(ValueError):
        clinical_form.clinical_from_form(1.0, "aspirin")


def test_unset_form_fields_never_reach_the_model(case, bundled_predictor):
    """The parameter node as parameterNodeWrapper stores it (string parameters); an unset field is absent
    from the clinical dict the model and the scores receive, and the scores say what is missing."""
    node, ct, labels = case
    scene = node.GetScene()
    parameters = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "HematomaExpansion")
    parameters.SetAttribute("ModuleName", "HematomaExpansion")
    parameters.SetParameter("onsetToCtHours", str(clinical_form.ONSET_NOT_GIVEN))
    parameters.SetParameter("anticoagulation", clinical_form.NOT_GIVEN)
    parameters.SetParameter("recurrentIch", "yes")
    clinical = clinical_form.clinical_from_parameter_node(parameters)
    assert clinical == {"recurrent_ich": True}
    seg = segments.labels_to_segmentation_node(labels, node)
    predictor = RecordingPredictor(bundled_predictor)
    prediction = jobs.predict_with_progress(node, seg, use_existing_segmentation=True, clinical=clinical, predictor=predictor)[0]
    assert predictor.calls[0][1] == {"recurrent_ich": True}
    scores = prediction.model.scores
    assert scores["BAT"]["value"] is None and "onset_to_ct_h" in scores["BAT"]["reason"]
    assert scores["BRAIN"]["value"] is None and "warfarin" in scores["BRAIN"]["reason"]
    assert "recurrent_ich" not in scores["BRAIN"]["reason"]
    # once given, the same fields are used
    parameters.SetParameter("onsetToCtHours", "2.0")
    parameters.SetParameter("anticoagulation", "warfarin")
    given = clinical_form.clinical_from_parameter_node(parameters)
    prediction = jobs.predict_with_progress(node, seg, use_existing_segmentation=True, clinical=given, predictor=predictor)[0]
    assert prediction.model.scores["BRAIN"]["components"]["anticoagulation_warfarin"] == 6
    assert "onset to CT 2 h, warfarin, recurrent ICH" in clinical_form.status_text(prediction, given, {"torch": "2.13.0"})


# --- segment -> edit -> re-score --------------------------------------------------------------
def test_segment_edit_rescore_changes_volume_and_probability_consistently(case, bundled_predictor):
    node, ct, _ = case
    pumped = []

    def pump(elapsed):
        pumped.append(elapsed)
        return True

    saved = []
    prediction, seg = jobs.segment_with_progress(node, seg_method="classic", pump=pump, before_write=lambda: saved.append(1))
    assert saved == [1] and prediction.mask_source == "classic" and prediction.model is None
    auto = _labels(seg, node)
    np.testing.assert_array_equal(auto, segment(ct, "classic"))  # the same labels as in-process, blocking
    predictor = RecordingPredictor(bundled_predictor)
    first, seg1, table, heat = jobs.predict_with_progress(node, seg, use_existing_segmentation=True, predictor=predictor)
    assert seg1 is seg and first.mask_source == "user"
    # the radiologist erases the upper half of the intraparenchymal hemorrhage in the editor
    iph = slicer.util.arrayFromSegmentBinaryLabelmap(seg, segments.SEGMENT_IDS[LABEL_IPH], node)
    ks = np.nonzero(iph.any(axis=(1, 2)))[0]
    edited = iph.copy()
    edited[ks[len(ks) // 2]:] = 0
    slicer.util.updateSegmentBinaryLabelmapFromArray(edited, seg, segments.SEGMENT_IDS[LABEL_IPH], node)
    removed = int(iph.sum() - edited.sum())
    assert removed > 0
    second, seg2, table2, heat2 = jobs.predict_with_progress(node, seg, use_existing_segmentation=True, predictor=predictor,
                                                             table_node=table, heatmap_node=heat)
    assert seg2 is seg and table2 is table and heat2 is heat
    assert second.measurements.volume_ml == pytest.approx(first.measurements.volume_ml - removed * ct.voxel_volume_ml, rel=1e-6)
    # the model saw exactly the edited segmentation, and the panel shows what it returned
    seen = predictor.calls[-1][0]
    np.testing.assert_array_equal(seen, _labels(seg, node))
    direct = bundled_predictor.predict(ct, seen, {}).probability
    assert second.model.probability == pytest.approx(direct, abs=1e-9)
    assert second.model.probability != pytest.approx(first.model.probability, abs=1e-6)
    rows = _table(table)
    assert rows["Hemorrhage volume (IPH + IVH)"].ToDouble() == pytest.approx(second.measurements.volume_ml, abs=1e-3)
    assert rows["Expansion probability"].ToDouble() == pytest.approx(second.model.probability, abs=1e-4)
    assert rows["Software: torch"].ToString().startswith("2.13.0") and rows["Software: pyradiomics"].ToString() == "3.0.1"
    np.testing.assert_allclose(slicer.util.arrayFromVolume(heat), second.model.gradcam, atol=1e-6)
    # the blocking Logic path gives the same numbers
    blocking = node_logic.run_on_nodes(node, seg, use_existing_segmentation=True, predictor=bundled_predictor)[0]
    assert blocking.model.probability == pytest.approx(second.model.probability, abs=1e-9)
    assert blocking.measurements.volume_ml == pytest.approx(second.measurements.volume_ml, rel=1e-9)


def test_edited_segmentation_is_never_overwritten(case, bundled_predictor):
    node, ct, labels = case
    seg = segments.labels_to_segmentation_node(labels, node)
    ivh = slicer.util.arrayFromSegmentBinaryLabelmap(seg, segments.SEGMENT_IDS[LABEL_IVH], node)
    ivh[:, :5, :5] = 1  # a user edit
    slicer.util.updateSegmentBinaryLabelmapFromArray(ivh, seg, segments.SEGMENT_IDS[LABEL_IVH], node)
    before = _labels(seg, node)
    writes = []
    with pytest.raises(segments.SegmentationExistsError):
        jobs.segment_with_progress(node, seg, "classic", before_write=lambda: writes.append(1))
    with pytest.raises(segments.SegmentationExistsError):
        jobs.predict_with_progress(node, seg, seg_method="classic", predictor=bundled_predictor,
                                   before_write=lambda: writes.append(1))
    assert writes == []
    np.testing.assert_array_equal(_labels(seg, node), before)
    # re-scoring reads it and leaves it as it is
    jobs.predict_with_progress(node, seg, use_existing_segmentation=True, predictor=bundled_predictor)
    np.testing.assert_array_equal(_labels(seg, node), before)
    # replacing it is an explicit choice, and the panel saves it for Undo first
    jobs.segment_with_progress(node, seg, "classic", overwrite=True, before_write=lambda: writes.append("undo saved"))
    assert writes == ["undo saved"]


def test_cancel_writes_nothing(case):
    node, ct, _ = case
    scene = node.GetScene()
    n_segmentations = scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    writes = []
    with pytest.raises(background.CancelledError):
        jobs.segment_with_progress(node, seg_method="classic", pump=lambda elapsed: False,
                                   before_write=lambda: writes.append(1))
    assert writes == [] and scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == n_segmentations


def test_model_loading_in_a_thread_keeps_the_caller_responsive():
    release = threading.Event()
    ticks = []

    def slow_load():
        release.wait(5)
        return "model"

    def pump(elapsed):
        ticks.append(elapsed)
        if len(ticks) == 3:
            release.set()
        return True

    assert jobs.load_in_background(slow_load, pump) == "model"
    assert len(ticks) >= 3  # the GUI was pumped while the model loaded
    with pytest.raises(background.CancelledError):
        jobs.load_in_background(lambda: time.sleep(2), lambda elapsed: False)


def test_segmentation_in_a_subprocess_is_the_in_process_one(small_sample_case, tmp_path):
    ct, _, _ = small_sample_case
    labels = background.segment_in_subprocess(ct, "classic", pump=lambda elapsed: True, python=sys.executable,
                                              workdir=tmp_path)
    np.testing.assert_array_equal(labels, segment(ct, "classic"))
    assert not list(tmp_path.iterdir())  # temporary files removed


def test_a_density_calibration_in_the_subprocess_reaches_the_panel_result(small_sample_case, tmp_path):
    from HematomaExpansionLib.core.ct_image import CTImage
    from HematomaExpansionLib.segmentation import net

    if not net.weights_available():
        pytest.skip("bundled segmentation weights not found (models/manifest.json)")
    ct, _, _ = small_sample_case
    hu = ct.array.copy()
    hu[(hu > -50) & (hu < 150)] += 20.0  # a scanner reading soft tissue 20 HU higher
    bright = CTImage(hu, ct.spacing, ct.origin, ct.direction.copy(), "bright.nii.gz")
    labels = background.segment_in_subprocess(bright, "net", pump=lambda elapsed: True, python=sys.executable,
                                              workdir=tmp_path)
    report = bright.metadata["density_calibration"]
    assert report["density_shift_hu"] < 0
    in_process = CTImage(hu, ct.spacing, ct.origin, ct.direction.copy())
    np.testing.assert_array_equal(labels, segment(in_process, "net"))
    assert in_process.metadata["density_calibration"] == report
    assert background._summary('log line\n{"density_calibration": {"density_shift_hu": -3.0}}\n') == {
        "density_calibration": {"density_shift_hu": -3.0}}


def test_cancel_kills_the_subprocess():
    task = background.SubprocessTask([sys.executable, "-c", "import time; time.sleep(60)"]).start()
    t0 = time.monotonic()
    with pytest.raises(background.CancelledError):
        background.wait_for(task, pump=lambda elapsed: elapsed < 0.3)
    assert time.monotonic() - t0 < 20 and not task.running
    failing = background.SubprocessTask([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]).start()
    with pytest.raises(Exception, match="exit status 3"):
        background.wait_for(failing)


# --- scene save and reload --------------------------------------------------------------------
def _save_and_reload(scene, tmp_path):
    path = tmp_path / "case.mrb"
    assert scene.WriteToMRB(str(path))
    scene2, keep, _ = make_scene()
    scene2.RegisterNodeClass(slicer.vtkMRMLSegmentEditorNode())
    cache = slicer.vtkCacheManager()
    cache.SetRemoteCacheDirectory(str(tmp_path / "cache"))
    io_manager = slicer.vtkDataIOManager()
    io_manager.SetCacheManager(cache)
    scene2.SetCacheManager(cache)
    scene2.SetDataIOManager(io_manager)
    assert scene2.ReadFromMRB(str(path))
    return scene2, keep


def test_scene_save_and_reload_restores_segments_table_heatmap_and_parameters(case, bundled_predictor, tmp_path):
    node, ct, labels = case
    scene = node.GetScene()
    seg = segments.labels_to_segmentation_node(labels, node)
    prediction, seg, table, heat = jobs.predict_with_progress(node, seg, use_existing_segmentation=True,
                                                              clinical={"onset_to_ct_h": 2.0}, predictor=bundled_predictor)
    parameters = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "HematomaExpansion")
    parameters.SetAttribute("ModuleName", "HematomaExpansion")
    for name, value in (("onsetToCtHours", "2.0"), ("anticoagulation", "DOAC"), ("recurrentIch", clinical_form.NOT_GIVEN),
                        ("segmentationMethod", "classic"), ("heatmapOpacity", "0.6")):
        parameters.SetParameter(name, value)
    for role, ref in (("inputVolume", node), ("segmentation", seg), ("resultsTable", table), ("heatmapVolume", heat)):
        parameters.SetNodeReferenceID(role, ref.GetID())
    editor = segments.segment_editor_node(scene)
    editor.SetAndObserveSegmentationNode(seg)
    saved_rows = {k: v.ToString() for k, v in _table(table).items()}
    saved_heat = np.array(slicer.util.arrayFromVolume(heat))

    scene2, keep = _save_and_reload(scene, tmp_path)
    p2 = scene2.GetFirstNodeByClass("vtkMRMLScriptedModuleNode")
    assert p2.GetAttribute("ModuleName") == "HematomaExpansion"
    assert clinical_form.clinical_from_parameter_node(p2) == {"onset_to_ct_h": 2.0, "anticoagulation": True, "warfarin": False}
    assert p2.GetParameter("segmentationMethod") == "classic" and p2.GetParameter("heatmapOpacity") == "0.6"
    node2, seg2 = p2.GetNodeReference("inputVolume"), p2.GetNodeReference("segmentation")
    table2, heat2 = p2.GetNodeReference("resultsTable"), p2.GetNodeReference("heatmapVolume")
    assert node2.GetName() == "CT" and seg2.GetName() == seg.GetName()
    np.testing.assert_allclose(volumes.ijk_to_ras_of(node2), volumes.ijk_to_ras_of(node), atol=1e-6)
    # segments: the same ids, names, colours, terminology and voxels
    for label, segment_id in segments.SEGMENT_IDS.items():
        s1, s2 = seg.GetSegmentation().GetSegment(segment_id), seg2.GetSegmentation().GetSegment(segment_id)
        assert s2 is not None and s2.GetName() == s1.GetName()
        assert segments.segment_terminology(s2) == segments.terminology_entry(label)
        np.testing.assert_allclose(s2.GetColor(), s1.GetColor(), atol=1e-6)
    np.testing.assert_array_equal(_labels(seg2, node2), labels)
    assert {k: v.ToString() for k, v in _table(table2).items()} == saved_rows
    np.testing.assert_allclose(slicer.util.arrayFromVolume(heat2), saved_heat, atol=1e-6)
    assert heat2.GetDisplayNode().GetColorNode().GetName() == heatmap.HEATMAP_COLOR_NODE_NAME
    assert heat2.GetAttribute("HematomaExpansion.Role") == "GradCAM"
    editor2 = scene2.GetSingletonNode(segments.EDITOR_NODE_TAG, "vtkMRMLSegmentEditorNode")
    assert editor2 is not None and editor2.GetSegmentationNode() is seg2
    # the reloaded scene re-scores to the same numbers
    again = node_logic.run_on_nodes(node2, seg2, use_existing_segmentation=True, clinical={"onset_to_ct_h": 2.0},
                                    predictor=bundled_predictor)[0]
    assert again.model.probability == pytest.approx(prediction.model.probability, abs=1e-6)
    scene2.Clear(1)
    del keep


# --- terminology ------------------------------------------------------------------------------
def _entry(segment):
    entry = slicer.vtkSlicerTerminologyEntry()
    assert slicer.vtkSlicerTerminologiesModuleLogic.DeserializeTerminologyEntry(segments.segment_terminology(segment), entry)
    return entry


def _code(obj):
    return obj.GetCodingSchemeDesignator(), obj.GetCodeValue(), obj.GetCodeMeaning()


@pytest.mark.parametrize("make", ["labels", "empty"])
def test_segments_carry_snomed_hemorrhage_codes(case, make):
    node, ct, labels = case
    if make == "labels":
        seg = segments.labels_to_segmentation_node(labels, node)
    else:
        seg = segments.ensure_hemorrhage_segments(node)  # what the editor draws into
    expected_regions = {LABEL_IPH: ("SCT", "12738006", "Brain"), LABEL_IVH: ("SCT", "35764002", "Cerebral ventricle")}
    assert ANATOMIC_REGIONS == expected_regions
    for label, segment_id in segments.SEGMENT_IDS.items():
        entry = _entry(seg.GetSegmentation().GetSegment(segment_id))
        assert entry.GetTerminologyContextName() == "Segmentation category and type - 3D Slicer General Anatomy list"
        assert _code(entry.GetCategoryObject()) == HEMORRHAGE_CATEGORY == ("SCT", "49755003", "Morphologically Altered Structure")
        assert _code(entry.GetTypeObject()) == HEMORRHAGE_TYPE == ("SCT", "50960005", "Hemorrhage")
        assert _code(entry.GetRegionObject()) == expected_regions[label]
        assert entry.GetRegionObject().GetCodeValue() != "113305005"  # not "Cerebellum"


def test_prepared_segmentation_keeps_existing_content(case):
    node, ct, labels = case
    seg = segments.labels_to_segmentation_node(labels, node)
    seg.GetSegmentation().AddEmptySegment("Edema", "Edema")
    again = segments.ensure_hemorrhage_segments(node, seg)
    assert again is seg and seg.GetSegmentation().GetNumberOfSegments() == 3
    np.testing.assert_array_equal(_labels(seg, node), labels)
    fresh = segments.ensure_hemorrhage_segments(node)
    assert list(fresh.GetSegmentation().GetSegmentIDs()) == list(segments.SEGMENT_IDS.values())
    assert not segments.segmentation_has_content(fresh)
    editor = segments.segment_editor_node(node.GetScene())
    assert segments.segment_editor_node(node.GetScene()) is editor


# --- DICOM database cases and export ------------------------------------------------------------
class FakeDicomDatabase:
    """The ctkDICOMDatabase methods the panel uses, over files on disk (tags read with pydicom)."""

    def __init__(self, folders):
        import pydicom

        self.files = {}
        for folder in folders:
            for path in sorted(folder.iterdir()):
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                self.files[str(path)] = ds
        self.isOpen = True

    def _where(self, key, value):
        return [p for p, ds in self.files.items() if str(getattr(ds, key)) == value]

    def patients(self):
        return sorted({str(ds.PatientID) for ds in self.files.values()})

    def studiesForPatient(self, patient):
        return sorted({str(self.files[p].StudyInstanceUID) for p in self._where("PatientID", patient)})

    def seriesForStudy(self, study):
        return sorted({str(self.files[p].SeriesInstanceUID) for p in self._where("StudyInstanceUID", study)})

    def filesForSeries(self, series):
        return self._where("SeriesInstanceUID", series)

    def fieldForSeries(self, field, series):
        return ""  # as for a database without that column: the panel reads the first file

    def fileValue(self, path, tag):
        group, element = (int(x, 16) for x in tag.split(","))
        item = self.files[path].get((group, element))
        return "" if item is None else str(item.value)

    def fileForInstance(self, uid):
        return next((p for p, ds in self.files.items() if str(ds.SOPInstanceUID) == uid), "")


def test_dicom_database_cases_load_and_export_a_dicom_seg(mrml_scene, small_sample_case, tmp_path):
    pytest.importorskip("highdicom")
    from dicom_fixtures import write_dicom_series

    from HematomaExpansionLib.outputs.dicom_seg import read_dicom_seg_labels

    ct, labels, _ = small_sample_case
    ct_folder = write_dicom_series(tmp_path / "ct", ct, reverse_names=True)
    write_dicom_series(tmp_path / "mr", ct, modality="MR")
    database = FakeDicomDatabase([ct_folder, tmp_path / "mr"])
    series = dicom_cases.list_series(database)
    assert len(series) == 1 and series[0].modality == "CT" and len(series[0].files) == ct.shape[0]
    assert series[0].name == "Test Phantom - series 3" and "2024-01-01" in series[0].label
    assert series[0].case_key.startswith(dicom_cases.CASE_KEY_PREFIX)
    assert len(dicom_cases.list_series(database, modalities=None)) == 2

    node = dicom_cases.load_series(series[0], tmp_path / "work", mrml_scene)
    assert node.GetAttribute(dicom_cases.SERIES_UID_ATTRIBUTE) == series[0].series_uid
    files = dicom_cases.dicom_files_of(node, database)
    assert sorted(files) == sorted(series[0].files)
    seg = segments.labels_to_segmentation_node(labels, node)
    prediction, seg = jobs.segment_with_progress(node, seg, "classic", overwrite=True)
    out = export.export_case(node, seg, prediction, tmp_path / "export", dicom_files=files)
    assert {"result", "report", "pdf", "mask", "seg"} <= set(out)
    assert out["pdf"].read_bytes()[:5] == b"%PDF-" and out["pdf"].stat().st_size > 10_000
    assert "torch" in json.loads(out["result"].read_text())["software"]["packages"]
    np.testing.assert_array_equal(read_dicom_seg_labels(out["seg"], ct_folder), _labels(seg, node))
    # a volume that did not come from DICOM has no SEG; an edit after the prediction stops the export
    assert dicom_cases.dicom_files_of(volumes.volume_node_from_ct(ct, "nifti", scene=mrml_scene), database) is None
    iph = slicer.util.arrayFromSegmentBinaryLabelmap(seg, segments.SEGMENT_IDS[LABEL_IPH], node)
    iph[0] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(iph, seg, segments.SEGMENT_IDS[LABEL_IPH], node)
    with pytest.raises(export.StaleResultError):
        export.export_case(node, seg, prediction, tmp_path / "stale")


def test_labels_follow_the_dicom_grid_when_it_is_flipped(small_sample_case):
    ct, labels, _ = small_sample_case
    flipped = ct.from_ijk_to_ras(ct.array[::-1].copy(), ct.ijk_to_ras() @ np.array(
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, ct.shape[0] - 1], [0, 0, 0, 1]]))
    np.testing.assert_array_equal(export.labels_on_grid(labels, ct, flipped), labels[::-1])
    np.testing.assert_array_equal(export.labels_on_grid(labels, ct, ct), labels)


# --- follow-up: side by side ----------------------------------------------------------------------
def _views(scene, names):
    for name in names:
        slice_node = slicer.vtkMRMLSliceNode()
        slice_node.SetLayoutName(name)
        slice_node.SetName(name)
        scene.AddNode(slice_node)
        composite = slicer.vtkMRMLSliceCompositeNode()
        composite.SetLayoutName(name)
        scene.AddNode(composite)
    scene.AddNewNodeByClass("vtkMRMLViewNode")


def test_side_by_side_views_show_each_scan_with_its_segmentation(case, small_sample_case):
    node, ct, labels = case
    scene = node.GetScene()
    _views(scene, views.layout_view_tags())
    followup = volumes.volume_node_from_ct(ct, "CT follow-up", scene=scene)
    seg0 = segments.labels_to_segmentation_node(labels, node)
    seg1 = segments.labels_to_segmentation_node(labels, followup)
    used = views.show_side_by_side(scene, node, followup, seg0, seg1)
    composites = views.nodes_by_layout_name(scene, "vtkMRMLSliceCompositeNode")
    slices = views.nodes_by_layout_name(scene, "vtkMRMLSliceNode")
    for name in views.BASELINE_VIEWS:
        assert composites[name].GetBackgroundVolumeID() == node.GetID() and composites[name].GetLinkedControl()
    for name in views.FOLLOWUP_VIEWS:
        assert composites[name].GetBackgroundVolumeID() == followup.GetID() and composites[name].GetLinkedControl()
    assert used["followup"] == [slices[n].GetID() for n in views.FOLLOWUP_VIEWS]
    shown0 = {seg0.GetDisplayNode().GetNthViewNodeID(i) for i in range(seg0.GetDisplayNode().GetNumberOfViewNodeIDs())}
    shown1 = {seg1.GetDisplayNode().GetNthViewNodeID(i) for i in range(seg1.GetDisplayNode().GetNumberOfViewNodeIDs())}
    assert {slices[n].GetID() for n in views.BASELINE_VIEWS} <= shown0 and not shown0 & shown1
    assert shown1 == {slices[n].GetID() for n in views.FOLLOWUP_VIEWS}
    # the Grad-CAM overlay stays on the baseline views
    heat = heatmap.heatmap_to_volume_node(np.full(ct.shape, 0.5, np.float32), node)
    assert heatmap.set_heatmap_visibility(heat, True, 0.4, node) == len(views.BASELINE_VIEWS)
    assert all(composites[n].GetBackgroundVolumeID() == followup.GetID() for n in views.FOLLOWUP_VIEWS)
    assert all(not composites[n].GetForegroundVolumeID() for n in views.FOLLOWUP_VIEWS)


def test_compare_layout_description(mrml_scene):
    assert views.layout_view_tags() == ["Red", "Green", "HEFollowupAxial", "HEFollowupCoronal"]
    layout = slicer.vtkMRMLLayoutNode()
    mrml_scene.AddNode(layout)
    assert views.register_compare_layout(layout) == views.COMPARE_LAYOUT_ID
    assert layout.IsLayoutDescription(views.COMPARE_LAYOUT_ID)
    assert layout.GetLayoutDescription(views.COMPARE_LAYOUT_ID) == views.COMPARE_LAYOUT_XML
    views.register_compare_layout(layout)  # idempotent
