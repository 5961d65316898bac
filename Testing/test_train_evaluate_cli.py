"""A research group's path: `train` on its own cohort table, then `evaluate` and `predict` with that model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from expansion_fixtures import hematoma_case
from scipy import ndimage as ndi

from HematomaExpansionLib.cli.main import main

N_CASES = 20


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Generated cohort: hypodense hematomas grow by > 33 % at follow-up, homogeneous ones do not
    (so the image features carry the label); baseline + follow-up masks, clinical columns, two scans
    for one patient."""
    d = tmp_path_factory.mktemp("cohort")
    rows = ["case_id,patient_id,baseline_ct,baseline_mask,followup_mask,onset_to_ct_h,anticoagulation"]
    for i in range(N_CASES):
        grows = i % 2 == 1
        ct, labels = hematoma_case(seed=i, radius_mm=7.0 + (i % 5), hypodense=grows)
        follow = ndi.binary_dilation(labels > 0, iterations=2).astype(np.uint8) if grows else labels
        sitk.WriteImage(ct.to_sitk(), str(d / f"ct{i}.nii.gz"))
        sitk.WriteImage(ct.to_sitk(labels), str(d / f"m0_{i}.nii.gz"))
        sitk.WriteImage(ct.to_sitk(follow), str(d / f"m1_{i}.nii.gz"))
        patient = "P0" if i in (0, 2) else f"P{i}"
        rows.append(f"c{i},{patient},ct{i}.nii.gz,m0_{i}.nii.gz,m1_{i}.nii.gz,{1 + i % 7},{'yes' if i % 3 == 0 else 'no'}")
    (d / "cohort.csv").write_text("\n".join(rows) + "\n")
    return d


def test_train_then_evaluate_then_predict_with_the_new_model(cohort, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    models = tmp_path / "models"
    rc = main(["train", str(cohort / "cohort.csv"), "--models-dir", str(models), "--folds", "3", "--quiet",
               "--report-dir", str(tmp_path / "cv"), "--version", "0.1.0", "--k", "5"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["cv_auc"] > 0.8  # the hypodensity features separate growers from non-growers
    report = json.loads((tmp_path / "cv" / "report.json").read_text())
    fusion = report["results"]["fusion model (CV)"]
    for key in ("auc", "auc_ci95", "average_precision", "brier", "calibration_slope", "calibration_intercept",
                "at_threshold", "decision_curve"):
        assert key in fusion, key
    assert report["meta"]["feature_masks"] == "given baseline masks"
    assert report["meta"]["n_patients"] == N_CASES - 1
    manifest = json.loads((models / "manifest.json").read_text())
    entry = manifest["models"]["expansion-conventional"]
    assert entry["version"] == "0.1.0" and entry["metrics"]["cv_auc"] == round(out["cv_auc"], 4)

    rc = main(["evaluate", str(cohort / "cohort.csv"), "--models-dir", str(models), "--quiet",
               "--report-dir", str(tmp_path / "ev")])
    assert rc == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["auc"] > 0.8 and 0 <= ev["brier"] <= 1
    held = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert held["meta"]["model_version"] == "0.1.0"

    from HematomaExpansionLib.segmentation import net as segmentation_net

    if segmentation_net.weights_available():  # end to end: features on the segmenter's masks
        rc = main(["evaluate", str(cohort / "cohort.csv"), "--models-dir", str(models), "--quiet",
                   "--report-dir", str(tmp_path / "ev-auto"), "--mask-source", "auto"])
        assert rc == 0
        capsys.readouterr()
        auto = json.loads((tmp_path / "ev-auto" / "report.json").read_text())
        assert auto["meta"]["feature_masks"].startswith("auto-segmented (net (seg-attn-unet25d")
        assert auto["meta"]["n_cases"] == N_CASES

    monkeypatch.setenv("HEMEXP_MODELS_DIR", str(models))
    rc = main(["predict", str(cohort / "ct1.nii.gz"), "--mask", str(cohort / "m0_1.nii.gz"),
               "--output-dir", str(tmp_path / "p")])
    assert rc == 0
    result = json.loads((tmp_path / "p" / "result.json").read_text())
    assert result["model_version"] == "0.1.0" and result["model_id"] == "expansion-conventional"
    assert 0.0 <= result["he_probability"] <= 1.0
