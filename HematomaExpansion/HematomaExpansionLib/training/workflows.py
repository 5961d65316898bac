"""The train and evaluate workflows: cohort table → features → cross-validation or held-out
evaluation → report (and the fitted model written with its manifest entry)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core import config
from ..core.errors import CohortError
from ..expansion.classifier import best_threshold
from ..expansion.predictor import ExpansionPredictor
from ..features.case_features import FEATURE_VERSION
from ..features.clinical import clinical_features
from ..outputs.metrics_report import write_predictions, write_report
from ..segmentation.dispatch import describe_method
from .cnn import add_oof_deep_features
from .cohort import as_segmenter_sees_them, read_cohort
from .cv import bat_values, cross_validate, without_features
from .feature_cache import extract_features, load_case
from .fit import GROWTH_CLF, fit_model, write_model
from .followup_labels import label_cohort
from .growth_outcomes import growth_outcomes
from .metrics import evaluate_scores

OUTCOMES = ("label", "growth")
SEGMENTER_MASKS = "scored on the segmenter's masks"


def describe_feature_masks(cases) -> str:
    """Which baseline masks the features were measured on, for reports and the model file."""
    given = sum(c.feature_mask is not None for c in cases)
    if given == len(cases):
        return "given baseline masks"
    auto = describe_method("auto")
    if given == 0:
        return f"auto-segmented ({auto})"
    return f"{given} given, {len(cases) - given} auto-segmented ({auto})"


def run_training(cohort: str, definition: str, clf_params: dict[str, Any], folds: int = 5, seed: int = 0,
                 filters=("Original",), models_dir: str | None = None, model_id: str | None = None,
                 version: str = "1.0.0", report_dir: str = "train-report", save: bool = True,
                 use_cache: bool = True, progress: bool = True, cnn: bool = False, cnn_epochs: int = 30,
                 workers: int = 1, mask_source: str = "given", outcome: str = "label",
                 end_to_end: bool = False, exclude_features: tuple[str, ...] = ()) -> dict[str, Any]:
    """``outcome``: ``label`` fits the fusion classifier on each case's label; ``growth`` fits the growth classifier
    (``expansion.growth_classifier``) on each case's measured growth (needs follow-up masks). ``end_to_end``: each
    left-out fold is also scored on features measured on the bundled segmenter's masks (what the one-button
    pipeline will see), next to the given masks the model is fitted on. ``exclude_features``: image features
    neither cross-validated nor fitted (``cv.without_features``)."""
    if outcome not in OUTCOMES:
        raise CohortError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    labelled = label_cohort(read_cohort(cohort, mask_source), definition, progress)
    cases, y = labelled.cases, labelled.labels
    outcomes = None
    if outcome == "growth":
        outcomes = growth_outcomes(cases, definition)
        clf_params = {**GROWTH_CLF, "k": int(clf_params.get("k", GROWTH_CLF["k"])),
                      "random_state": int(clf_params.get("random_state", seed))}
    feature_masks = describe_feature_masks(cases)
    excluded = sorted(exclude_features)
    if y.sum() < 2 or (len(y) - y.sum()) < 2:
        raise CohortError(f"the cohort has {int(y.sum())} expanding and {int(len(y) - y.sum())} non-expanding cases "
                          f"under the {definition} definition; need at least 2 of each")
    feats = without_features(extract_features(cases, filters, progress, use_cache, workers=workers), exclude_features)
    segmenter_cases = seg_feats = None
    if end_to_end:
        if all(c.feature_mask is None for c in cases):
            raise CohortError("end-to-end scoring compares the given baseline masks with the segmenter's; this "
                              "cohort's features already come from the segmenter (no baseline_mask, or --mask-source auto)")
        segmenter_cases = as_segmenter_sees_them(cases)
        seg_feats = without_features(extract_features(segmenter_cases, filters, progress, use_cache,
                                                      desc="features (segmenter's masks)", workers=workers), exclude_features)
    deep_info = None
    if cnn:
        feats, deep_info = add_oof_deep_features(cases, feats, y, epochs=cnn_epochs, seed=seed, progress=progress,
                                                eval_cases=segmenter_cases, eval_feats=seg_feats)
        seg_feats = deep_info["eval_feats"]
    cv = cross_validate(cases, feats, y, clf_params, folds, seed, progress, outcomes, definition, eval_feats=seg_feats)
    thr = best_threshold(y, cv["oof"])
    res = {
        "fusion model (CV)": evaluate_scores(y, cv["oof"], thr, seed=seed),
        "volume only (CV)": evaluate_scores(y, cv["oof_volume"], thr, seed=seed),
    }
    if seg_feats is not None:
        res[f"fusion model (CV, {SEGMENTER_MASKS})"] = evaluate_scores(y, cv["oof_eval"], thr, seed=seed)
        res[f"volume only (CV, {SEGMENTER_MASKS})"] = evaluate_scores(y, cv["oof_volume_eval"], thr, seed=seed)
    if np.isfinite(cv["oof_bat"]).all():
        res["BAT score (CV, logistic)"] = evaluate_scores(y, cv["oof_bat"], thr, seed=seed)
    mid = model_id or f"expansion-{definition}"
    meta = {"cohort": str(cohort), "definition": definition, "n_cases": len(y), "n_patients": len({c.patient_id for c in cases}),
            "n_expanding": int(y.sum()), "cross_validation": f"patient-level stratified {len(set(cv['folds'].tolist()))}-fold",
            "classifier": clf_params, "clinical_inputs_used": cv["with_clinical"], "radiomics_filters": list(filters),
            "threshold (max-F1 on out-of-fold)": round(thr, 3), "deep_features": bool(cnn),
            "feature_masks": feature_masks, "outcome": outcome, "excluded_features": excluded,
            **labelled.meta()}
    if seg_feats is not None:
        meta["end_to_end"] = f"each left-out fold also {SEGMENTER_MASKS}: {describe_feature_masks(segmenter_cases)}"
    jpath, hpath = write_report(report_dir, f"Expansion model — cross-validation ({definition})", res, meta,
                                           "fusion model (CV)")
    seg_probs = cv["oof_eval"] if cv["oof_eval"] is not None else [None] * len(y)
    ppath = write_predictions(report_dir, [
        {"case_id": c.case_id, "patient_id": c.patient_id, "label": int(t), "probability": p,
         "volume_only_probability": pv, "bat_probability": pb, "bat_score": b, "fold": int(k),
         "probability_segmenter_masks": ps}
        for c, t, p, pv, pb, b, k, ps in zip(cases, y, cv["oof"], cv["oof_volume"], cv["oof_bat"], cv["bat"],
                                             cv["folds"], seg_probs)])
    out = {"report_json": str(jpath), "report_html": str(hpath), "predictions_csv": str(ppath), "cv_auc": res["fusion model (CV)"]["auc"],
           "cv_auc_ci95": res["fusion model (CV)"]["auc_ci95"], "volume_only_auc": res["volume only (CV)"]["auc"],
           "n_cases": len(y), "skipped": len(labelled.skipped)}
    if seg_feats is not None:
        out["cv_auc_segmenter_masks"] = res[f"fusion model (CV, {SEGMENTER_MASKS})"]["auc"]
    if save:
        model = fit_model(cases, feats, y, clf_params, definition, mid, version, filters, thr,
                                   extra={"cohort": Path(cohort).name, "feature_masks": feature_masks,
                                          "outcome": outcome, "excluded_features": excluded},
                                   outcomes=outcomes)
        mdir = Path(models_dir) if models_dir else config.models_dir()
        extra_files = []
        if cnn and deep_info is not None:
            model["cnn"] = deep_info["model_entry"](mdir, mid)
            extra_files.append(mdir / model["cnn"]["file"])
        metrics = {"cv_auc": round(out["cv_auc"], 4), "cv_auc_ci95": [round(v, 4) for v in out["cv_auc_ci95"]],
                   "cv_volume_only_auc": round(out["volume_only_auc"], 4),
                   "cv_calibration_slope": round(res["fusion model (CV)"]["calibration_slope"], 3),
                   "cv_brier": round(res["fusion model (CV)"]["brier"], 4)}
        path = write_model(model, mdir, metrics, extra_files)
        out["model_file"] = str(path)
        out["model_id"] = mid
    return out


def _baseline_probability(baseline: dict[str, float], x: np.ndarray) -> np.ndarray:
    """A stored one-feature logistic baseline (``fit_model``'s ``baselines``) applied to ``x``."""
    return 1 / (1 + np.exp(-(baseline["coef"] * x + baseline["intercept"])))


def run_evaluation(cohort: str, definition: str, models_dir: str | None = None, model_id: str | None = None,
                   report_dir: str = "evaluate-report", threshold: float | None = None, use_cache: bool = True,
                   progress: bool = True, workers: int = 1, mask_source: str = "given") -> dict[str, Any]:
    pred = ExpansionPredictor.load(models_dir=models_dir, definition=definition, model_id=model_id)
    labelled = label_cohort(read_cohort(cohort, mask_source), definition, progress)
    cases, y = labelled.cases, labelled.labels
    feats = extract_features(cases, pred.filters, progress, use_cache, workers=workers)
    probs, variants = [], []
    for c, f in zip(tqdm(cases, desc="predict", disable=not progress), feats):
        f = dict(f)
        if pred.cnn is not None:
            ct, labels = load_case(c)
            deep, _ = pred.cnn.features(ct, labels, gradcam=False)
            f.update(deep)
        clin = clinical_features(c.clinical)
        f.update(clin)
        v, _ = pred.choose_variant(clin)
        variants.append(v)
        probs.append(float(pred.variants[v].predict_proba(f)[0]))
    p = np.array(probs)
    thr = threshold if threshold is not None else pred.variants[variants[0]].threshold
    res = {f"{pred.model_id} (held-out)": evaluate_scores(y, p, thr)}
    base = pred.model.get("baselines", {})
    vol = np.array([math.log1p(f["volume_iph_ml"]) for f in feats])
    p_vol = p_bat = np.full(len(y), np.nan)
    if "volume_only" in base:
        p_vol = _baseline_probability(base["volume_only"], vol)
        res["volume only"] = evaluate_scores(y, p_vol, thr)
    bat = bat_values(feats, cases)
    if "bat" in base and np.isfinite(bat).all():
        p_bat = _baseline_probability(base["bat"], bat)
        res["BAT score (logistic)"] = evaluate_scores(y, p_bat, thr)
    meta = {"cohort": str(cohort), "definition": definition, "model_id": pred.model_id, "model_version": pred.version,
            "feature_version": FEATURE_VERSION, "n_cases": len(y), "n_expanding": int(y.sum()),
            "variants_used": {v: variants.count(v) for v in set(variants)},
            "feature_masks": describe_feature_masks(cases), **labelled.meta(),
            "model_training": pred.model.get("training", {})}
    jpath, hpath = write_report(report_dir, f"Expansion model — evaluation on {Path(cohort).name} ({definition})",
                                           res, meta, f"{pred.model_id} (held-out)")
    ppath = write_predictions(report_dir, [
        {"case_id": c.case_id, "patient_id": c.patient_id, "label": int(t), "probability": pr,
         "volume_only_probability": pv, "bat_probability": pb, "bat_score": b, "variant": v}
        for c, t, pr, pv, pb, b, v in zip(cases, y, p, p_vol, p_bat, bat, variants)])
    main = res[f"{pred.model_id} (held-out)"]
    return {"report_json": str(jpath), "report_html": str(hpath), "predictions_csv": str(ppath),
            "auc": main["auc"], "auc_ci95": main["auc_ci95"],
            "volume_only_auc": res.get("volume only", {}).get("auc"), "calibration_slope": main["calibration_slope"],
            "calibration_intercept": main["calibration_intercept"], "average_precision": main["average_precision"],
            "brier": main["brier"], "at_threshold": main["at_threshold"], "n_cases": len(y),
            "skipped": len(labelled.skipped)}
