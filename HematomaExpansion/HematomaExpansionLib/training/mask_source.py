"""Which masks should the expansion model be trained on? Scored where it is used.

In the one-button pipeline the model scores features measured on the segmenter's mask, not on a
careful manual one. A model fitted on manual masks can lean on features that an automatic border
changes (the lowest core density is the known case: a mask one voxel into brain drops it to brain
density). This compares, by patient-level cross-validation on the training cohort alone (no held-out
data is touched), classifiers fitted on the given masks' features, on the automatic masks' features,
and on both (each patient twice, in the same fold), every one scored on the automatic masks'
features of the left-out patients. ``mask_source_heldout`` fits each arm on every training patient and
scores a held-out cohort's automatic-mask features: the training cohort's CV favoured the automatic
masks by 0.014-0.021 AUC, and on 500 held-out patients the gain was 0.000 (expansion model card), so a
choice made on the CV alone is checked there before a build.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..expansion.classifier import FusionClassifier
from .cv import patient_folds
from .metrics import auc, calibration_slope_intercept

ARMS = ("given", "auto", "both")


def _arm_training(X_given: np.ndarray, X_auto: np.ndarray, y: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        "given": (X_given, y),
        "auto": (X_auto, y),
        "both": (np.vstack([X_given, X_auto]), np.concatenate([y, y])),
    }


def mask_source_cv(X_given: np.ndarray, X_auto: np.ndarray, y: np.ndarray, patients: list[str],
                   feature_names: list[str], clf_params: dict[str, Any], folds: int = 5,
                   seed: int = 0) -> dict[str, float]:
    """Out-of-fold AUC per training arm (``ARMS``), always scored on ``X_auto`` of the left-out patients."""
    X_given = np.asarray(X_given, float)
    X_auto = np.asarray(X_auto, float)
    y = np.asarray(y).astype(int)
    if X_given.shape != X_auto.shape or X_given.shape[0] != len(y) or len(patients) != len(y):
        raise ValueError("X_given, X_auto, y and patients must describe the same cases")
    oof = {arm: np.full(len(y), np.nan) for arm in ARMS}
    for tr, te in patient_folds(patients, y, folds, seed):
        for arm, (X, yy) in _arm_training(X_given[tr], X_auto[tr], y[tr]).items():
            clf = FusionClassifier(**clf_params).fit(X, yy, feature_names)
            oof[arm][te] = clf.predict_proba(X_auto[te])
    return {arm: float(auc(y, p)) for arm, p in oof.items()}


def mask_source_heldout(X_given: np.ndarray, X_auto: np.ndarray, y: np.ndarray, X_test_auto: np.ndarray,
                        y_test: np.ndarray, feature_names: list[str],
                        clf_params: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per training arm (``ARMS``, fitted on every training case): AUC and calibration slope and intercept on
    a held-out cohort's automatic-mask features ``X_test_auto`` (end to end)."""
    X_given, X_auto, X_test_auto = (np.asarray(a, float) for a in (X_given, X_auto, X_test_auto))
    y, y_test = np.asarray(y).astype(int), np.asarray(y_test).astype(int)
    if X_given.shape != X_auto.shape or X_given.shape[0] != len(y):
        raise ValueError("X_given, X_auto and y must describe the same cases")
    if X_test_auto.shape != (len(y_test), X_given.shape[1]):
        raise ValueError("X_test_auto must hold one row per held-out case, with the training features")
    out = {}
    for arm, (X, yy) in _arm_training(X_given, X_auto, y).items():
        p = FusionClassifier(**clf_params).fit(X, yy, feature_names).predict_proba(X_test_auto)
        slope, intercept = calibration_slope_intercept(y_test, p)
        out[arm] = {"auc": float(auc(y_test, p)), "calibration_slope": slope, "calibration_intercept": intercept}
    return out
