"""mrml.followup.compare_followup on a real slicer-core scene, with a simulated pair of known motion and growth.

The pair (``simulation.followup.make_pair``): the baseline phantom, its IPH grown by 10 mL (20 → 30 mL,
≈ 50 %: expansion under every definition), the head moved by a random rigid transform of a few degrees
and mm and resampled onto another grid. The true transform maps baseline LPS points to follow-up points.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from mrml_fixtures import fresh_scene, slicer  # skips the module without slicer-core

from HematomaExpansionLib.expansion.labels import DEFINITIONS
from HematomaExpansionLib.mrml import followup as mrml_followup
from HematomaExpansionLib.mrml.segments import labels_from_segmentation_node, labels_to_segmentation_node, segment_terminology
from HematomaExpansionLib.mrml.volumes import volume_node_from_ct
from HematomaExpansionLib.simulation.followup import make_pair

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@pytest.fixture
def mrml_scene(monkeypatch):
    yield from fresh_scene(monkeypatch)


@pytest.fixture(scope="module")
def pair():
    return make_pair(5, baseline_ml=20.0, growth_ml=10.0, shape=(32, 128, 128), spacing=(3.5, 1.5, 1.5),
                     followup_spacing=(3.0, 1.3, 1.3))


@pytest.fixture
def nodes(mrml_scene, pair):
    baseline = volume_node_from_ct(pair.baseline, "Baseline CT", scene=mrml_scene)
    followup = volume_node_from_ct(pair.followup, "Follow-up CT", scene=mrml_scene)
    return baseline, followup


def table_values(table_node) -> dict[str, str]:
    table = table_node.GetTable()
    return {table.GetValue(r, 0).ToString(): table.GetValue(r, 1).ToString() for r in range(table.GetNumberOfRows())}


def snapshot(segmentation_node, volume_node):
    segmentation = segmentation_node.GetSegmentation()
    segments = [(sid, segmentation.GetSegment(sid).GetName(), segment_terminology(segmentation.GetSegment(sid)))
                for sid in segmentation.GetSegmentIDs()]
    return labels_from_segmentation_node(segmentation_node, volume_node), segments, segmentation_node.GetName()


def assert_table_matches(table_node, doc):
    values = table_values(table_node)
    assert table_node.GetName() == "Growth"
    for quantity, key in (("IPH volume, baseline", "baseline_iph_ml"), ("IPH volume, follow-up", "followup_iph_ml"),
                          ("IPH growth, absolute", "absolute_growth_ml"), ("IVH volume, baseline", "baseline_ivh_ml"),
                          ("IVH volume, follow-up", "followup_ivh_ml"), ("IVH growth", "ivh_growth_ml"),
                          ("IPH growth, relative", "relative_growth_percent")):
        assert float(values[quantity]) == pytest.approx(doc[key], abs=6e-3), quantity
    assert values["New IVH"] == ("yes" if doc["new_ivh"] else "no")
    assert float(values["Registration: brain Dice"]) == pytest.approx(doc["registration"]["brain_dice"], abs=1e-3)
    assert float(values["Registration: rotation"]) == pytest.approx(doc["registration"]["rotation_deg"], abs=6e-3)
    assert float(values["Registration: translation"]) == pytest.approx(doc["registration"]["translation_norm_mm"], abs=6e-3)
    for d in DEFINITIONS:
        row = next(k for k in values if k.startswith(f"Expansion, {d} ("))
        assert values[row] == ("yes" if doc["labels"][d] else "no"), d


def transform_error_mm(transform_node, pair) -> np.ndarray:
    """|recovered − true| follow-up point of each reference point, through the node's from-parent matrix."""
    matrix = slicer.util.arrayFromVTKMatrix(transform_node.GetMatrixTransformFromParent())
    errors = []
    for p in pair.reference_points:
        ras = matrix[:3, :3] @ (LPS_TO_RAS @ p) + matrix[:3, 3]
        errors.append(np.linalg.norm(LPS_TO_RAS @ ras - np.array(pair.transform.TransformPoint(tuple(map(float, p))))))
    return np.array(errors)


