"""The mrml package on a real slicer-core scene: geometry, segmentations, tables, heatmaps, full runs."""

from __future__ import annotations

import importlib
import json
import logging
import math

import numpy as np
import pytest
from mrml_fixtures import fresh_scene, head_like_ct, rotation, slicer  # skips the module without slicer-core

from HematomaExpansionLib.core.errors import GeometryError, HematomaExpansionError, NotACTError
from HematomaExpansionLib.core.results import Contribution, Measurements, ModelOutput, Prediction
from HematomaExpansionLib.expansion import clinical_scores
from HematomaExpansionLib.mrml import definitions, heatmap, segments, tables, volumes
from HematomaExpansionLib.mrml import logic as node_logic


@pytest.fixture
def mrml_scene(monkeypatch):
    """A fresh slicer-core scene as ``slicer.mrmlScene``, with the volumes/segmentations logics."""
    yield from fresh_scene(monkeypatch)


OBLIQUE = rotation("z", 25.0) @ rotation("x", 12.0)


def _labels(shape) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)
    labels[6:11, 12:22, 8:20] = 1
    labels[13:15, 4:8, 5:9] = 2
    return labels


@pytest.fixture
def ct_node(mrml_scene):
    ct = head_like_ct(spacing=(0.7, 0.8, 4.0), direction=OBLIQUE)
    return volumes.volume_node_from_ct(ct, "CT", scene=mrml_scene), ct


# --- geometry -------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", [np.eye(3), OBLIQUE, rotation("y", 180.0) @ rotation("z", -33.0)])
def test_ct_round_trip_keeps_oblique_anisotropic_geometry(mrml_scene, direction):
    ct = head_like_ct(spacing=(0.45, 0.6, 5.0), direction=direction)
    node = volumes.volume_node_from_ct(ct, "CT", scene=mrml_scene)
    np.testing.assert_allclose(volumes.ijk_to_ras_of(node), ct.ijk_to_ras(), atol=1e-9)
    back = volumes.ct_from_volume_node(node)
    np.testing.assert_allclose(back.ijk_to_ras(), ct.ijk_to_ras(), atol=1e-6)
    np.testing.assert_allclose(back.spacing, (0.45, 0.6, 5.0), atol=1e-9)
    np.testing.assert_allclose(back.direction, direction, atol=1e-9)
    np.testing.assert_array_equal(back.array, ct.array)
    assert back.source == "CT"


def test_ct_from_volume_node_copies_voxels(ct_node):
    node, _ = ct_node
    ct = volumes.ct_from_volume_node(node)
    ct.array[:] = 0
    assert slicer.util.arrayFromVolume(node).max() > 0


def test_ct_from_volume_node_matches_slicer_ijk_to_ras_of_a_plain_node(mrml_scene):
    arr = head_like_ct().array
    node = slicer.util.addVolumeFromArray(arr, np.array([[-0.5, 0, 0, 10], [0, -0.7, 0, 20], [0, 0, 3.0, -5], [0, 0, 0, 1]]))
    ct = volumes.ct_from_volume_node(node)
    # A voxel's RAS position computed by MRML equals the CTImage's.
    import vtk

    ras = [0.0, 0.0, 0.0, 1.0]
    mat = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(mat)
    mat.MultiplyPoint([3, 4, 5, 1], ras)
    np.testing.assert_allclose(ct.ijk_to_ras() @ [3, 4, 5, 1], ras, atol=1e-9)


def test_ct_from_volume_node_rejects_non_ct_inputs(mrml_scene):
    with pytest.raises(GeometryError):
        volumes.ct_from_volume_node(None)
    empty = mrml_scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    with pytest.raises(GeometryError, match="no voxel data"):
        volumes.ct_from_volume_node(empty)
    label = slicer.util.addVolumeFromArray(np.zeros((10, 10, 10), np.uint8), nodeClassName="vtkMRMLLabelMapVolumeNode")
    with pytest.raises(NotACTError, match="labelmap"):
        volumes.ct_from_volume_node(label)
    single = slicer.util.addVolumeFromArray(np.zeros((1, 30, 30), np.float32))
    with pytest.raises(GeometryError, match="single slice"):
        volumes.ct_from_volume_node(single)
    mr_like = slicer.util.addVolumeFromArray(np.random.default_rng(0).uniform(0, 800, (20, 30, 30)).astype(np.float32))
    with pytest.raises(NotACTError):
        volumes.ct_from_volume_node(mr_like)
    vector = slicer.util.addVolumeFromArray(np.zeros((10, 10, 10, 3), np.uint8), nodeClassName="vtkMRMLVectorVolumeNode")
    with pytest.raises(NotACTError):
        volumes.ct_from_volume_node(vector)
    assert issubclass(segments.SegmentationExistsError, HematomaExpansionError)


