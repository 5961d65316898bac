"""Fusion classifier: selections × models, calibration, contributions, JSON round trip, model loading checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from HematomaExpansionLib.expansion.classifier import FusionClassifier, risk_band


def _data(n=160, p=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 5] *= 40.0  # a feature on a very different scale
    logit = 1.8 * X[:, 0] - 1.2 * X[:, 3] + 0.03 * X[:, 5] + rng.normal(0, 0.8, n)
    y = (logit > 0.4).astype(int)
    X[rng.random((n, p)) < 0.02] = np.nan  # some missing values
    return X, y, [f"f{i}" for i in range(p)]


@pytest.mark.parametrize("selection,model", [("kbest", "svm"), ("lasso", "logistic"), ("sfs", "logistic"), ("kbest", "logistic")])
def test_fit_roundtrip_identical(tmp_path, selection, model):
    X, y, names = _data()
    k = 3 if selection == "sfs" else 5
    clf = FusionClassifier(selection=selection, k=k, model=model, C=0.5, calibration_folds=3 if selection == "sfs" else 5).fit(X, y, names)
    p = clf.predict_proba(X)
    assert np.all((p >= 0) & (p <= 1))
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, p) > 0.85
    assert "f0" in clf.selected_names
    path = tmp_path / "clf.json"
    clf.save(path)
    text = path.read_text()
    assert "pickle" not in text and json.loads(text)["format"].startswith("hematoma-expansion/")
    clf2 = FusionClassifier.load(path)
    np.testing.assert_allclose(clf2.predict_proba(X), p, rtol=0, atol=1e-12)
    assert clf2.selected_names == clf.selected_names


def test_isotonic_roundtrip(tmp_path):
    X, y, names = _data(seed=1)
    clf = FusionClassifier(selection="kbest", k=4, model="logistic", calibration="isotonic").fit(X, y, names)
    clf.save(tmp_path / "c.json")
    np.testing.assert_allclose(FusionClassifier.load(tmp_path / "c.json").predict_proba(X), clf.predict_proba(X), atol=1e-12)


def test_contributions_add_up_to_logit():
    X, y, names = _data(seed=2)
    clf = FusionClassifier(selection="kbest", k=6, model="logistic").fit(X, y, names)
    x = {n: float(v) for n, v in zip(names, np.nan_to_num(X[7]))}
    p = float(clf.predict_proba(x)[0])
    contrib = clf.contributions(x)
    base = clf.platt_a * clf.intercept + clf.platt_b
    assert sum(c for _, _, c in contrib) + base == pytest.approx(np.log(p / (1 - p)), abs=1e-9)
    assert abs(contrib[0][2]) >= abs(contrib[-1][2])


def test_linear_model_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    X, y, names = _data(seed=3)
    X = np.nan_to_num(X)
    clf = FusionClassifier(selection="none", model="logistic", C=0.7).fit(X, y, names)
    z = (X - X.mean(0)) / X.std(0)
    ref = LogisticRegression(C=0.7, class_weight="balanced", max_iter=5000).fit(z, y)
    np.testing.assert_allclose(clf.decision_function(X), ref.decision_function(z), atol=1e-4)


def test_bad_parameters_rejected():
    X, y, names = _data()
    with pytest.raises(ValueError):
        FusionClassifier(selection="magic").fit(X, y, names)
    with pytest.raises(ValueError):
        FusionClassifier().fit(X, np.zeros(len(y)), names)
    d = FusionClassifier(k=3).fit(X, y, names).to_dict()
    d["coef"] = d["coef"][:-1]
    with pytest.raises(ValueError):
        FusionClassifier.from_dict(d)


def test_risk_bands():
    assert risk_band(0.05) == "low" and risk_band(0.15) == "intermediate" and risk_band(0.399) == "intermediate"
    assert risk_band(0.40) == "high" and risk_band(1.0) == "high"


def _tiny_model_dir(tmp_path):
    from HematomaExpansionLib.core.hashing import sha256_file
    from HematomaExpansionLib.expansion.predictor import MODEL_FORMAT

    X, y, _ = _data(seed=4)
    names = ["volume_iph_ml", "sign_hypodensity"] + [f"f{i}" for i in range(18)]
    clf = FusionClassifier(k=3).fit(X, y, names)
    mdir = tmp_path / "models"
    (mdir / "expansion").mkdir(parents=True)
    model = {"format": MODEL_FORMAT, "model_id": "m", "version": "0.1", "definition": "conventional",
             "variants": {"image_only": clf.to_dict()}, "radiomics_filters": ["Original"], "cnn": None}
    f = mdir / "expansion" / "m.json"
    f.write_text(json.dumps(model))
    man = {"models": {"seg": {"file": "seg.bin", "sha256": "x", "kind": "segmentation"},
                      "m": {"file": "expansion/m.json", "sha256": sha256_file(f), "version": "0.1",
                            "kind": "expansion", "definition": "conventional"}}}
    (mdir / "manifest.json").write_text(json.dumps(man))
    return mdir, f


def test_predictor_load_verifies_sha256(tmp_path):
    from HematomaExpansionLib.core.errors import ModelError
    from HematomaExpansionLib.expansion.predictor import ExpansionPredictor

    mdir, f = _tiny_model_dir(tmp_path)
    p = ExpansionPredictor.load(models_dir=mdir)
    assert p.model_id == "m" and p.definition == "conventional" and p.version == "0.1"
    with pytest.raises(ModelError, match="no bundled expansion model for definition 'large'"):
        ExpansionPredictor.load(models_dir=mdir, definition="large")
    f.write_text(f.read_text().replace('"0.1"', '"0.2"'))
    with pytest.raises(ModelError, match="sha256"):
        ExpansionPredictor.load(models_dir=mdir)
    f.unlink()
    with pytest.raises(ModelError, match="missing"):
        ExpansionPredictor.load(models_dir=mdir)
    with pytest.raises(ModelError, match="manifest"):
        ExpansionPredictor.load(models_dir=tmp_path / "nowhere")


def test_write_model_keeps_other_manifest_entries(tmp_path):
    from HematomaExpansionLib.training.fit import write_model

    mdir, _ = _tiny_model_dir(tmp_path)
    model = json.loads((mdir / "expansion" / "m.json").read_text())
    model.update(model_id="m2", training={"trained": "now"})
    write_model(model, mdir, {"cv_auc": 0.5})
    man = json.loads((mdir / "manifest.json").read_text())
    assert set(man["models"]) == {"seg", "m", "m2"}
    assert man["models"]["seg"]["kind"] == "segmentation"
