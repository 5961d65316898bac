"""Which masks should the expansion model be trained on? Scored where it is used.

In the one-button pipeline the model scores features measured on the segmenter's mask, not on a
careful manual one. A model fitted on manual masks can lean on features that an automatic border
changes (the lowest core density is the known case: a mask one voxel into brain drops it to brain
density). This compares, by patient-level cross-validation on the training cohort alone (no held-out
data is touched), classifiers fitted on the given masks' features, on the automatic masks' features,
and on both (each patient twice, in the same fold), every one scored on the automatic masks'
features of the left-out patients.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..expansion.classifier import FusionClassifier
from .cv import patient_folds
from .metrics import auc

ARMS = ("given", "auto", "both")


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
        training = {
            "given": (X_given[tr], y[tr]),
            "auto": (X_auto[tr], y[tr]),
            "both": (np.vstack([X_given[tr], X_auto[tr]]), np.concatenate([y[tr], y[tr]])),
        }
        for arm, (X, yy) in training.items():
            clf = FusionClassifier(**clf_params).fit(X, yy, feature_names)
            oof[arm][te] = clf.predict_proba(X_auto[te])
    return {arm: float(auc(y, p)) for arm, p in oof.items()}