# --- segmentation ---------------------------------------------------------------------------
def test_labels_segmentation_round_trip_is_exact(ct_node):
    node, ct = ct_node
    labels = _labels(ct.shape)
    seg = segments.labels_to_segmentation_node(labels, node)
    assert isinstance(seg, slicer.vtkMRMLSegmentationNode)
    assert seg.GetScene() is node.GetScene()
    back = segments.labels_from_segmentation_node(seg, node)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, labels)


def test_segments_have_names_colors_and_terminology(ct_node):
    node, ct = ct_node
    seg = segments.labels_to_segmentation_node(_labels(ct.shape), node)
    segmentation = seg.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 2
    iph = segmentation.GetSegment(segments.SEGMENT_IDS[1])
    ivh = segmentation.GetSegment(segments.SEGMENT_IDS[2])
    assert iph.GetName() == "Intraparenchymal hemorrhage"
    assert ivh.GetName() == "Intraventricular hemorrhage"
    assert not np.allclose(iph.GetColor(), ivh.GetColor(), atol=0.1)
    for segment, region in ((iph, ("12738006", "Brain")), (ivh, ("35764002", "Cerebral ventricle"))):
        text = segments.segment_terminology(segment)
        entry = slicer.vtkSlicerTerminologyEntry()
        assert slicer.vtkSlicerTerminologiesModuleLogic.DeserializeTerminologyEntry(text, entry)
        assert entry.GetTerminologyContextName() == "Segmentation category and type - 3D Slicer General Anatomy list"
        category = entry.GetCategoryObject()
        assert (category.GetCodeValue(), category.GetCodingSchemeDesignator()) == ("49755003", "SCT")
        assert (entry.GetTypeObject().GetCodeValue(), entry.GetTypeObject().GetCodeMeaning()) == ("50960005", "Hemorrhage")
        assert entry.GetRegionContextName() == "Anatomic codes - DICOM master list"
        assert (entry.GetRegionObject().GetCodeValue(), entry.GetRegionObject().GetCodeMeaning()) == region
        # Slicer's own serializer writes exactly the same string.
        assert slicer.vtkSlicerTerminologiesModuleLogic.SerializeTerminologyEntry(entry) == text
    ref = seg.GetNodeReference(slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole())
    assert ref is node


def test_user_edited_segment_is_read_back(ct_node):
    node, ct = ct_node
    seg = segments.labels_to_segmentation_node(_labels(ct.shape), node)
    edited = slicer.util.arrayFromSegmentBinaryLabelmap(seg, segments.SEGMENT_IDS[1], node)
    edited[:] = 0
    edited[2:5, 20:30, 20:32] = 1  # the user repainted the hematoma elsewhere
    slicer.util.updateSegmentBinaryLabelmapFromArray(edited, seg, segments.SEGMENT_IDS[1], node)
    back = segments.labels_from_segmentation_node(seg, node)
    assert int((back == 1).sum()) == int(edited.sum())
    assert (back[2:5, 20:30, 20:32] == 1).all()
    assert not (back[6:11, 12:22, 8:20] == 1).any()
    assert int((back == 2).sum()) == int((_labels(ct.shape) == 2).sum())


def test_other_user_segments_count_as_hemorrhage(ct_node, caplog):
    node, ct = ct_node
    seg = segments.labels_to_segmentation_node(np.zeros(ct.shape, np.uint8), node, overwrite=True)
    sid = seg.GetSegmentation().AddEmptySegment("", "Segment_1")
    drawn = np.zeros(ct.shape, np.uint8)
    drawn[8:10, 10:14, 10:14] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(drawn, seg, sid, node)
    ivh_named = seg.GetSegmentation().AddEmptySegment("", "IVH (drawn)")
    drawn_ivh = np.zeros(ct.shape, np.uint8)
    drawn_ivh[14:16, 2:4, 2:4] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(drawn_ivh, seg, ivh_named, node)
    with caplog.at_level(logging.WARNING):
        back = segments.labels_from_segmentation_node(seg, node)
    assert (back[8:10, 10:14, 10:14] == 1).all() and int((back == 1).sum()) == 32
    assert (back[14:16, 2:4, 2:4] == 2).all() and int((back == 2).sum()) == 8
    assert "Segment_1" in caplog.text


def test_segmentation_on_another_grid_is_resampled_to_the_ct(ct_node, mrml_scene):
    node, ct = ct_node
    seg = mrml_scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "user")
    seg.CreateDefaultDisplayNodes()
    seg.SetReferenceImageGeometryParameterFromVolumeNode(node)
    sid = seg.GetSegmentation().AddEmptySegment("", "Intraparenchymal hemorrhage")
    mask = np.zeros(ct.shape, np.uint8)
    mask[5:9, 10:20, 10:20] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, seg, sid, node)
    back = segments.labels_from_segmentation_node(seg, node)
    np.testing.assert_array_equal(back, mask)


