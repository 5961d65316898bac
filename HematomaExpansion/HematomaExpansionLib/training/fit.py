"""Fitting the final expansion model and writing it with its manifest entry."""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..core import model_registry
from ..core.hashing import sha256_file
from ..expansion.growth_classifier import GrowthOutcomes
from ..expansion.predictor import MODEL_FORMAT
from ..features.clinical import CLINICAL_FEATURES
from .cohort import Case
from .cv import assemble, bat_values, fit_classifier, has_clinical, logistic_1d

DEFAULT_CLF = {"selection": "lasso", "k": 25, "model": "logistic", "C": 0.3, "calibration": "sigmoid"}
GROWTH_CLF = {"outcome": "growth", "k": 25}


def fit_model(cases: list[Case], feats: list[dict[str, float]], y: np.ndarray, clf_params: dict[str, Any],
              definition: str, model_id: str, version: str, filters=("Original",), threshold: float | None = None,
              extra: dict[str, Any] | None = None, outcomes: GrowthOutcomes | None = None) -> dict[str, Any]:
    variants = {}
    Xi, names_i = assemble(feats, cases, with_clinical=False)
    names_i = [n for n in names_i if n not in CLINICAL_FEATURES]
    Xi, names_i = assemble(feats, cases, with_clinical=False, names=names_i)
    variants["image_only"] = fit_classifier(Xi, y, names_i, clf_params, outcomes, definition)
    if all(has_clinical(c) for c in cases):
        Xf, names_f = assemble(feats, cases, with_clinical=True)
        variants["full"] = fit_classifier(Xf, y, names_f, clf_params, outcomes, definition)
    vol = np.array([math.log1p(f["volume_iph_ml"]) for f in feats])
    lv = logistic_1d(vol, y)
    bat = bat_values(feats, cases)
    ok = np.isfinite(bat)
    baselines = {"volume_only": {"feature": "log1p(volume_iph_ml)", "coef": float(lv.coef_[0, 0]), "intercept": float(lv.intercept_[0])}}
    if ok.sum() > 5 and len(np.unique(y[ok])) == 2:
        lb = logistic_1d(bat[ok], y[ok])
        baselines["bat"] = {"feature": "BAT score", "coef": float(lb.coef_[0, 0]), "intercept": float(lb.intercept_[0])}
    if threshold is not None:
        for v in variants.values():
            v.threshold = float(threshold)
    return {
        "format": MODEL_FORMAT, "model_id": model_id, "version": version, "definition": definition,
        "radiomics_filters": list(filters),
        "variants": {k: v.to_dict() for k, v in variants.items()},
        "baselines": baselines,
        "training": {"n_cases": int(len(y)), "n_positive": int(np.sum(y)),
                     "trained": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **(extra or {})},
        "cnn": None,
    }


def write_model(model: dict[str, Any], models_dir: str | Path, metrics: dict[str, Any] | None = None,
                extra_files: list[Path] | None = None) -> Path:
    """Write ``expansion/<model_id>.json`` and add/replace its manifest entry (other entries kept)."""
    mdir = Path(models_dir)
    (mdir / "expansion").mkdir(parents=True, exist_ok=True)
    rel = f"expansion/{model['model_id']}.json"
    path = mdir / rel
    path.write_text(json.dumps(model, indent=1))
    entry = {
        "file": rel, "sha256": sha256_file(path), "version": model["version"], "kind": "expansion",
        "definition": model["definition"], "trained": model["training"]["trained"],
        "training_data": model["training"].get("cohort", ""), "metrics": metrics or {},
    }
    if extra_files:
        entry["extra_files"] = [{"file": str(Path(f).relative_to(mdir)), "sha256": sha256_file(f)} for f in extra_files]
    model_registry.write_entry(mdir, model["model_id"], entry)
    return path
