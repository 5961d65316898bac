"""NCCT signs, BAT/BRAIN and pyradiomics extraction on small generated volumes."""

from __future__ import annotations

import pytest
from expansion_fixtures import hematoma_case

from HematomaExpansionLib.core.errors import HematomaExpansionError
from HematomaExpansionLib.expansion import clinical_scores
from HematomaExpansionLib.features import clinical
from HematomaExpansionLib.features import signs as ncct_signs


def test_plain_hematoma_has_no_signs():
    ct, lab = hematoma_case(seed=1)
    s = ncct_signs.measure_signs(ct, lab)
    assert s["sign_hypodensity"] == 0 and s["sign_blend"] == 0 and s["sign_island_count"] == 0
    assert 60 < s["sign_mean_hu"] < 72
    assert s["sign_heterogeneity_sd"] < 5
    assert 0 <= s["sign_irregularity"] < 0.3


def test_hypodensity_detected():
    ct, lab = hematoma_case(seed=2, hypodense=True)
    s = ncct_signs.measure_signs(ct, lab)
    assert s["sign_hypodensity"] == 1 and s["sign_hypodensity_count"] >= 1
    assert s["sign_heterogeneity_sd"] > ncct_signs.measure_signs(*hematoma_case(seed=2))["sign_heterogeneity_sd"]