def test_refuses_to_overwrite_non_empty_segmentation(ct_node):
    node, ct = ct_node
    labels = _labels(ct.shape)
    seg = segments.labels_to_segmentation_node(labels, node)
    with pytest.raises(segments.SegmentationExistsError, match="Intraparenchymal hemorrhage"):
        segments.labels_to_segmentation_node(np.zeros_like(labels), node, seg)
    np.testing.assert_array_equal(segments.labels_from_segmentation_node(seg, node), labels)  # untouched
    new = np.zeros_like(labels)
    new[1:3, 1:3, 1:3] = 2
    assert segments.labels_to_segmentation_node(new, node, seg, overwrite=True) is seg
    np.testing.assert_array_equal(segments.labels_from_segmentation_node(seg, node), new)
    assert seg.GetSegmentation().GetNumberOfSegments() == 2


def test_empty_segments_may_be_filled_without_confirmation(ct_node):
    node, ct = ct_node
    seg = segments.labels_to_segmentation_node(np.zeros(ct.shape, np.uint8), node)
    assert not segments.segmentation_has_content(seg)
    segments.labels_to_segmentation_node(_labels(ct.shape), node, seg)  # no error: nothing to lose
    assert segments.segmentation_has_content(seg, only_hemorrhage_segments=True)


def test_label_map_on_wrong_grid_is_rejected(ct_node):
    node, ct = ct_node
    with pytest.raises(GeometryError, match="does not match"):
        segments.labels_to_segmentation_node(np.zeros((3, 4, 5), np.uint8), node)


def test_outputs_follow_the_ct_parent_transform(ct_node, mrml_scene):
    node, ct = ct_node
    transform = mrml_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    node.SetAndObserveTransformNodeID(transform.GetID())
    seg = segments.labels_to_segmentation_node(_labels(ct.shape), node)
    heat = heatmap.heatmap_to_volume_node(np.zeros(ct.shape, np.float32), node)
    assert seg.GetTransformNodeID() == transform.GetID()
    assert heat.GetTransformNodeID() == transform.GetID()


# --- results table --------------------------------------------------------------------------
def _prediction(shape=(4, 4, 4), with_model: bool = True) -> Prediction:
    m = Measurements(31.25, 27.5, 3.75, 29.875, 52.0, 40.0, 28.7, 7, 1520.0, 2)
    model = None
    if with_model:
        model = ModelOutput(
            probability=0.73456, risk_band="high", definition="6ml_or_33pct", model_id="he-gbm", model_version="1.2.0",
            contributions=[Contribution("volume_ml", 31.25, 0.8), Contribution("swirl", 1.0, -0.3),
                           Contribution("glcm_contrast", 4.2, 0.05)],
            scores=clinical_scores.scores({"sign_blend": 1.0, "sign_hypodensity": 0.0}, 27.5, 3.75, {"onset_to_ct_h": 1.0}),
            gradcam=np.zeros(shape, np.float32), feature_version="features-6",
        )
    return Prediction("case-7", np.zeros(shape, np.uint8), "classic", m, model, {}, ["low slice count"])


def _table_dict(table_node) -> dict[str, tuple]:
    table = table_node.GetTable()
    assert [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())] == ["Quantity", "Value", "Unit"]
    return {table.GetValue(r, 0).ToString(): (table.GetValue(r, 1), table.GetValue(r, 2).ToString())
            for r in range(table.GetNumberOfRows())}


