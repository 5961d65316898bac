"""The growth classifier: expansion read from a regression of how much the hematoma grows, through each
definition's own threshold (expansion/growth_classifier.py), and `train --outcome growth` on a cohort table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_train_evaluate_cli import cohort  # noqa: F401  (the generated cohort fixture)

from HematomaExpansionLib.cli.main import main
from HematomaExpansionLib.expansion import growth_classifier as gm
from HematomaExpansionLib.expansion.classifier import FusionClassifier
from HematomaExpansionLib.expansion.labels import label_from_volumes
from HematomaExpansionLib.training.metrics import auc

NAMES = ["sign_a", "sign_b", "noise", "volume_iph_ml", "ivh_hint"]


def _cohort(n: int, seed: int):
    """Log relative growth driven by two signs; V0 from 2 to 80 mL; labels from the growth itself, as the
    definitions measure it; a new IVH more likely with ``ivh_hint``."""
    rng = np.random.default_rng(seed)
    a, b, noise, hint = rng.normal(size=(4, n))
    v0 = np.exp(rng.uniform(np.log(2), np.log(80), n))
    g = -2.2 + 1.0 * a + 0.6 * b + 0.6 * rng.normal(size=n)
    v1 = v0 * (1 + np.exp(g))
    new_ivh = rng.random(n) < 1 / (1 + np.exp(-(-2.0 + 1.5 * hint)))
    figures = [label_from_volumes(x0, x1, 0.0, 1.0 if e else 0.0) for x0, x1, e in zip(v0, v1, new_ivh)]
    X = np.column_stack([a, b, noise, v0, hint])
    outcomes = gm.GrowthOutcomes(np.array([gm.log_relative_growth(x0, x1) for x0, x1 in zip(v0, v1)]),
                                 new_ivh.astype(int))
    labels = {d: np.array([f.labels[d] for f in figures], int) for d in ("conventional", "large", "revised1")}
    return X, outcomes, labels


def test_outcome_and_threshold_follow_the_definitions():
    assert gm.log_relative_growth(10.0, 15.0) == pytest.approx(math.log(0.5))
    assert gm.log_relative_growth(10.0, 8.0) == pytest.approx(math.log(gm.MIN_RELATIVE_GROWTH))  # shrinking: the floor
    with pytest.raises(ValueError, match="baseline IPH"):
        gm.log_relative_growth(0.0, 3.0)
    # 33 % below 18 mL (6 / 0.33), the 6 mL absolute criterion above it; 12.5 mL for `large`
    np.testing.assert_allclose(np.exp(gm.log_growth_threshold("conventional", np.array([10.0, 30.0]))), [0.33, 0.2])
    np.testing.assert_allclose(np.exp(gm.log_growth_threshold("large", np.array([30.0, 50.0]))), [0.33, 0.25])


def test_growth_classifier_learns_growth_and_reads_it_through_the_threshold():
    X, out, labels = _cohort(400, 0)
    Xt, out_t, labels_t = _cohort(2000, 1)
    y, yt = labels["conventional"], labels_t["conventional"]
    clf = gm.GrowthClassifier("conventional", k=4).fit(X, y, NAMES, gm.GrowthOutcomes(out.log_growth))
    assert clf.ivh is None and clf.sigma == pytest.approx(0.6, abs=0.15)
    assert np.corrcoef(clf.predicted_log_growth(Xt), out_t.log_growth)[0, 1] > 0.8
    p = clf.predict_proba(Xt)
    assert auc(yt, p) > 0.85
    assert abs(p.mean() - yt.mean()) < 0.03  # calibrated on out-of-fold values
    # the same predicted growth is expansion more often on a large clot: 6 mL is then less than 33 %
    small, large = Xt[0].copy(), Xt[0].copy()
    small[3], large[3] = 10.0, 60.0
    assert clf.predict_proba(large)[0] > clf.predict_proba(small)[0]
    top = clf.contributions(dict(zip(NAMES, [2.5, 0.0, 0.0, 20.0, 0.0])))[0]
    assert top[0] == "sign_a" and top[2] > 0
    # learning from how much each clot grew beats learning from which side of 33 % / 6 mL it fell on
    fusion = FusionClassifier(selection="none", model="logistic", C=1.0).fit(X[:120], y[:120], NAMES)
    growth = gm.GrowthClassifier("conventional", k=4).fit(X[:120], y[:120], NAMES, gm.GrowthOutcomes(out.log_growth[:120]))
    assert auc(yt, growth.predict_proba(Xt)) > auc(yt, fusion.predict_proba(Xt))


def test_revised_definition_adds_its_ivh_event():
    X, out, labels = _cohort(500, 2)
    Xt, _, labels_t = _cohort(2000, 3)
    with pytest.raises(ValueError, match="IVH event"):
        gm.GrowthClassifier("revised1").fit(X, labels["revised1"], NAMES, gm.GrowthOutcomes(out.log_growth))
    clf = gm.GrowthClassifier("revised1", k=4).fit(X, labels["revised1"], NAMES, out)
    assert clf.ivh is not None and "ivh_hint" in clf.ivh.selected_names
    assert "ivh_hint" in clf.weighted_names() and "sign_a" in clf.weighted_names()
    assert auc(labels_t["revised1"], clf.predict_proba(Xt)) > 0.8
    lo, hi = Xt[0].copy(), Xt[0].copy()
    lo[4], hi[4] = -2.0, 2.0
    assert clf.predict_proba(hi)[0] > clf.predict_proba(lo)[0]


def test_parameters_are_plain_json_and_read_back_exactly():
    X, out, labels = _cohort(300, 4)
    clf = gm.GrowthClassifier("revised1", k=4).fit(X, labels["revised1"], NAMES, out)
    d = json.loads(json.dumps(clf.to_dict()))
    back = gm.classifier_from_dict(d)
    assert isinstance(back, gm.GrowthClassifier)
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-12)
    fusion = FusionClassifier(selection="none", model="logistic").fit(X, labels["conventional"], NAMES)
    assert isinstance(gm.classifier_from_dict(fusion.to_dict()), FusionClassifier)
    d["sigma"] = 0.0
    with pytest.raises(ValueError, match="inconsistent"):
        gm.GrowthClassifier.from_dict(d)
    with pytest.raises(ValueError, match="volume_iph_ml"):
        gm.GrowthClassifier("conventional").fit(X[:, :3], labels["conventional"], NAMES[:3], out)


def test_train_outcome_growth_then_evaluate_and_predict(cohort, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    models = tmp_path / "models"
    rc = main(["train", str(cohort / "cohort.csv"), "--models-dir", str(models), "--folds", "3", "--quiet",
               "--report-dir", str(tmp_path / "cv"), "--version", "0.2.0", "--k", "5", "--outcome", "growth"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["cv_auc"] > 0.8
    assert json.loads((tmp_path / "cv" / "report.json").read_text())["meta"]["outcome"] == "growth"
    model = json.loads((models / "expansion" / "expansion-conventional.json").read_text())
    assert {v["format"] for v in model["variants"].values()} == {gm.FORMAT}
    assert model["training"]["outcome"] == "growth"
    rc = main(["evaluate", str(cohort / "cohort.csv"), "--models-dir", str(models), "--quiet",
               "--report-dir", str(tmp_path / "ev")])
    assert rc == 0 and json.loads(capsys.readouterr().out.strip().splitlines()[-1])["auc"] > 0.8
    monkeypatch.setenv("HEMEXP_MODELS_DIR", str(models))
    rc = main(["predict", str(cohort / "ct1.nii.gz"), "--mask", str(cohort / "m0_1.nii.gz"),
               "--output-dir", str(tmp_path / "p")])
    assert rc == 0
    result = json.loads((tmp_path / "p" / "result.json").read_text())
    assert 0.0 <= result["he_probability"] <= 1.0 and result["model_version"] == "0.2.0"


def test_growth_outcome_needs_followup_masks(tmp_path, capsys, cohort):  # noqa: F811
    rows = (cohort / "cohort.csv").read_text().splitlines()
    labelled = ["case_id,patient_id,baseline_ct,baseline_mask,label"]
    for i, r in enumerate(rows[1:]):
        c = r.split(",")
        labelled.append(",".join([c[0], c[1], str(cohort / c[2]), str(cohort / c[3]), str(i % 2)]))
    (tmp_path / "labels.csv").write_text("\n".join(labelled) + "\n")
    rc = main(["train", str(tmp_path / "labels.csv"), "--quiet", "--no-save", "--outcome", "growth",
               "--report-dir", str(tmp_path / "cv")])
    assert rc != 0
    assert "needs a baseline_mask and a followup_mask" in capsys.readouterr().err