def test_given_segmentations_are_measured_and_left_untouched(mrml_scene, nodes, pair, tmp_path):
    baseline, followup = nodes
    seg0 = labels_to_segmentation_node(pair.baseline_labels, baseline)
    seg1 = labels_to_segmentation_node(pair.followup_labels, followup)
    before = [snapshot(seg0, baseline), snapshot(seg1, followup)]

    out = mrml_followup.compare_followup(baseline, followup, seg0, seg1, output_dir=tmp_path)
    doc, t = out["result"], pair.truth
    assert doc["absolute_growth_ml"] == pytest.approx(t.absolute_growth_ml, abs=1e-3)
    assert doc["followup_ivh_ml"] == pytest.approx(t.followup_ivh_ml, abs=1e-3)
    assert doc["labels"] == t.labels == dict.fromkeys(DEFINITIONS, True)
    assert doc["baseline"]["mask_source"] == f"given ({seg0.GetName()})"
    assert json.loads((tmp_path / "compare.json").read_text())["labels"] == doc["labels"]
    assert_table_matches(out["table_node"], doc)

    errors = transform_error_mm(out["transform_node"], pair)
    assert errors.max() <= 1.0, errors  # hematoma centroid + 8 brain bounding-box corners
    assert followup.GetTransformNodeID() == out["transform_node"].GetID()
    assert seg1.GetTransformNodeID() == out["transform_node"].GetID()  # the follow-up's segmentation moved with it
    assert baseline.GetTransformNodeID() is None and seg0.GetTransformNodeID() is None

    assert out["followup_segmentation_node"] is seg1
    assert mrml_scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 2  # no new segmentation node
    after = [snapshot(seg0, baseline), snapshot(seg1, followup)]
    for (labels_b, segs_b, name_b), (labels_a, segs_a, name_a) in zip(before, after):
        assert np.array_equal(labels_b, labels_a) and segs_b == segs_a and name_b == name_a


def test_automatic_followup_segmentation_is_updated_but_never_an_edited_one(mrml_scene, nodes, pair, tmp_path, monkeypatch):
    monkeypatch.setenv("HEMEXP_MODELS_DIR", str(tmp_path / "no-models"))  # no bundled net: the fast classic segmenter
    baseline, followup = nodes
    seg0 = labels_to_segmentation_node(pair.baseline_labels, baseline)

    first = mrml_followup.compare_followup(baseline, followup, seg0)
    seg1 = first["followup_segmentation_node"]
    assert seg1.GetName() == "Follow-up CT hemorrhage" and first["result"]["followup"]["mask_source"] == "classic"
    ours = seg1.GetSegmentation()
    theirs = seg0.GetSegmentation()
    assert ours.GetNumberOfSegments() == 2
    for sid in theirs.GetSegmentIDs():  # same segment ids, names and terminology as the baseline's
        assert ours.GetSegment(sid).GetName() == theirs.GetSegment(sid).GetName()
        assert segment_terminology(ours.GetSegment(sid)) == segment_terminology(theirs.GetSegment(sid)) != ""
    assert seg1.GetTransformNodeID() == first["transform_node"].GetID()
    assert_table_matches(first["table_node"], first["result"])
    assert abs(first["result"]["absolute_growth_ml"] - pair.truth.absolute_growth_ml) <= 3.0  # classic masks

    second = mrml_followup.compare_followup(baseline, followup, seg0)
    for key in ("table_node", "followup_segmentation_node", "transform_node"):
        assert second[key] is first[key], key  # the earlier nodes are updated, none added
    assert mrml_scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 1
    assert mrml_scene.GetNumberOfNodesByClass("vtkMRMLLinearTransformNode") == 1

    edited = labels_from_segmentation_node(seg1, followup)
    edited[edited == 1] = 0  # the user erases the IPH in Segment Editor
    labels_to_segmentation_node(edited, followup, seg1, overwrite=True)
    third = mrml_followup.compare_followup(baseline, followup, seg0)
    assert third["followup_segmentation_node"] is not seg1
    assert np.array_equal(labels_from_segmentation_node(seg1, followup), edited)  # the edit is kept
    assert any("was edited" in w for w in third["result"]["warnings"])
    assert third["table_node"] is first["table_node"]

    stale = snapshot(seg0, baseline)  # a panel selection left over: the baseline's segmentation as the follow-up's
    fourth = mrml_followup.compare_followup(baseline, followup, seg0, followup_segmentation_node=seg0)
    assert fourth["followup_segmentation_node"] is not seg0
    assert any("made for another CT" in w for w in fourth["result"]["warnings"])
    assert fourth["result"]["followup"]["mask_source"] == "classic"
    after = snapshot(seg0, baseline)
    assert np.array_equal(stale[0], after[0]) and stale[1:] == after[1:] and seg0.GetTransformNodeID() is None