def test_prediction_table_values_and_units(mrml_scene):
    table_node = tables.prediction_to_table_node(_prediction())
    assert isinstance(table_node, slicer.vtkMRMLTableNode)
    rows = _table_dict(table_node)
    value, unit = rows["Hemorrhage volume (IPH + IVH)"]
    assert value.ToDouble() == pytest.approx(31.25, abs=1e-3) and unit == "mL"
    assert rows["Intraparenchymal hemorrhage volume"][0].ToDouble() == pytest.approx(27.5, abs=1e-3)
    assert rows["Intraventricular hemorrhage volume"][0].ToDouble() == pytest.approx(3.75, abs=1e-3)
    assert rows["ABC/2 volume"][0].ToDouble() == pytest.approx(29.875, abs=1e-3)
    assert rows["ABC/2 volume"][1] == "mL"
    assert rows["Expansion probability"][0].ToDouble() == pytest.approx(0.7346, abs=1e-4)
    assert rows["Risk band"][0].ToString() == "high"
    assert rows["Expansion definition"][0].ToString() == "6ml_or_33pct"
    assert rows["Model"][0].ToString() == "he-gbm" and rows["Model version"][0].ToString() == "1.2.0"
    assert rows["Image-feature definitions"][0].ToString() == "features-6"
    # scores are readable text, not Python reprs; a missing input says which one
    assert rows["BAT score"][0].ToString() == (
        "3 of 5, high risk (blend sign 1, any hypodensity 0, onset to CT < 2.5h 2)")
    assert rows["BAT score"][1] == "points"
    assert rows["BRAIN score"][0].ToString() == "not computable: missing recurrent_ich, warfarin"
    top = [k for k in rows if k.startswith("Top feature")]
    assert top[0] == "Top feature 1: volume_ml" and top[1] == "Top feature 2: swirl"  # by |contribution|
    assert rows[top[1]][0].ToDouble() == pytest.approx(-0.3) and rows[top[1]][1] == "log-odds"
    assert rows["Warning"][0].ToString() == "low slice count"
    assert table_node.GetColumnDescription("Unit")
    # headers are the column names, set through titles (the name-as-header setter is deprecated since Slicer 5.1)
    assert table_node.GetUseColumnTitleAsColumnHeader()
    assert [table_node.GetColumnTitle(n) for n in tables.TABLE_COLUMNS] == list(tables.TABLE_COLUMNS)


def test_table_node_is_reused_and_rewritten(mrml_scene):
    table_node = tables.prediction_to_table_node(_prediction())
    n_with_model = table_node.GetNumberOfRows()
    again = tables.prediction_to_table_node(_prediction(with_model=False), table_node)
    assert again is table_node
    rows = _table_dict(table_node)
    assert "Expansion probability" not in rows and table_node.GetNumberOfRows() < n_with_model
    assert mrml_scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 1


def test_summary_table_has_units_in_column_properties(mrml_scene):
    table_node = tables.add_case_to_summary_table(_prediction(), "case-7")
    tables.add_case_to_summary_table(_prediction(with_model=False), "case-8", table_node)
    tables.add_case_to_summary_table(_prediction(), "case-7", table_node)  # replaces, does not append
    table = table_node.GetTable()
    assert table.GetNumberOfRows() == 2
    assert table_node.GetColumnUnitLabel("volume_ml") == "mL"
    assert table_node.GetColumnLongName("abc2_ml") == "ABC/2 volume"
    assert table.GetValueByName(0, "he_probability").ToDouble() == pytest.approx(0.7346, abs=1e-4)
    assert math.isnan(table.GetValueByName(1, "he_probability").ToDouble())
    assert table.GetValueByName(1, "volume_ml").ToDouble() == pytest.approx(31.25)


# --- heatmap --------------------------------------------------------------------------------
def test_heatmap_volume_geometry_and_display(ct_node):
    node, ct = ct_node
    heat = np.random.default_rng(1).uniform(0, 1.3, ct.shape).astype(np.float32)
    heat_node = heatmap.heatmap_to_volume_node(heat, node)
    np.testing.assert_allclose(volumes.ijk_to_ras_of(heat_node), volumes.ijk_to_ras_of(node), atol=1e-12)
    assert heat_node.GetImageData().GetDimensions() == node.GetImageData().GetDimensions()
    values = slicer.util.arrayFromVolume(heat_node)
    np.testing.assert_allclose(values, np.clip(heat, 0, 1))
    display = heat_node.GetDisplayNode()
    assert not display.GetAutoWindowLevel()
    assert (display.GetWindowLevelMin(), display.GetWindowLevelMax()) == (0.0, 1.0)
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(0.2)
    color = display.GetColorNode()
    assert color is not None and color.GetNumberOfColors() == 256
    # Re-using the node and the color table:
    assert heatmap.heatmap_to_volume_node(heat * 0, node, heat_node) is heat_node
    assert node.GetScene().GetNodesByName(heatmap.HEATMAP_COLOR_NODE_NAME).GetNumberOfItems() == 1
    with pytest.raises(GeometryError):
        heatmap.heatmap_to_volume_node(np.zeros((2, 2, 2)), node)


