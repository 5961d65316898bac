"""Model commands of the `hematoma-expansion` CLI: label, train, evaluate, simulate-cohort."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CohortError, HematomaExpansionError


def register(subparsers) -> None:
    from .classifier import CALIBRATIONS, MODELS, SELECTIONS
    from .expansion_labels import DEFAULT_DEFINITION, DEFINITIONS
    from .radiomics_features import FILTERS
    from .training import MASK_SOURCES

    p = subparsers.add_parser(
        "label", help="expansion label and growth figures from baseline + follow-up masks",
        description="Hematoma-expansion label from two segmentations (labels 1 = IPH, 2 = IVH). Prints one JSON "
                    "line: absolute/relative IPH growth, IVH growth, new IVH, the label under every definition, "
                    "and 'label' for the chosen one. Thresholds are strict (> 6 mL, > 12.5 mL, > 33 %); IVH growth ≥ 1 mL.")
    p.add_argument("--baseline", required=True, metavar="MASK0", help="baseline segmentation (NIfTI/NRRD)")
    p.add_argument("--followup", required=True, metavar="MASK1", help="follow-up segmentation of the same patient")
    p.add_argument("--definition", choices=DEFINITIONS, default=DEFAULT_DEFINITION,
                   help="conventional: >6 mL or >33%%; large: >12.5 mL or >33%%; revised: conventional or new IVH or IVH growth ≥1 mL")
    p.set_defaults(func=cmd_label)

    def common(q, report_default: str):
        q.add_argument("cohort", metavar="COHORT.csv",
                       help="table with baseline_ct, optional baseline_mask, followup_mask or label, optional "
                            "patient_id and clinical columns (onset_to_ct_h, anticoagulation, warfarin, recurrent_ich)")
        q.add_argument("--definition", choices=DEFINITIONS, default=DEFAULT_DEFINITION, help="expansion definition (default %(default)s)")
        q.add_argument("--report-dir", default=report_default, help="where report.json and report.html go (default %(default)s)")
        q.add_argument("--no-cache", action="store_true", help="recompute every case's features (ignore the per-case cache)")
        q.add_argument("--quiet", action="store_true", help="no progress bars")
        q.add_argument("--workers", type=int, default=1, help="parallel processes for feature extraction (default %(default)s)")
        q.add_argument("--mask-source", choices=MASK_SOURCES, default="given",
                       help="the baseline mask features are measured on: 'given' = the baseline_mask column "
                            "(auto-segmentation where it is empty); 'auto' = the bundled segmenter's mask for every "
                            "case, as the one-button pipeline sees it (baseline_mask then only defines the label). "
                            "Default %(default)s")

    t = subparsers.add_parser(
        "train", help="train the expansion model on a cohort (patient-level CV report + final model)",
        description="Extract features (cached per case), run patient-level stratified k-fold cross-validation "
                    "(report with AUC + bootstrap CI, AP, precision/recall/F1, confusion matrix, Brier, calibration, "
                    "decision curve; volume-only and BAT baselines), then fit the final model on all cases and "
                    "write it with its manifest entry.")
    common(t, "train-report")
    t.add_argument("--selection", choices=SELECTIONS, default="lasso", help="feature selection (default %(default)s)")
    t.add_argument("--k", type=int, default=25, help="number of features kept (max for lasso; default %(default)s)")
    t.add_argument("--classifier", choices=MODELS, default="logistic", help="linear classifier (default %(default)s)")
    t.add_argument("--C", type=float, default=0.3, help="inverse regularisation strength (default %(default)s)")
    t.add_argument("--calibration", choices=CALIBRATIONS, default="sigmoid", help="probability calibration (default %(default)s)")
    t.add_argument("--folds", type=int, default=5, help="cross-validation folds (default %(default)s)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--filters", nargs="+", choices=FILTERS, default=["Original"], help="pyradiomics image types (default Original)")
    t.add_argument("--cnn", action="store_true", help="also train the 2.5D CNN and fuse its deep features")
    t.add_argument("--cnn-epochs", type=int, default=30)
    t.add_argument("--models-dir", default=None, help="where the model and manifest are written (default: the bundled models/)")
    t.add_argument("--model-id", default=None, help="model id (default expansion-<definition>)")
    t.add_argument("--version", default="1.0.0")
    t.add_argument("--no-save", action="store_true", help="cross-validate only; write no model")
    t.set_defaults(func=cmd_train)

    e = subparsers.add_parser(
        "evaluate", help="evaluate a trained model on a (held-out) cohort, or cross-validate with --cv",
        description="Apply a trained expansion model to every case of COHORT.csv and report its performance next "
                    "to the volume-only and BAT baselines (both fitted on the model's training cohort). With --cv, "
                    "run patient-level k-fold cross-validation on COHORT.csv instead.")
    common(e, "evaluate-report")
    e.add_argument("--models-dir", default=None, help="models folder with manifest.json (default: bundled)")
    e.add_argument("--model-id", default=None)
    e.add_argument("--threshold", type=float, default=None, help="operating threshold (default: the model's)")
    e.add_argument("--cv", action="store_true", help="k-fold cross-validation on this cohort instead of a trained model")
    e.add_argument("--folds", type=int, default=5)
    e.set_defaults(func=cmd_evaluate)

    s = subparsers.add_parser(
        "simulate-cohort", help="write a simulated baseline/follow-up cohort (needs the shared data)",
        description="Simulated expansion cohort from real hematoma shapes painted into a real head CT, grown by "
                    "the documented growth model of cohort_simulation.py. NOT clinical data.")
    s.add_argument("out_dir", metavar="OUT_DIR")
    s.add_argument("--n", type=int, default=200, help="number of patients (default %(default)s)")
    s.add_argument("--split", choices=("train", "val"), default="train", help="lesion-shape split (val = held-out shapes)")
    s.add_argument("--seed0", type=int, default=0)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_simulate)


# --- commands --------------------------------------------------------------------------------
def cmd_label(args) -> int:
    from .expansion_labels import label_from_files

    g = label_from_files(args.baseline, args.followup)
    print(json.dumps(g.to_dict(args.definition)))
    return 0


def _clf_params(args) -> dict[str, Any]:
    if args.k < 1:
        raise HematomaExpansionError("--k must be ≥ 1")
    if not (args.C > 0):
        raise HematomaExpansionError("--C must be > 0")
    return {"selection": args.selection, "k": args.k, "model": args.classifier, "C": args.C,
            "calibration": args.calibration, "random_state": args.seed}


def _labels(cases, definition: str, progress: bool) -> np.ndarray:
    from tqdm import tqdm

    from .training import case_label

    return np.array([case_label(c, definition) for c in tqdm(cases, desc="labels", disable=not progress)], int)


def _describe_masks(cases) -> str:
    """Which baseline masks the features were measured on, for reports and the model file."""
    from .segmentation import describe_method

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
                 workers: int = 1, mask_source: str = "given") -> dict[str, Any]:
    from . import config, evaluation, training
    from .classifier import best_threshold

    cases = training.read_cohort(cohort, mask_source)
    feature_masks = _describe_masks(cases)
    y = _labels(cases, definition, progress)
    if y.sum() < 2 or (len(y) - y.sum()) < 2:
        raise CohortError(f"the cohort has {int(y.sum())} expanding and {int(len(y) - y.sum())} non-expanding cases "
                          f"under the {definition} definition; need at least 2 of each")
    feats = training.extract_features(cases, filters, progress, use_cache, workers=workers)
    deep_info = None
    if cnn:
        from . import deep_features

        feats, deep_info = deep_features.add_oof_deep_features(cases, feats, y, epochs=cnn_epochs, seed=seed,
                                                               progress=progress)
    cv = training.cross_validate(cases, feats, y, clf_params, folds, seed, progress)
    thr = best_threshold(y, cv["oof"])
    res = {
        "fusion model (CV)": evaluation.evaluate_scores(y, cv["oof"], thr, seed=seed),
        "volume only (CV)": evaluation.evaluate_scores(y, cv["oof_volume"], thr, seed=seed),
    }
    if np.isfinite(cv["oof_bat"]).all():
        res["BAT score (CV, logistic)"] = evaluation.evaluate_scores(y, cv["oof_bat"], thr, seed=seed)
    mid = model_id or f"expansion-{definition}"
    meta = {"cohort": str(cohort), "definition": definition, "n_cases": len(y), "n_patients": len({c.patient_id for c in cases}),
            "n_expanding": int(y.sum()), "cross_validation": f"patient-level stratified {len(set(cv['folds'].tolist()))}-fold",
            "classifier": clf_params, "clinical_inputs_used": cv["with_clinical"], "radiomics_filters": list(filters),
            "threshold (max-F1 on out-of-fold)": round(thr, 3), "deep_features": bool(cnn),
            "feature_masks": feature_masks}
    jpath, hpath = evaluation.write_report(report_dir, f"Expansion model — cross-validation ({definition})", res, meta,
                                           "fusion model (CV)")
    out = {"report_json": str(jpath), "report_html": str(hpath), "cv_auc": res["fusion model (CV)"]["auc"],
           "cv_auc_ci95": res["fusion model (CV)"]["auc_ci95"], "volume_only_auc": res["volume only (CV)"]["auc"]}
    if save:
        model = training.fit_model(cases, feats, y, clf_params, definition, mid, version, filters, thr,
                                   extra={"cohort": Path(cohort).name, "feature_masks": feature_masks})
        mdir = Path(models_dir) if models_dir else config.models_dir()
        extra_files = []
        if cnn and deep_info is not None:
            model["cnn"] = deep_info["model_entry"](mdir, mid)
            extra_files.append(mdir / model["cnn"]["file"])
        metrics = {"cv_auc": round(out["cv_auc"], 4), "cv_auc_ci95": [round(v, 4) for v in out["cv_auc_ci95"]],
                   "cv_volume_only_auc": round(out["volume_only_auc"], 4),
                   "cv_calibration_slope": round(res["fusion model (CV)"]["calibration_slope"], 3),
                   "cv_brier": round(res["fusion model (CV)"]["brier"], 4)}
        path = training.write_model(model, mdir, metrics, extra_files)
        out["model_file"] = str(path)
        out["model_id"] = mid
    return out


def cmd_train(args) -> int:
    out = run_training(args.cohort, args.definition, _clf_params(args), args.folds, args.seed, tuple(args.filters),
                       args.models_dir, args.model_id, args.version, args.report_dir, not args.no_save,
                       not args.no_cache, not args.quiet, args.cnn, args.cnn_epochs, args.workers, args.mask_source)
    print(json.dumps(out))
    return 0


def run_evaluation(cohort: str, definition: str, models_dir: str | None = None, model_id: str | None = None,
                   report_dir: str = "evaluate-report", threshold: float | None = None, use_cache: bool = True,
                   progress: bool = True, workers: int = 1, mask_source: str = "given") -> dict[str, Any]:
    from tqdm import tqdm

    from . import evaluation, training
    from .expansion_model import ExpansionPredictor, clinical_features

    pred = ExpansionPredictor.load(models_dir=models_dir, definition=definition, model_id=model_id)
    cases = training.read_cohort(cohort, mask_source)
    y = _labels(cases, definition, progress)
    feats = training.extract_features(cases, pred.filters, progress, use_cache, workers=workers)
    probs, variants = [], []
    for c, f in zip(tqdm(cases, desc="predict", disable=not progress), feats):
        f = dict(f)
        if pred.cnn is not None:
            ct, labels = training.load_case(c)
            deep, _ = pred.cnn.features(ct, labels, gradcam=False)
            f.update(deep)
        clin = clinical_features(c.clinical)
        f.update(clin)
        v, _ = pred.choose_variant(clin)
        variants.append(v)
        probs.append(float(pred.variants[v].predict_proba(f)[0]))
    p = np.array(probs)
    thr = threshold if threshold is not None else pred.variants[variants[0]].threshold
    res = {f"{pred.model_id} (held-out)": evaluation.evaluate_scores(y, p, thr)}
    base = pred.model.get("baselines", {})
    vol = np.array([math.log1p(f["volume_iph_ml"]) for f in feats])
    if "volume_only" in base:
        b = base["volume_only"]
        res["volume only"] = evaluation.evaluate_scores(y, 1 / (1 + np.exp(-(b["coef"] * vol + b["intercept"]))), thr)
    bat = training.bat_values(feats, cases)
    if "bat" in base and np.isfinite(bat).all():
        b = base["bat"]
        res["BAT score (logistic)"] = evaluation.evaluate_scores(y, 1 / (1 + np.exp(-(b["coef"] * bat + b["intercept"]))), thr)
    meta = {"cohort": str(cohort), "definition": definition, "model_id": pred.model_id, "model_version": pred.version,
            "n_cases": len(y), "n_expanding": int(y.sum()), "variants_used": {v: variants.count(v) for v in set(variants)},
            "feature_masks": _describe_masks(cases),
            "model_training": pred.model.get("training", {})}
    jpath, hpath = evaluation.write_report(report_dir, f"Expansion model — evaluation on {Path(cohort).name} ({definition})",
                                           res, meta, f"{pred.model_id} (held-out)")
    main = res[f"{pred.model_id} (held-out)"]
    return {"report_json": str(jpath), "report_html": str(hpath), "auc": main["auc"], "auc_ci95": main["auc_ci95"],
            "volume_only_auc": res.get("volume only", {}).get("auc"), "calibration_slope": main["calibration_slope"],
            "calibration_intercept": main["calibration_intercept"], "average_precision": main["average_precision"],
            "brier": main["brier"], "at_threshold": main["at_threshold"]}


def cmd_evaluate(args) -> int:
    if args.cv:
        from .training import DEFAULT_CLF

        out = run_training(args.cohort, args.definition, dict(DEFAULT_CLF), args.folds, 0, ("Original",),
                           report_dir=args.report_dir, save=False, use_cache=not args.no_cache, progress=not args.quiet,
                           workers=args.workers, mask_source=args.mask_source)
    else:
        out = run_evaluation(args.cohort, args.definition, args.models_dir, args.model_id, args.report_dir,
                             args.threshold, not args.no_cache, not args.quiet, args.workers, args.mask_source)
    print(json.dumps(out, default=float))
    return 0


def cmd_simulate(args) -> int:
    from . import config
    from .cohort_simulation import simulate_cohort

    if not (config.shared_data_dir() / "realct").exists():
        raise HematomaExpansionError(
            f"simulate-cohort needs the shared data (real head CT + lesion masks) at {config.shared_data_dir()}; "
            "set HEMEXP_SHARED_DATA")
    if args.n < 1:
        raise HematomaExpansionError("--n must be ≥ 1")
    path = simulate_cohort(args.out_dir, args.n, args.split, args.seed0, args.workers, progress=True)
    print(json.dumps({"cohort": str(path), "n": args.n, "split": args.split}))
    return 0
