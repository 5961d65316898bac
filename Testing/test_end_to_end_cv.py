"""End-to-end cross-validation (`train --end-to-end`, `evaluate --cv --end-to-end`): a model fitted on the given
masks, each left-out fold also scored on features measured on the bundled segmenter's masks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from test_train_evaluate_cli import cohort  # noqa: F401  (the generated cohort fixture)

from HematomaExpansionLib.cli.main import main
from HematomaExpansionLib.training.cohort import Case
from HematomaExpansionLib.training.cv import cross_validate
from HematomaExpansionLib.training.fit import DEFAULT_CLF
from HematomaExpansionLib.training.metrics import auc


def _table(n: int = 160, seed: int = 0):
    rng = np.random.default_rng(seed)
    sign = rng.normal(size=n)
    y = (sign + 0.5 * rng.normal(size=n) > 0.3).astype(int)
    cases = [Case(f"c{i}", f"P{i // 2}", Path(f"ct{i}.nii.gz"), None, None, int(t)) for i, t in enumerate(y)]
    feats = [{"volume_iph_ml": float(v), "sign": float(s), "noise": float(e)}
             for v, s, e in zip(rng.uniform(2, 40, n), sign, rng.normal(size=n))]
    return cases, feats, y


def test_each_fold_is_scored_on_the_other_features_by_the_model_fitted_on_the_given_ones():
    cases, feats, y = _table()
    same = cross_validate(cases, feats, y, dict(DEFAULT_CLF), k=4, progress=False, eval_feats=feats)
    assert np.array_equal(same["oof_eval"], same["oof"]) and np.array_equal(same["oof_volume_eval"], same["oof_volume"])
    rng = np.random.default_rng(1)
    blurred = [dict(f, sign=f["sign"] + 1.5 * rng.normal()) for f in feats]  # a mask that measures the sign badly
    cv = cross_validate(cases, feats, y, dict(DEFAULT_CLF), k=4, progress=False, eval_feats=blurred)
    assert np.array_equal(cv["oof"], same["oof"])  # the fits only ever see the given features
    assert auc(y, cv["oof_eval"]) < auc(y, cv["oof"]) - 0.05
    assert cross_validate(cases, feats, y, dict(DEFAULT_CLF), k=4, progress=False)["oof_eval"] is None
    with pytest.raises(ValueError, match="one feature row per case"):
        cross_validate(cases, feats, y, dict(DEFAULT_CLF), k=4, progress=False, eval_feats=feats[:-1])


def test_train_end_to_end_reports_the_segmenters_masks_beside_the_given_ones(cohort, tmp_path, monkeypatch, capsys):  # noqa: F811
    from HematomaExpansionLib.segmentation import net as segmentation_net

    if not segmentation_net.weights_available():
        pytest.skip("bundled segmentation weights not found (models/manifest.json)")
    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    rc = main(["train", str(cohort / "cohort.csv"), "--no-save", "--folds", "3", "--quiet", "--k", "5",
               "--outcome", "growth", "--end-to-end", "--report-dir", str(tmp_path / "cv")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    report = json.loads((tmp_path / "cv" / "report.json").read_text())
    row = report["results"]["fusion model (CV, scored on the segmenter's masks)"]
    assert row["auc"] == pytest.approx(out["cv_auc_segmenter_masks"])
    assert "volume only (CV, scored on the segmenter's masks)" in report["results"]
    assert report["meta"]["end_to_end"].startswith("each left-out fold also scored on the segmenter's masks: auto-segmented (net")
    with open(tmp_path / "cv" / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    probs = np.array([float(r["probability_segmenter_masks"]) for r in rows])
    assert len(rows) == 20 and np.all((probs >= 0) & (probs <= 1))
    # this fixture's hypodense (growing) clots lose their hypodense part to the segmenter: the row shows it
    assert not np.allclose(probs, [float(r["probability"]) for r in rows])

    rc = main(["evaluate", str(cohort / "cohort.csv"), "--cv", "--folds", "3", "--quiet", "--outcome", "growth",
               "--end-to-end", "--report-dir", str(tmp_path / "ev-cv")])
    assert rc == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= ev["cv_auc_segmenter_masks"] <= 1.0
    assert json.loads((tmp_path / "ev-cv" / "report.json").read_text())["meta"]["outcome"] == "growth"


def test_end_to_end_needs_given_masks_and_cross_validation(cohort, tmp_path, capsys):  # noqa: F811
    rc = main(["train", str(cohort / "cohort.csv"), "--no-save", "--quiet", "--mask-source", "auto", "--end-to-end",
               "--report-dir", str(tmp_path / "cv")])
    assert rc != 0 and "already come from the segmenter" in capsys.readouterr().err
    rc = main(["evaluate", str(cohort / "cohort.csv"), "--quiet", "--end-to-end", "--report-dir", str(tmp_path / "ev")])
    assert rc != 0 and "apply to --cv" in capsys.readouterr().err


def test_deep_features_of_the_segmenters_view_come_from_the_same_out_of_fold_networks(cohort, tmp_path, monkeypatch):  # noqa: F811
    from HematomaExpansionLib.features.deep import deep_names
    from HematomaExpansionLib.training.cnn import add_oof_deep_features
    from HematomaExpansionLib.training.cohort import read_cohort

    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    cases = read_cohort(cohort / "cohort.csv")
    y = np.array([i % 2 for i in range(len(cases))])
    feats = [{"volume_iph_ml": 1.0} for _ in cases]
    new, info = add_oof_deep_features(cases, feats, y, epochs=1, progress=False, eval_cases=cases, eval_feats=feats)
    deep = np.array([[f[n] for n in deep_names()] for f in new])
    again = np.array([[f[n] for n in deep_names()] for f in info["eval_feats"]])
    assert np.array_equal(deep, again) and np.abs(deep).sum() > 0  # the same cases through the same fold networks
    assert info["eval_feats"][0]["volume_iph_ml"] == 1.0
    assert add_oof_deep_features(cases, feats, y, epochs=1, progress=False)[1]["eval_feats"] is None


def test_excluded_features_are_neither_cross_validated_nor_fitted(cohort, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    models = tmp_path / "models"
    gone = ["sign_core_min_hu", "sign_hypodensity_depth_hu"]
    rc = main(["train", str(cohort / "cohort.csv"), "--models-dir", str(models), "--folds", "3", "--quiet", "--k", "5",
               "--outcome", "growth", "--exclude-features", *gone, "--report-dir", str(tmp_path / "cv")])
    assert rc == 0
    capsys.readouterr()
    model = json.loads((models / "expansion" / "expansion-conventional.json").read_text())
    for variant in model["variants"].values():
        assert "volume_iph_ml" in variant["feature_names"] and not set(gone) & set(variant["feature_names"])
    assert model["training"]["excluded_features"] == sorted(gone)
    assert json.loads((tmp_path / "cv" / "report.json").read_text())["meta"]["excluded_features"] == sorted(gone)
    for bad, why in ((["sign_core_min"], "no image feature named sign_core_min"),
                     (["volume_iph_ml"], "volume_iph_ml cannot be excluded")):
        rc = main(["train", str(cohort / "cohort.csv"), "--no-save", "--quiet", "--exclude-features", *bad,
                   "--report-dir", str(tmp_path / "cv2")])
        assert rc != 0 and why in capsys.readouterr().err