def test_heatmap_visibility_helpers(ct_node, mrml_scene):
    node, ct = ct_node
    heat_node = heatmap.heatmap_to_volume_node(np.zeros(ct.shape, np.float32), node)
    assert heatmap.set_heatmap_visibility(heat_node, True, 0.4) == 0  # no slice views: harmless
    assert heatmap.set_heatmap_visibility(None, True) == 0
    views = [mrml_scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode") for _ in range(3)]
    assert heatmap.set_heatmap_visibility(heat_node, True, 0.4, ct_volume_node=node) == 3
    assert all(v.GetForegroundVolumeID() == heat_node.GetID() for v in views)
    assert all(v.GetBackgroundVolumeID() == node.GetID() for v in views)
    assert views[0].GetForegroundOpacity() == pytest.approx(0.4)
    assert heatmap.set_heatmap_opacity(heat_node, 0.8) == 3
    assert views[2].GetForegroundOpacity() == pytest.approx(0.8)
    assert heatmap.set_heatmap_visibility(heat_node, False) == 3
    assert all(v.GetForegroundVolumeID() is None for v in views)
    assert heatmap.set_heatmap_opacity(heat_node, 0.5) == 0


# --- small helpers --------------------------------------------------------------------------
def test_parse_clinical_and_definitions():
    from HematomaExpansionLib.features.clinical import parse_clinical

    assert parse_clinical("age=71 gcs=13, anticoagulant=yes onset=early") == {
        "age": 71.0, "gcs": 13.0, "anticoagulant": True, "onset": "early"}
    assert parse_clinical(["sbp=180"]) == {"sbp": 180.0}
    with pytest.raises(HematomaExpansionError, match="KEY=VALUE"):
        parse_clinical("age 71")
    assert definitions.available_definitions()[0] == "default"
    from HematomaExpansionLib.expansion.labels import DEFINITIONS

    assert set(DEFINITIONS) <= set(definitions.available_definitions())  # the core's definitions, "default" first
    assert definitions.definition_argument("default") is None and definitions.definition_argument("") is None
    assert definitions.definition_argument("6ml_or_33pct") == "6ml_or_33pct"


def test_case_discovery_for_the_case_list(tmp_path):
    from HematomaExpansionLib.core.errors import InputNotFoundError
    from HematomaExpansionLib.pipeline.batch_inputs import case_stem, collect_inputs

    (tmp_path / "a.nii.gz").write_bytes(b"x")
    (tmp_path / "b.nrrd").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    dicom = tmp_path / "series1"
    dicom.mkdir()
    (dicom / "IM0001").write_bytes(b"x")
    assert collect_inputs([str(tmp_path)]) == [tmp_path / "a.nii.gz", tmp_path / "b.nrrd", dicom]
    assert collect_inputs([str(tmp_path / "missing.nii")]) == [tmp_path / "missing.nii"]  # fails as its own case
    with pytest.raises(InputNotFoundError, match="no input scans"):
        collect_inputs([str(dicom.parent / "empty")] if (dicom.parent / "empty").mkdir() is None else [])
    assert case_stem("/x/case_01.nii.gz") == "case_01" and case_stem("/x/series1") == "series1"


# --- whole runs -----------------------------------------------------------------------------
class RecordingPredictor:
    """The bundled expansion model, wrapped to record what each call was given and what it returned."""

    def __init__(self, real):
        self.real = real
        self.calls: list[tuple[np.ndarray, dict]] = []
        self.outputs: list[ModelOutput] = []

    def predict(self, ct, labels, clinical):
        self.calls.append((np.asarray(labels).copy(), dict(clinical or {})))
        self.outputs.append(self.real.predict(ct, labels, clinical))
        return self.outputs[-1]

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture(scope="module")
def bundled_predictor():
    return node_logic.load_predictor()  # the model shipped in models/ (sha256-verified); no stand-in


@pytest.fixture
def predictor(bundled_predictor):
    return RecordingPredictor(bundled_predictor)


def test_run_on_nodes_rescore_reads_user_edits(ct_node, predictor):
    node, ct = ct_node
    seg = segments.labels_to_segmentation_node(_labels(ct.shape), node)
    edited = slicer.util.arrayFromSegmentBinaryLabelmap(seg, segments.SEGMENT_IDS[1], node)
    edited[6:11, 12:22, 8:14] = 0  # the user erased part of the hematoma
    slicer.util.updateSegmentBinaryLabelmapFromArray(edited, seg, segments.SEGMENT_IDS[1], node)
    prediction, seg_out, table, heat = node_logic.run_on_nodes(
        node, seg, use_existing_segmentation=True, clinical={"onset_to_ct_hours": 2.0}, predictor=predictor)
    assert seg_out is seg
    labels_seen, clinical_seen = predictor.calls[0]
    assert int((labels_seen == 1).sum()) == int(edited.sum()) and clinical_seen == {"onset_to_ct_hours": 2.0}
    assert prediction.mask_source == "user"
    expected_ml = float((labels_seen > 0).sum()) * ct.voxel_volume_ml
    assert prediction.measurements.volume_ml == pytest.approx(expected_ml, rel=1e-6)
    model_out = predictor.outputs[0]
    assert 0.0 <= model_out.probability <= 1.0
    shown = _table_dict(table)["Expansion probability"][0].ToDouble()
    assert shown == pytest.approx(model_out.probability, abs=1e-4)  # table shows 4 decimals
    assert model_out.gradcam is not None, "the bundled model has no CNN: no Grad-CAM"
    np.testing.assert_allclose(slicer.util.arrayFromVolume(heat), model_out.gradcam, atol=1e-6)
    # Re-scoring again re-uses every node.
    again = node_logic.run_on_nodes(node, seg, use_existing_segmentation=True, predictor=predictor,
                                    table_node=table, heatmap_node=heat)
    assert again[2] is table and again[3] is heat
    assert node.GetScene().GetNumberOfNodesByClass("vtkMRMLTableNode") == 1


def test_run_on_nodes_asks_before_replacing_a_user_segmentation(ct_node, predictor):
    node, ct = ct_node
    seg = segments.labels_to_segmentation_node(_labels(ct.shape), node)
    with pytest.raises(segments.SegmentationExistsError):
        node_logic.run_on_nodes(node, seg, predictor=predictor)
    with pytest.raises(segments.SegmentationExistsError):
        node_logic.segment_on_nodes(node, seg)
    assert predictor.calls == []  # refused before any work


def _expansion_stack():
    try:
        sample = importlib.import_module("HematomaExpansionLib.simulation.sample")
        importlib.import_module("HematomaExpansionLib.expansion.predictor")
        node_logic.load_predictor()
    except Exception as exc:  # noqa: BLE001 - any failure means the model side is not ready
        pytest.skip(f"expansion model / sample not available yet ({type(exc).__name__}: {exc})")
    return sample


def test_segment_on_nodes_on_sample(mrml_scene):
    try:
        sample = importlib.import_module("HematomaExpansionLib.simulation.sample")
    except ImportError as exc:
        pytest.skip(f"HematomaExpansionLib.simulation.sample not importable yet: {exc}")
    ct, labels, info = sample.make_sample_case(0)
    node = volumes.volume_node_from_ct(ct, "sample", scene=mrml_scene)
    prediction, seg = node_logic.segment_on_nodes(node, seg_method="classic")
    back = segments.labels_from_segmentation_node(seg, node)
    np.testing.assert_array_equal(back, prediction.mask)
    assert prediction.model is None
    assert prediction.measurements.volume_ml == pytest.approx(info["volume_ml"], rel=0.10)


@pytest.mark.slow
def test_run_on_nodes_end_to_end(mrml_scene):
    sample = _expansion_stack()
    ct, labels, info = sample.make_sample_case(0)
    node = volumes.volume_node_from_ct(ct, "sample", scene=mrml_scene)
    predictor = node_logic.load_predictor()
    prediction, seg, table, heat = node_logic.run_on_nodes(node, predictor=predictor)
    assert segments.segmentation_has_content(seg, only_hemorrhage_segments=True)
    assert prediction.measurements.volume_ml == pytest.approx(info["volume_ml"], rel=0.10)
    rows = _table_dict(table)
    assert 0.0 <= rows["Expansion probability"][0].ToDouble() <= 1.0
    assert rows["Hemorrhage volume (IPH + IVH)"][0].ToDouble() == pytest.approx(prediction.measurements.volume_ml, abs=1e-3)
    json.dumps(prediction.to_json_dict())
    if heat is not None:
        np.testing.assert_allclose(volumes.ijk_to_ras_of(heat), volumes.ijk_to_ras_of(node))
    # Re-score from the (unchanged) segmentation gives the same volume with the same predictor.
    rescored = node_logic.run_on_nodes(node, seg, use_existing_segmentation=True, predictor=predictor)[0]
    assert rescored.measurements.volume_ml == pytest.approx(prediction.measurements.volume_ml, rel=1e-6)


# --- Slicer batch script (same MRML code path) -----------------------------------------------
def _batch_module():
    return importlib.import_module("HematomaExpansionBatch")


def _write_sample(tmp_path, name="good.nii.gz"):
    try:
        sample = importlib.import_module("HematomaExpansionLib.simulation.sample")
    except ImportError as exc:
        pytest.skip(f"HematomaExpansionLib.simulation.sample not importable yet: {exc}")
    import SimpleITK as sitk

    ct, labels, info = sample.make_sample_case(0)
    path = tmp_path / name
    sitk.WriteImage(ct.to_sitk(), str(path))
    return path, info


def _read_csv(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_batch_one_bad_case_never_stops_the_others(mrml_scene, tmp_path, bundled_predictor):
    from HematomaExpansionLib.pipeline.batch import CSV_COLUMNS
    from HematomaExpansionLib.pipeline.batch_inputs import case_id_for

    batch = _batch_module()
    good, info = _write_sample(tmp_path)
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_text("not an image")
    out = tmp_path / "out"
    args = batch.parse_args(["--", str(tmp_path / "missing.nrrd"), str(corrupt), str(good),
                             "--output-dir", str(out), "--method", "classic", "--clinical", "age=70"])
    rows, status = batch.run(args)
    assert status == batch.EXIT_SOME_FAILED
    assert [r["status"] for r in rows] == ["error", "error", "ok"]
    assert "no such file" in rows[0]["error"] and "not a readable image" in rows[1]["error"]
    case_dir = out / case_id_for(good)  # the core runner's case folder: <stem>-<hash of the path>
    assert rows[2]["case_id"] == case_dir.name and case_dir.name.startswith("good-")
    result = json.loads((case_dir / "result.json").read_text())
    assert 0.0 <= result["he_probability"] <= 1.0
    assert result["model_id"] == bundled_predictor.model_id
    assert result["volume_ml"] == pytest.approx(info["volume_ml"], rel=0.10)
    for name in ("mask.nii.gz", "gradcam.nii.gz", "report.html", "segmentation.seg.nrrd", "results.tsv"):
        assert (case_dir / name).stat().st_size > 0, name
    # One CSV schema: the core's (case_id, model_version, mask_source, ...), as written by `hematoma-expansion batch`.
    with open(out / "results.csv", newline="") as f:
        assert f.readline().strip().split(",") == CSV_COLUMNS
    summary = _read_csv(out / "results.csv")
    assert [r["status"] for r in summary] == ["error", "error", "ok"]
    assert float(summary[2]["he_probability"]) == pytest.approx(result["he_probability"], abs=1e-4)
    assert summary[2]["model_version"] == result["model_version"] and summary[2]["mask_source"] == "classic"
    assert (out / "results.json").exists() and (out / "results.html").exists()
    # The results table file is the panel's table for the same result.
    tsv = (case_dir / "results.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == ["Quantity", "Value", "Unit"]
    assert any(line.startswith("Expansion probability\t") for line in tsv)
    # The written segmentation reloads with both segments.
    segs = slicer.vtkSlicerSegmentationsModuleLogic()
    segs.SetMRMLScene(mrml_scene)
    reloaded = segs.LoadSegmentationFromFile(str(case_dir / "segmentation.seg.nrrd"), True, "reloaded")
    assert reloaded is not None and reloaded.GetSegmentation().GetSegment(segments.SEGMENT_IDS[1]) is not None
    # Re-running resumes: the finished case is not recomputed.
    rows_again, _ = batch.run(args)
    assert rows_again[2]["status"] == "ok" and rows_again[2]["seconds"] == 0.0


def test_batch_exit_status_and_usage(mrml_scene, tmp_path):
    batch = _batch_module()
    assert batch.main(["--help"]) == 0
    assert batch.main(["--", str(tmp_path)]) == batch.EXIT_USAGE  # --output-dir missing
    assert batch.main([str(tmp_path / "empty"), "--output-dir", str(tmp_path / "o")]) == batch.EXIT_SOME_FAILED
    assert _read_csv(tmp_path / "o" / "results.csv")[0]["status"] == "error"
    assert batch.main([str(tmp_path), "--output-dir", str(tmp_path / "o"), "--clinical", "age"]) == batch.EXIT_USAGE
    (tmp_path / "nothing").mkdir()
    assert batch.main([str(tmp_path / "nothing"), "--output-dir", str(tmp_path / "o2")]) == batch.EXIT_USAGE
    good, _ = _write_sample(tmp_path)
    assert batch.main([str(good), "--output-dir", str(tmp_path / "ok"), "--method", "classic"]) == batch.EXIT_OK
    assert batch.main([str(good), "--output-dir", str(tmp_path / "nomodel"),
                       "--definition", "no-such-definition"]) == batch.EXIT_USAGE  # no model: nothing runs


def test_batch_segment_only(mrml_scene, tmp_path):
    batch = _batch_module()
    good, _ = _write_sample(tmp_path)
    status = batch.main([str(good), "--output-dir", str(tmp_path / "seg"), "--segment-only", "--method", "classic"])
    assert status == batch.EXIT_OK
    row = _read_csv(tmp_path / "seg" / "results.csv")[0]
    assert row["status"] == "ok" and row["he_probability"] == "" and float(row["volume_ml"]) > 0


# --- the Slicer module's Logic and self-test, with stand-ins for the Qt-only Slicer parts ------
@pytest.fixture
def slicer_module(mrml_scene, monkeypatch):
    """Import HematomaExpansion.py on slicer-core: qt, i18n, parameterNodeWrapper and the
    ScriptedLoadableModule base classes are replaced by minimal stand-ins (the widget is not run)."""
    import sys
    import types
    import unittest

    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, m)
        if name.startswith("slicer."):
            monkeypatch.setattr(slicer, name.split(".", 1)[1], m, raising=False)
        return m

    class Base:
        def __init__(self, *args, **kwargs):
            pass

    class Logic(Base):
        def getParameterNode(self):
            return None

    class Test(unittest.TestCase):
        def delayDisplay(self, message, msec=None):
            pass

    module("qt")
    module("slicer.i18n", tr=lambda text: text, translate=lambda context, text: text)
    module("slicer.parameterNodeWrapper", Choice=lambda choices: ("Choice", tuple(choices)),
           WithinRange=lambda lo, hi: ("WithinRange", lo, hi), parameterNodeWrapper=lambda cls: cls)
    module("slicer.ScriptedLoadableModule", ScriptedLoadableModule=Base, ScriptedLoadableModuleWidget=Base,
           ScriptedLoadableModuleLogic=Logic, ScriptedLoadableModuleTest=Test)
    monkeypatch.delitem(sys.modules, "HematomaExpansion", raising=False)
    mod = importlib.import_module("HematomaExpansion")
    yield mod
    sys.modules.pop("HematomaExpansion", None)


def test_module_logic_self_test_runs_on_slicer_core(slicer_module, monkeypatch, predictor):
    monkeypatch.setattr(slicer_module.HematomaExpansionLogic, "predictor",
                        lambda self, definition=None, modelsFolder="": predictor)
    try:
        importlib.import_module("HematomaExpansionLib.simulation.sample")
    except ImportError as exc:
        pytest.skip(f"HematomaExpansionLib.simulation.sample not importable yet: {exc}")
    test = slicer_module.HematomaExpansionTest()
    test.runTest()  # the same self-test Slicer runs (Reload and Test), with the bundled model
    assert len(predictor.calls) == 2  # predict + re-score; the refused overwrite never reached the model


def test_module_logic_facade(slicer_module, monkeypatch, tmp_path, predictor):
    logic = slicer_module.HematomaExpansionLogic()
    from HematomaExpansionLib.core import dependencies

    monkeypatch.setattr(dependencies, "REQUIREMENTS", (("numpy>=1.0", "numpy"), ("no-such-pkg-hemexp==1.0", "no_such_pkg_hemexp")))
    assert logic.missingDependencies() == ["no-such-pkg-hemexp==1.0"]
    monkeypatch.setattr(logic, "predictor", lambda definition=None, modelsFolder="": predictor)
    path, info = _write_sample(tmp_path, "case_1.nii.gz")
    volume = logic.loadCase(str(path))
    assert volume.GetName() == "case_1"
    prediction, seg = logic.segment(volume, method="classic")
    assert prediction.model is None and predictor.calls == []
    with pytest.raises(segments.SegmentationExistsError):
        logic.process(volume, seg, method="classic")
    prediction, seg2, table, heat = logic.process(volume, seg, useExistingSegmentation=True,
                                                  definition="default", clinicalText="age=80 gcs=9")
    assert seg2 is seg and predictor.calls[0][1] == {"age": 80.0, "gcs": 9.0}
    assert prediction.measurements.volume_ml == pytest.approx(info["volume_ml"], rel=0.10)
    with pytest.raises(HematomaExpansionError):
        logic.process(volume, seg, useExistingSegmentation=True, clinicalText="age:80")


def test_module_logic_uses_a_retrained_models_folder(slicer_module, tmp_path):
    """A model rebuilt on a site's cohort (train --models-dir) is used by the panel when its folder is
    given; the bundled model stays the default; a folder without a model is a clear error."""
    import shutil

    from HematomaExpansionLib.core import config
    from HematomaExpansionLib.training import fit as training

    bundled = config.models_dir()
    entry = json.loads((bundled / "manifest.json").read_text())["models"]["expansion-conventional"]
    site = tmp_path / "site-models"
    (site / "expansion").mkdir(parents=True)
    model = json.loads((bundled / entry["file"]).read_text())
    model["version"] = "9.9.9-site"
    extra = []
    for f in entry.get("extra_files", []):
        shutil.copy(bundled / f["file"], site / f["file"])
        extra.append(site / f["file"])
    training.write_model(model, site, {"cv_auc": 0.5}, extra)

    logic = slicer_module.HematomaExpansionLogic()
    path, _ = _write_sample(tmp_path, "case_2.nii.gz")
    volume = logic.loadCase(str(path))
    prediction, *_ = logic.process(volume, method="classic", modelsFolder=str(site))
    assert prediction.model.model_version == "9.9.9-site"
    assert logic.predictor("default", str(site)) is logic.predictor("default", f" {site} ")  # loaded once
    assert logic.predictor("default").version == entry["version"]  # empty folder: the bundled model
    with pytest.raises(HematomaExpansionError, match="manifest"):
        logic.predictor("default", str(tmp_path / "no-models-here"))
