"""A research group's path: `train` on its own cohort table, then `evaluate` and `predict` with that model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from expansion_fixtures import hematoma_case
from scipy import ndimage as ndi

from HematomaExpansionLib.cli.main import main
from HematomaExpansionLib.features.case_features import FEATURE_VERSION

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


def _predictions(report_dir) -> list[dict[str, str]]:
    import csv

    with open(report_dir / "predictions.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _auc(rows) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([int(r["label"]) for r in rows], [float(r["probability"]) for r in rows]))


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
    oof = _predictions(tmp_path / "cv")
    assert out["predictions_csv"] == str(tmp_path / "cv" / "predictions.csv")
    assert len(oof) == N_CASES and {r["case_id"] for r in oof} == {f"c{i}" for i in range(N_CASES)}
    assert _auc(oof) == pytest.approx(fusion["auc"], abs=1e-4)  # the out-of-fold scores behind the report
    folds = {r["patient_id"]: r["fold"] for r in oof if r["patient_id"] == "P0"}
    assert len(folds) == 1  # one patient's scans score in one fold
    manifest = json.loads((models / "manifest.json").read_text())
    entry = manifest["models"]["expansion-conventional"]
    assert entry["version"] == "0.1.0" and entry["metrics"]["cv_auc"] == round(out["cv_auc"], 4)

    rc = main(["evaluate", str(cohort / "cohort.csv"), "--models-dir", str(models), "--quiet",
               "--report-dir", str(tmp_path / "ev")])
    assert rc == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["auc"] > 0.8 and 0 <= ev["brier"] <= 1
    held = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert held["meta"]["model_version"] == "0.1.0" and held["meta"]["feature_version"] == FEATURE_VERSION
    rows = _predictions(tmp_path / "ev")
    assert ev["predictions_csv"] == str(tmp_path / "ev" / "predictions.csv") and len(rows) == N_CASES
    assert _auc(rows) == pytest.approx(ev["auc"], abs=1e-4)
    assert all(r["variant"] == "full" and r["volume_only_probability"] != "" for r in rows)

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
    assert result["feature_version"] == FEATURE_VERSION
    assert 0.0 <= result["he_probability"] <= 1.0


# --- follow-up CTs in the cohort table: train/evaluate label the rows themselves ------------------
# on a 20 mL baseline: 5 %, 55 %, 10 %, 70 %, 2.5 %, 60 %, 15 %, 80 %: far from every threshold
FOLLOWUP_GROWTH_ML = (1.0, 11.0, 2.0, 14.0, 0.5, 12.0, 3.0, 16.0)


@pytest.fixture(scope="module")
def followup_cohort(tmp_path_factory):
    """Simulated pairs (one baseline head, IPH grown by a known volume, moved and resampled): rows give
    only baseline_ct + followup_ct; plus a row with a label (its follow-up CT is garbage and never read),
    an unreadable follow-up CT and a missing one."""
    from HematomaExpansionLib.simulation.followup import make_pair

    d = tmp_path_factory.mktemp("followup_cohort")
    rows, truth = ["case_id,baseline_ct,followup_ct,label"], {}
    for i, growth in enumerate(FOLLOWUP_GROWTH_ML):
        pair = make_pair(3, baseline_ml=20.0, growth_ml=growth, shape=(32, 128, 128), spacing=(3.5, 1.5, 1.5))
        if i == 0:
            sitk.WriteImage(pair.baseline.to_sitk(pair.baseline.array.astype(np.int16)), str(d / "b.nii.gz"))
        sitk.WriteImage(pair.followup.to_sitk(pair.followup.array.astype(np.int16)), str(d / f"f{i}.nii.gz"))
        rows.append(f"g{i},b.nii.gz,f{i}.nii.gz,")
        truth[f"g{i}"] = pair.truth
    (d / "garbage.nii.gz").write_text("not an image")
    rows += ["lab,b.nii.gz,garbage.nii.gz,0", "bad,b.nii.gz,garbage.nii.gz,", "gone,b.nii.gz,missing.nii.gz,"]
    (d / "cohort.csv").write_text("\n".join(rows) + "\n")
    return d, truth


@pytest.mark.filterwarnings("ignore:Features .* are constant")  # one baseline CT for every row: equal features
def test_followup_ct_rows_are_labelled_from_their_segmentation(followup_cohort, tmp_path, monkeypatch, capsys):
    from HematomaExpansionLib.training import feature_cache
    from HematomaExpansionLib.training.cohort import read_cohort
    from HematomaExpansionLib.training.followup_labels import followup_volumes, label_cohort

    d, truth = followup_cohort
    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HEMEXP_MODELS_DIR", str(tmp_path / "models"))  # no bundled net: the fast classic segmenter
    calls = []
    real_segment = feature_cache.segment
    monkeypatch.setattr(feature_cache, "segment", lambda ct, method="auto": calls.append(ct.source) or real_segment(ct, method))

    rc = main(["train", str(d / "cohort.csv"), "--folds", "2", "--k", "3", "--selection", "kbest", "--no-save", "--quiet",
               "--report-dir", str(tmp_path / "cv")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_cases"] == len(FOLLOWUP_GROWTH_ML) + 1 and out["skipped"] == 2
    assert len(calls) == 1 + len(FOLLOWUP_GROWTH_ML)  # the baseline once (shared file), each follow-up once
    meta = json.loads((tmp_path / "cv" / "report.json").read_text())["meta"]
    assert {s["case_id"] for s in meta["skipped_cases"]} == {"bad", "gone"}
    assert any("missing.nii.gz" in s["reason"] for s in meta["skipped_cases"])
    assert meta["labels_from"] == {"label column": 1, "follow-up CT (auto-segmented: classic)": len(FOLLOWUP_GROWTH_ML)}
    assert meta["n_expanding"] == sum(t.labels["conventional"] for t in truth.values()) == 4

    for definition in ("conventional", "large", "revised2"):  # the known growth decides every definition here
        labelled = label_cohort(read_cohort(d / "cohort.csv"), definition, progress=False)
        got = dict(zip([c.case_id for c in labelled.cases], labelled.labels.tolist()))
        assert got == {"lab": 0, **{k: int(t.labels[definition]) for k, t in truth.items()}}, definition
    assert len(calls) == 1 + len(FOLLOWUP_GROWTH_ML)  # reruns: volumes and masks come from the cache
    for case in read_cohort(d / "cohort.csv"):
        if case.case_id not in truth:
            continue
        iph, _ = followup_volumes(case)
        assert iph == pytest.approx(truth[case.case_id].followup_iph_ml, abs=3.0)  # classic segmenter, small phantom
    cached = [json.loads(f.read_text()) for f in (tmp_path / "cache" / "followup").glob("*.json")]
    assert len(cached) == len(FOLLOWUP_GROWTH_ML)  # made consistent with the baseline as compare does
    assert all(c["baseline"]["ct"] and "ivh_relabelled_ml" in c for c in cached)


def test_explicit_labels_and_followup_masks_win_over_a_followup_ct(tmp_path, monkeypatch):
    from expansion_fixtures import hematoma_case

    from HematomaExpansionLib.core.errors import CohortError
    from HematomaExpansionLib.training.cohort import read_cohort
    from HematomaExpansionLib.training.followup_labels import label_cohort

    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    ct, labels = hematoma_case(seed=0, radius_mm=8.0)
    grown = ndi.binary_dilation(labels > 0, iterations=3).astype(np.uint8)
    sitk.WriteImage(ct.to_sitk(), str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(ct.to_sitk(labels), str(tmp_path / "m0.nii.gz"))
    sitk.WriteImage(ct.to_sitk(grown), str(tmp_path / "m1.nii.gz"))
    (tmp_path / "cohort.csv").write_text("case_id,baseline_ct,baseline_mask,followup_mask,label,followup_ct\n"
                                         "masks,ct.nii.gz,m0.nii.gz,m1.nii.gz,,none.nii.gz\n"
                                         "label,ct.nii.gz,m0.nii.gz,,1,none.nii.gz\n")
    labelled = label_cohort(read_cohort(tmp_path / "cohort.csv"), "conventional", progress=False)
    assert labelled.labels.tolist() == [1, 1] and not labelled.skipped
    assert labelled.sources == {"follow-up mask": 1, "label column": 1}
    (tmp_path / "only_bad.csv").write_text("baseline_ct,followup_ct\nct.nii.gz,none.nii.gz\n")
    with pytest.raises(CohortError, match="all 1 rows were skipped"):
        label_cohort(read_cohort(tmp_path / "only_bad.csv"), "conventional", progress=False)


def test_help_documents_the_followup_ct_column(capsys):
    for command in ("train", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "followup_ct" in capsys.readouterr().out
