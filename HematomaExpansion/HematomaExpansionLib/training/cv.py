"""Patient-level cross-validation of the expansion model and its volume-only and BAT baselines."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core.errors import CohortError
from ..expansion.classifier import FusionClassifier
from ..expansion.clinical_scores import bat_score
from ..expansion.growth_classifier import GrowthClassifier, GrowthOutcomes
from ..features.clinical import clinical_features, normalize_clinical
from .cohort import Case


def assemble(feats: list[dict[str, float]], cases: list[Case], with_clinical: bool,
             names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    rows = []
    for f, c in zip(feats, cases):
        r = dict(f)
        if with_clinical:
            r.update(clinical_features(c.clinical))
        rows.append(r)
    if names is None:
        keys = set(rows[0])
        for r in rows[1:]:
            keys &= set(r)
        names = sorted(keys)
    X = np.array([[float(r.get(n, np.nan)) for n in names] for r in rows], float)
    return X, names


def without_features(feats: list[dict[str, float]], excluded) -> list[dict[str, float]]:
    """Every case's image features less ``excluded`` (features a cohort's masks cannot measure reliably, say).
    The IPH volume stays: the baselines and the growth classifier's threshold read it."""
    excluded = set(excluded)
    if "volume_iph_ml" in excluded:
        raise CohortError("volume_iph_ml cannot be excluded: the volume-only baseline and the growth classifier read it")
    unknown = sorted(excluded - set(feats[0])) if feats else []
    if unknown:
        raise CohortError(f"no image feature named {', '.join(unknown)} (names as in a report's or model's feature list)")
    return [{k: v for k, v in f.items() if k not in excluded} for f in feats]


def _log_iph_volumes(feats: list[dict[str, float]]) -> np.ndarray:
    return np.array([math.log1p(f["volume_iph_ml"]) for f in feats])


def bat_values(feats: list[dict[str, float]], cases: list[Case]) -> np.ndarray:
    out = []
    for f, c in zip(feats, cases):
        b = bat_score(f, normalize_clinical(c.clinical))["value"]
        out.append(np.nan if b is None else float(b))
    return np.array(out)


def patient_folds(patients: list[str], y: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold over patients: all rows of one patient land in the same fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(y).astype(int)
    n_pos_patients = len({p for p, t in zip(patients, y) if t == 1})
    n_neg_patients = len({p for p, t in zip(patients, y) if t == 0})
    k = max(2, min(k, n_pos_patients, n_neg_patients))
    if min(n_pos_patients, n_neg_patients) < 2:
        raise CohortError("cross-validation needs at least 2 expanding and 2 non-expanding patients")
    sgk = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in sgk.split(np.zeros(len(y)), y, groups=np.asarray(patients))]


def logistic_1d(x_tr, y_tr):
    from sklearn.linear_model import LogisticRegression

    x_tr = np.asarray(x_tr, float).reshape(-1, 1)
    return LogisticRegression(C=1e4, max_iter=5000).fit(x_tr, y_tr)


def fit_classifier(X: np.ndarray, y: np.ndarray, names: list[str], clf_params: dict[str, Any],
                   outcomes: GrowthOutcomes | None = None, definition: str | None = None):
    """The expansion classifier ``clf_params`` describe: the growth classifier (``{"outcome": "growth", "k": …}``, fitted
    on ``outcomes``) or the fusion classifier (fitted on the labels ``y``)."""
    if clf_params.get("outcome") == "growth":
        if outcomes is None or definition is None:
            raise CohortError("the growth classifier needs each case's growth outcome and the definition")
        return GrowthClassifier(definition=definition, k=int(clf_params.get("k", 25)),
                                random_state=int(clf_params.get("random_state", 0))).fit(X, y, names, outcomes)
    return FusionClassifier(**clf_params).fit(X, y, names)


def cross_validate(cases: list[Case], feats: list[dict[str, float]], y: np.ndarray, clf_params: dict[str, Any],
                   k: int = 5, seed: int = 0, progress: bool = True, outcomes: GrowthOutcomes | None = None,
                   definition: str | None = None, eval_feats: list[dict[str, float]] | None = None) -> dict[str, Any]:
    """Out-of-fold probabilities of the expansion model and of the volume-only and BAT baselines.

    ``eval_feats``: the same cases' features measured another way (on the bundled segmenter's masks); each
    left-out fold is then also scored on them (``oof_eval``, ``oof_volume_eval``) by the model fitted on ``feats``."""
    with_clin = all(has_clinical(c) for c in cases)
    X, names = assemble(feats, cases, with_clin)
    vol = _log_iph_volumes(feats)
    X_eval = vol_eval = oof_eval = oof_vol_eval = None
    if eval_feats is not None:
        if len(eval_feats) != len(feats):
            raise ValueError("eval_feats must hold one feature row per case")
        X_eval = assemble(eval_feats, cases, with_clin, names=names)[0]
        vol_eval = _log_iph_volumes(eval_feats)
        oof_eval, oof_vol_eval = np.full(len(y), np.nan), np.full(len(y), np.nan)
    bat = bat_values(feats, cases)
    folds = patient_folds([c.patient_id for c in cases], y, k, seed)
    oof = np.full(len(y), np.nan)
    oof_vol = np.full(len(y), np.nan)
    oof_bat = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1)
    for i, (tr, te) in enumerate(tqdm(folds, desc="cross-validation", disable=not progress)):
        clf = fit_classifier(X[tr], y[tr], names, clf_params, None if outcomes is None else outcomes.subset(tr), definition)
        oof[te] = clf.predict_proba(X[te])
        vol_model = logistic_1d(vol[tr], y[tr])
        oof_vol[te] = vol_model.predict_proba(vol[te].reshape(-1, 1))[:, 1]
        if X_eval is not None:
            oof_eval[te] = clf.predict_proba(X_eval[te])
            oof_vol_eval[te] = vol_model.predict_proba(vol_eval[te].reshape(-1, 1))[:, 1]
        ok = np.isfinite(bat[tr])
        if ok.sum() > 5 and len(np.unique(y[tr][ok])) == 2 and np.isfinite(bat[te]).all():
            oof_bat[te] = logistic_1d(bat[tr][ok], y[tr][ok]).predict_proba(bat[te].reshape(-1, 1))[:, 1]
        fold_of[te] = i
    return {"oof": oof, "oof_volume": oof_vol, "oof_bat": oof_bat, "bat": bat, "folds": fold_of,
            "with_clinical": with_clin, "feature_names": names, "oof_eval": oof_eval, "oof_volume_eval": oof_vol_eval}


def has_clinical(c: Case) -> bool:
    f = clinical_features(c.clinical)
    return all(k in f for k in ("onset_to_ct_h", "anticoagulation"))
