"""NCCT signs, BAT/BRAIN and pyradiomics extraction on small generated volumes."""

from __future__ import annotations

import numpy as np
import pytest

from expansion_fixtures import hematoma_case
from HematomaExpansionLib import ncct_signs
from HematomaExpansionLib.errors import HematomaExpansionError


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
    sc = ncct_signs.scores(s, 20.0, 0.0, {})
    assert sc["BAT"]["value"] is None and "not computable: missing onset_to_ct_h" in sc["BAT"]["reason"]
    assert sc["BRAIN"]["value"] is None and "missing" in sc["BRAIN"]["reason"]
    sc = ncct_signs.scores(s, 20.0, 0.0, {"onset_to_ct_h": "2"})
    assert sc["BAT"]["value"] == 4  # hypodensity 2 + onset < 2.5 h 2
    assert sc["BRAIN"]["value"] is None and "recurrent_ich" in sc["BRAIN"]["reason"]
    sc = ncct_signs.scores(s, 25.0, 1.0, {"onset_to_ct_h": 0.5, "anticoagulation": "warfarin", "recurrent_ich": "no"})
    assert sc["BRAIN"]["value"] == 2 + 0 + 6 + 2 + 5
    sc = ncct_signs.scores(s, 25.0, 0.0, {"onset_to_ct_h": 6, "anticoagulation": "none", "recurrent_ich": 1})
    assert sc["BRAIN"]["value"] == 2 + 4 + 0 + 0 + 0  # anticoagulation none ⇒ no warfarin


def test_clinical_parsing():
    c = ncct_signs.normalize_clinical({"Onset_to_CT_h": "3.5", "anticoagulation": "apixaban", "prior_ich": "yes"})
    assert c == {"onset_to_ct_h": 3.5, "anticoagulation": True, "warfarin": False, "recurrent_ich": True}
    assert ncct_signs.normalize_clinical({"onset_to_ct_h": "unknown", "warfarin": ""}) == {}
    with pytest.raises(HematomaExpansionError):
        ncct_signs.normalize_clinical({"onset_to_ct_h": "soon"})


def test_radiomics_pyradiomics_names_and_values():
    from HematomaExpansionLib import radiomics_features as rf

    ct, lab = hematoma_case(seed=5, radius_mm=8.0)
    f = rf.extract(ct, lab)
    assert "original_shape_MeshVolume" in f and "original_firstorder_Mean" in f and "original_glcm_Contrast" in f
    assert not any(k.startswith("diagnostics_") for k in f)
    true_ml = lab.sum() * ct.voxel_volume_ml
    assert f["original_shape_VoxelVolume"] / 1000 == pytest.approx(true_ml, rel=0.15)  # resampled to 1 mm
    assert f["original_firstorder_Mean"] == pytest.approx(66, abs=3)


def test_radiomics_selectable_filter_and_bad_filter():
    from HematomaExpansionLib import radiomics_features as rf

    ct, lab = hematoma_case(seed=6, radius_mm=7.0)
    f = rf.extract(ct, lab, filters=("Original", "LoG"))
    assert any(k.startswith("log-sigma-1-0-mm-3D_firstorder_") for k in f)
    with pytest.raises(HematomaExpansionError):
        rf.extract(ct, lab, filters=("Sobel",))


def test_parameter_file_settings():
    from HematomaExpansionLib.radiomics_features import extractor

    ex = extractor()
    assert ex.settings["binWidth"] == 25
    assert list(ex.settings["resampledPixelSpacing"]) == [1, 1, 1]
    assert ex.settings["preCrop"] is True
    assert list(ex.enabledImagetypes) == ["Original"]
