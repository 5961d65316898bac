"""`compare`: baseline vs follow-up CT on simulated pairs with a known growth and a known rigid motion.

The pairs come from ``simulation.followup.make_pair``: the follow-up is the baseline head with the
IPH grown by a known volume (optionally new IVH), moved by a random rigid transform (a few degrees,
a few mm) and resampled onto another grid. The true growth is measured from the true masks on
their own grids; the true transform maps baseline points to follow-up points.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib.anatomy.registration import RegistrationError, register_rigid
from HematomaExpansionLib.anatomy.ventricles import ventricle_mask
from HematomaExpansionLib.cli.main import main
from HematomaExpansionLib.core.ct_image import CTImage
from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH
from HematomaExpansionLib.expansion.labels import DEFINITION_TEXT, DEFINITIONS
from HematomaExpansionLib.io.ct_files import write_labels
from HematomaExpansionLib.outputs.compare_report import compare_html
from HematomaExpansionLib.pipeline.compare import Scan, compare_scans, comparison_document
from HematomaExpansionLib.simulation.followup import grow_labels, make_pair, pair_from_case, registration_error_mm

SMALL = {"shape": (32, 128, 128), "spacing": (3.5, 1.5, 1.5)}


def write_pair(pair, d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    paths = {"b": d / "baseline.nii.gz", "f": d / "followup.nii.gz", "bm": d / "baseline_mask.nii.gz",
             "fm": d / "followup_mask.nii.gz"}
    sitk.WriteImage(pair.baseline.to_sitk(pair.baseline.array.astype(np.int16)), str(paths["b"]))
    sitk.WriteImage(pair.followup.to_sitk(pair.followup.array.astype(np.int16)), str(paths["f"]))
    write_labels(pair.baseline, pair.baseline_labels, paths["bm"])
    write_labels(pair.followup, pair.followup_labels, paths["fm"])
    return paths


@pytest.fixture(scope="module")
def pair():
    # 20 mL + 8 mL (≈ 40 %): expansion under every definition, far from every threshold;
    # the follow-up on a finer grid (2.5 mm slices, 1.1 mm pixels) than the baseline (3 mm, 1.2 mm).
    return make_pair(3, baseline_ml=20.0, growth_ml=8.0, followup_spacing=(2.5, 1.1, 1.1))


@pytest.fixture(scope="module")
def pair_files(pair, tmp_path_factory):
    return write_pair(pair, tmp_path_factory.mktemp("compare"))


@pytest.fixture(scope="module")
def given_run(pair_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare_given")
    p = pair_files
    rc = main(["compare", str(p["b"]), str(p["f"]), "--output-dir", str(out), "--baseline-mask", str(p["bm"]),
               "--followup-mask", str(p["fm"]), "--definition", "large"])
    assert rc == 0
    return out, json.loads((out / "compare.json").read_text())


def test_growth_with_true_masks_is_exact(pair, given_run):
    _, doc = given_run
    t = pair.truth
    assert t.absolute_growth_ml == pytest.approx(8.0, abs=0.6)  # the generator's growth survives the resampling
    assert abs(doc["absolute_growth_ml"] - t.absolute_growth_ml) <= 1e-3
    for key in ("baseline_iph_ml", "followup_iph_ml", "baseline_ivh_ml", "followup_ivh_ml", "ivh_growth_ml"):
        assert doc[key] == pytest.approx(getattr(t, key), abs=1e-3)
    assert doc["relative_growth"] == pytest.approx(t.relative_growth, abs=1e-5)
    assert doc["relative_growth_percent"] == pytest.approx(100 * t.relative_growth, abs=1e-2)
    assert doc["labels"] == t.labels == {d: True for d in DEFINITIONS}
    assert doc["definition"] == "large" and doc["label"] is True


def test_json_fields_and_mask_files(pair, given_run):
    out, doc = given_run
    for key in ("baseline_iph_ml", "followup_iph_ml", "baseline_ivh_ml", "followup_ivh_ml", "absolute_growth_ml",
                "relative_growth", "ivh_growth_ml", "new_ivh", "labels", "definitions", "baseline", "followup",
                "registration", "overlap", "warnings", "outputs", "software", "created"):
        assert key in doc, key
    assert doc["definitions"] == DEFINITION_TEXT and set(doc["labels"]) == set(DEFINITIONS)
    assert doc["baseline"]["mask_source"].startswith("given") and doc["followup"]["mask_source"].startswith("given")
    reg = doc["registration"]
    for key in ("metric", "final_metric", "brain_dice", "rotation_deg", "translation_mm", "translation_norm_mm", "center_mm"):
        assert key in reg, key
    assert reg["brain_dice"] > 0.95 and reg["final_metric"] < 0
    assert doc["overlap"]["baseline_iph_covered_fraction"] > 0.9  # the registered follow-up hematoma covers the baseline's
    assert doc["warnings"] == []
    on_base = sitk.ReadImage(str(out / "followup_mask_on_baseline.nii.gz"))
    assert on_base.GetSize() == pair.baseline.shape[::-1]
    assert np.allclose(on_base.GetOrigin(), pair.baseline.origin)
    own = sitk.ReadImage(str(out / "followup_mask.nii.gz"))
    assert own.GetSize() == pair.followup.shape[::-1] and np.allclose(own.GetSpacing(), pair.followup.spacing)
    assert np.array_equal(sitk.GetArrayFromImage(own), pair.followup_labels)
    base = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "baseline_mask.nii.gz")))
    assert np.array_equal(base, pair.baseline_labels)


def test_report_is_self_contained_with_images(given_run):
    out, _ = given_run
    text = (out / "compare_report.html").read_text()
    assert text.count("data:image/png;base64,") >= 1 and len(text) > 20_000
    assert "http://" not in text and "https://" not in text
    for d in DEFINITIONS:
        assert d in text


def _transform_from_json(reg: dict) -> sitk.Euler3DTransform:
    tx = sitk.Euler3DTransform()
    tx.SetCenter(reg["center_mm"])
    tx.SetRotation(*np.radians(reg["euler_deg"]))
    tx.SetTranslation(reg["translation_mm"])
    return tx


def test_reported_transform_recovers_the_motion(pair, given_run):
    _, doc = given_run
    errors = registration_error_mm(_transform_from_json(doc["registration"]), pair.transform, pair.reference_points)
    assert errors.max() <= 1.0, errors  # hematoma centroid + 8 brain bounding-box corners
    true_angle = np.degrees(np.arccos(np.clip((np.trace(np.reshape(pair.transform.GetMatrix(), (3, 3))) - 1) / 2, -1, 1)))
    assert doc["registration"]["rotation_deg"] == pytest.approx(true_angle, abs=0.5)


def test_registration_error_below_1mm_on_another_motion():
    p = make_pair(11, baseline_ml=15.0, growth_ml=5.0, max_rotation_deg=6.0, max_translation_mm=6.0, **SMALL)
    reg = register_rigid(p.baseline, p.followup)
    errors = registration_error_mm(reg, p.transform, p.reference_points)
    assert errors.mean() <= 1.0 and errors.max() <= 1.5, errors
    assert reg.brain_dice > 0.95 and not reg.warnings


@pytest.mark.parametrize("seed, kw, expected", [
    # 25 mL + 1.5 mL (6 %): no expansion anywhere (IVH unchanged)
    (21, {"baseline_ml": 25.0, "growth_ml": 1.5}, dict.fromkeys(DEFINITIONS, False)),
    # 30 mL + 8.5 mL (≈ 28 %): > 6 mL but < 12.5 mL and < 33 %: conventional/revised yes, large no
    (22, {"baseline_ml": 30.0, "growth_ml": 8.5},
     {"conventional": True, "large": False, "revised1": True, "revised2": True, "revised": True}),
    # no baseline IVH, 25 mL + 1 mL, 2.5 mL of new IVH: only the IVH-aware definitions
    (23, {"baseline_ml": 25.0, "growth_ml": 1.0, "new_ivh_ml": 2.5, "baseline_ivh": False},
     {"conventional": False, "large": False, "revised1": True, "revised2": True, "revised": True}),
])
def test_labels_away_from_thresholds(seed, kw, expected):
    p = make_pair(seed, **kw, **SMALL)
    cmp = compare_scans(Scan(p.baseline, p.baseline_labels, "b", "bm", "given"),
                        Scan(p.followup, p.followup_labels, "f", "fm", "given"))
    assert cmp.figures.labels == p.truth.labels == expected
    assert abs(cmp.figures.absolute_growth_ml - p.truth.absolute_growth_ml) <= 1e-6
    assert cmp.figures.new_ivh is bool(kw.get("new_ivh_ml"))


def test_automatic_followup_iph_in_the_baseline_ventricles_becomes_ivh():
    # the new occipital-horn IVH labelled IPH, as a single-scan segmenter may call a full horn cast
    p = make_pair(23, baseline_ml=25.0, growth_ml=1.0, new_ivh_ml=2.5, baseline_ivh=False, **SMALL)
    misread = np.where(p.followup_labels > 0, LABEL_IPH, 0).astype(np.uint8)
    auto = compare_scans(Scan(p.baseline, p.baseline_labels, "b", None, "auto"), Scan(p.followup, misread, "f", None, "auto"))
    cast_ml = float((p.followup_labels == LABEL_IVH).sum()) * p.followup.voxel_volume_ml
    assert auto.ivh_relabelled_ml == pytest.approx(cast_ml, rel=0.25)
    assert abs(auto.figures.absolute_growth_ml - p.truth.absolute_growth_ml) <= 0.5
    assert auto.figures.new_ivh and auto.figures.labels == p.truth.labels
    assert (auto.followup.labels[misread == 0] == 0).all()  # blood is relabelled, never added
    doc = comparison_document(auto)
    assert doc["ivh_relabelled_ml"] == round(auto.ivh_relabelled_ml, 3) > 0
    assert "counted as IVH" in compare_html(doc, "")
    # a given follow-up mask is measured as it is
    given = compare_scans(Scan(p.baseline, p.baseline_labels, "b", None, "auto"), Scan(p.followup, misread, "f", "fm", "given"))
    assert given.ivh_relabelled_ml == 0.0 and (given.followup.labels == misread).all()
    assert not given.figures.new_ivh and given.figures.absolute_growth_ml > p.truth.absolute_growth_ml + 1.5


def test_an_ivh_speck_on_an_automatic_baseline_does_not_hide_a_new_ivh():
    p = make_pair(23, baseline_ml=25.0, growth_ml=1.0, new_ivh_ml=2.5, baseline_ivh=False, **SMALL)
    speck = p.baseline_labels.copy()
    k, j, i = np.argwhere(p.followup_labels == 0)[0]  # any background voxel: 0.008 mL, far below 0.1 mL
    speck[k, j, i] = LABEL_IVH
    auto = compare_scans(Scan(p.baseline, speck, "b", None, "auto"), Scan(p.followup, p.followup_labels, "f", None, "auto"))
    assert auto.figures.new_ivh and auto.figures.labels["revised1"]
    drawn = compare_scans(Scan(p.baseline, speck, "b", "bm", "given"), Scan(p.followup, p.followup_labels, "f", "fm", "given"))
    assert not drawn.figures.new_ivh  # drawn masks: any IVH is IVH


def _tilted(ct: CTImage, degrees: float) -> CTImage:
    """The same array with its slices tilted about the left-right axis and its rows reversed (a gantry tilt)."""
    a = np.radians(degrees)
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, -np.cos(a), np.sin(a)], [0.0, np.sin(a), np.cos(a)]])
    return CTImage(ct.array, ct.spacing, ct.origin, tilt, ct.source)


def test_inplane_motion_stays_in_the_tilted_slice_plane():
    p = make_pair(5, baseline_ml=15.0, growth_ml=3.0, **SMALL)
    ct = _tilted(p.baseline, 20.0)
    q = pair_from_case(ct, p.baseline_labels, 7, 3.0, motion="in-plane", max_rotation_deg=5.0, max_translation_mm=5.0)
    assert q.followup.spacing == ct.spacing and np.allclose(q.followup.direction, ct.direction)
    normal = ct.direction[:, 2]
    rotation = np.reshape(q.transform.GetMatrix(), (3, 3))
    assert np.allclose(rotation @ normal, normal, atol=1e-9) and not np.allclose(rotation, np.eye(3))
    assert abs(np.dot(q.transform.GetTranslation(), normal)) < 1e-9
    reg = register_rigid(q.baseline, q.followup)
    assert registration_error_mm(reg, q.transform, q.reference_points).mean() <= 1.0
    with pytest.raises(ValueError, match="motion"):
        pair_from_case(ct, p.baseline_labels, 7, 3.0, motion="diagonal")


def test_new_ivh_layers_posteriorly_whatever_the_row_order():
    # rows reversed by the tilt: posterior (LPS +y) is the low row index, where the old code painted anterior
    p = make_pair(23, baseline_ml=25.0, growth_ml=0.0, baseline_ivh=False, **SMALL)
    ct = _tilted(p.baseline, 10.0)
    region = ventricle_mask(ct)
    assert region.sum() * ct.voxel_volume_ml > 3.0
    lab1, new = grow_labels(ct, p.baseline_labels, 0.0, 1.5, np.random.default_rng(0), ivh_region=region)
    m = ct.ijk_to_lps()
    y = lambda mask: (m[:3, :3] @ np.argwhere(mask)[:, ::-1].T.astype(float))[1] + m[1, 3]  # noqa: E731
    assert new.any() and np.median(y(new)) > np.percentile(y(region), 75)


def test_classic_segmentation_end_to_end(pair, pair_files, tmp_path, capsys):
    p = pair_files
    rc = main(["compare", str(p["b"]), str(p["f"]), "-o", str(tmp_path), "--method", "classic"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert doc["baseline"]["mask_source"] == doc["followup"]["mask_source"] == "classic"
    assert abs(doc["absolute_growth_ml"] - pair.truth.absolute_growth_ml) <= 1.5
    assert doc["labels"]["conventional"] is pair.truth.labels["conventional"] is True
    assert summary["absolute_growth_ml"] == doc["absolute_growth_ml"]
    assert (tmp_path / "compare_report.html").exists() and (tmp_path / "followup_mask_on_baseline.nii.gz").exists()


def test_bad_inputs_are_one_clear_line(pair_files, tmp_path, capsys):
    p = pair_files
    assert main(["compare", str(p["b"]), str(tmp_path / "missing.nii.gz"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "missing.nii.gz" in err[0]
    text = tmp_path / "mask.nii.gz"
    text.write_text("not an image")
    assert main(["compare", str(p["b"]), str(p["f"]), "-o", str(tmp_path / "o"), "--baseline-mask", str(p["bm"]),
                 "--followup-mask", str(text)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mask" in err[0]
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["compare", str(p["b"]), str(p["f"]), "-o", str(a_file)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_no_brain_is_a_registration_error(pair):
    air = CTImage(np.full((20, 64, 64), -1000.0), (2.0, 2.0, 5.0), (0.0, 0.0, 0.0))
    with pytest.raises(RegistrationError, match="no brain found"):
        register_rigid(pair.baseline, air)


def test_help_lists_compare(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    out = capsys.readouterr().out
    assert "--baseline-mask" in out and "--followup-mask" in out and "--method" in out