def test_small_pocket_shows_in_core_minimum_but_not_count():
    """A pocket below HYPO_MIN_MM3 is not counted, yet lowers the core minimum / deepens the dip."""
    from expansion_fixtures import ball

    plain_ct, lab = hematoma_case(seed=4)
    ct, _ = hematoma_case(seed=4)
    c = tuple(n // 2 for n in ct.array.shape)
    ct.array[ball(ct.array.shape, c, 1.0, (2.5, 1.0, 1.0))] = 40.0  # 5 voxels (12.5 mm³): blurred below the count
    plain, pocket = ncct_signs.measure_signs(plain_ct, lab), ncct_signs.measure_signs(ct, lab)
    assert pocket["sign_hypodensity_count"] == plain["sign_hypodensity_count"] == 0
    assert pocket["sign_core_min_hu"] < plain["sign_core_min_hu"] - 5
    assert pocket["sign_hypodensity_depth_hu"] > plain["sign_hypodensity_depth_hu"] + 5
    assert 55 < plain["sign_core_min_hu"] < 66 and plain["sign_hypodensity_depth_hu"] >= 0


def test_blend_detected():
    ct, lab = hematoma_case(seed=3, blend=True)
    s = ncct_signs.measure_signs(ct, lab)
    assert s["sign_blend"] == 1
    assert s["sign_blend_contrast_hu"] > 15


def test_islands_counted_and_irregular():
    ct, lab = hematoma_case(seed=4, islands=3)
    s = ncct_signs.measure_signs(ct, lab)
    assert s["sign_island_count"] == 3 and s["sign_island_sign"] == 1


def test_scores_missing_inputs_not_guessed():
    ct, lab = hematoma_case(seed=2, hypodense=True)
    s = ncct_signs.measure_signs(ct, lab)
    sc = clinical_scores.scores(s, 20.0, 0.0, {})
    assert sc["BAT"]["value"] is None and "not computable: missing onset_to_ct_h" in sc["BAT"]["reason"]
    assert sc["BRAIN"]["value"] is None and "missing" in sc["BRAIN"]["reason"]
    sc = clinical_scores.scores(s, 20.0, 0.0, {"onset_to_ct_h": "2"})
    assert sc["BAT"]["value"] == 4  # hypodensity 2 + onset < 2.5 h 2
    assert sc["BRAIN"]["value"] is None and "recurrent_ich" in sc["BRAIN"]["reason"]
    sc = clinical_scores.scores(s, 25.0, 1.0, {"onset_to_ct_h": 0.5, "anticoagulation": "warfarin", "recurrent_ich": "no"})
    assert sc["BRAIN"]["value"] == 7 + 0 + 6 + 2 + 5  # 25 mL > 20 mL: 7 points (Wang 2015)
    sc = clinical_scores.scores(s, 25.0, 0.0, {"onset_to_ct_h": 6, "anticoagulation": "none", "recurrent_ich": 1})
    assert sc["BRAIN"]["value"] == 7 + 4 + 0 + 0 + 0  # anticoagulation none ⇒ no warfarin


@pytest.mark.parametrize("volume_ml,points", [(0.0, 0), (9.9, 0), (10.0, 0), (10.01, 5), (20.0, 5), (20.01, 7), (95.0, 7)])
def test_brain_volume_points_as_published(volume_ml, points):
    assert clinical_scores.brain_volume_points(volume_ml) == points


@pytest.mark.parametrize("hours,points", [(0.5, 5), (1.0, 5), (1.01, 4), (2.0, 4), (2.5, 3), (3.0, 3), (4.0, 2),
                                          (4.5, 1), (5.0, 1), (5.01, 0), (12.0, 0)])
def test_brain_hours_points_as_published(hours, points):
    assert clinical_scores.brain_hours_points(hours) == points


def test_brain_worked_example():
    """Worked from the published point table: 15 mL ICH, no recurrence, on warfarin, IVH extension,
    CT at 1.5 h → 5 + 0 + 6 + 2 + 4 = 17 of 24."""
    c = {"onset_to_ct_h": 1.5, "recurrent_ich": False, "warfarin": True, "anticoagulation": True}
    out = clinical_scores.brain_score(15.0, 3.0, c)
    assert out["components"] == {"baseline_volume": 5, "recurrent_ich": 0, "anticoagulation_warfarin": 6,
                                 "ivh_extension": 2, "hours_onset_to_ct": 4}
    assert out["value"] == 17 and out["range"] == [0, 24]


def test_brain_ivh_extension_needs_the_documented_minimum_volume():
    c = {"onset_to_ct_h": 6.0, "recurrent_ich": False, "warfarin": False}
    one_voxel_ml = 0.0005
    assert clinical_scores.brain_score(30.0, one_voxel_ml, c)["components"]["ivh_extension"] == 0
    at_minimum = clinical_scores.brain_score(30.0, clinical_scores.IVH_PRESENT_MIN_ML, c)
    assert at_minimum["components"]["ivh_extension"] == 2


@pytest.mark.parametrize("blend,hypo,hours,value", [
    (0, 0, 3.0, 0), (1, 0, 3.0, 1), (0, 1, 3.0, 2), (1, 1, 3.0, 3), (0, 0, 2.0, 2), (1, 1, 2.49, 5),
    (1, 1, 2.5, 3),  # onset-to-CT must be < 2.5 h: exactly 2.5 h scores 0 (Morotti 2018)
])
def test_bat_worked_examples(blend, hypo, hours, value):
    out = clinical_scores.bat_score({"sign_blend": float(blend), "sign_hypodensity": float(hypo)}, {"onset_to_ct_h": hours})
    assert out["value"] == value and out["high_risk"] is (value >= 3)


def test_clinical_parsing():
    c = clinical.normalize_clinical({"Onset_to_CT_h": "3.5", "anticoagulation": "apixaban", "prior_ich": "yes"})
    assert c == {"onset_to_ct_h": 3.5, "anticoagulation": True, "warfarin": False, "recurrent_ich": True}
    assert clinical.normalize_clinical({"onset_to_ct_h": "unknown", "warfarin": ""}) == {}
    with pytest.raises(HematomaExpansionError):
        clinical.normalize_clinical({"onset_to_ct_h": "soon"})


def test_radiomics_pyradiomics_names_and_values():
    from HematomaExpansionLib.features import radiomics as rf

    ct, lab = hematoma_case(seed=5, radius_mm=8.0)
    f = rf.extract(ct, lab)
    assert "original_shape_MeshVolume" in f and "original_firstorder_Mean" in f and "original_glcm_Contrast" in f
    assert not any(k.startswith("diagnostics_") for k in f)
    true_ml = lab.sum() * ct.voxel_volume_ml
    assert f["original_shape_VoxelVolume"] / 1000 == pytest.approx(true_ml, rel=0.15)  # resampled to 1 mm
    assert f["original_firstorder_Mean"] == pytest.approx(66, abs=3)


def test_radiomics_selectable_filter_and_bad_filter():
    from HematomaExpansionLib.features import radiomics as rf

    ct, lab = hematoma_case(seed=6, radius_mm=7.0)
    f = rf.extract(ct, lab, filters=("Original", "LoG"))
    assert any(k.startswith("log-sigma-1-0-mm-3D_firstorder_") for k in f)
    with pytest.raises(HematomaExpansionError):
        rf.extract(ct, lab, filters=("Sobel",))


def test_parameter_file_settings():
    from HematomaExpansionLib.features.radiomics import extractor

    ex = extractor()
    assert ex.settings["binWidth"] == 25
    assert list(ex.settings["resampledPixelSpacing"]) == [1, 1, 1]
    assert ex.settings["preCrop"] is True
    assert list(ex.enabledImagetypes) == ["Original"]
