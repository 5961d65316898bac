"""Model commands of the `hematoma-expansion` CLI: label, train, evaluate, simulate-cohort."""

from __future__ import annotations

import json
from typing import Any

from ..core import config
from ..core.errors import HematomaExpansionError
from ..expansion.classifier import CALIBRATIONS, MODELS, SELECTIONS
from ..expansion.labels import DEFAULT_DEFINITION, DEFINITION_TEXT, DEFINITIONS, label_from_files
from ..features.radiomics import FILTERS
from ..simulation.cohort import simulate_cohort
from ..training.cohort import MASK_SOURCES
from ..training.fit import DEFAULT_CLF
from ..training.workflows import OUTCOMES, run_evaluation, run_training


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "label", help="expansion label and growth figures from baseline + follow-up masks",
        description="Hematoma-expansion label from two segmentations (labels 1 = IPH, 2 = IVH). Prints one JSON "
                    "line: absolute/relative IPH growth, IVH growth, new IVH, the label under every definition, "
                    "and 'label' for the chosen one. Each definition keeps its source's inequality: > 6 mL / > 33 %% for "
                    "conventional and large, ≥ 6 mL / ≥ 33 %% for revised1 and revised2; IVH growth ≥ 1 mL.")
    p.add_argument("--baseline", required=True, metavar="MASK0", help="baseline segmentation (NIfTI/NRRD)")
    p.add_argument("--followup", required=True, metavar="MASK1", help="follow-up segmentation of the same patient")
    p.add_argument("--definition", choices=DEFINITIONS, default=None,
                   help="print 'label' for this definition too (default: only the labels under every definition). "
                        + "; ".join(f"{k}: {v}" for k, v in DEFINITION_TEXT.items()).replace("%", "%%"))
    p.set_defaults(func=cmd_label)

    def common(q, report_default: str):
        q.add_argument("cohort", metavar="COHORT.csv",
                       help="table with baseline_ct, optional baseline_mask; per row the label comes from followup_mask "
                            "(with baseline_mask), else a 0/1 label, else followup_ct: the follow-up CT is segmented by the "
                            "bundled segmenter (cached per file and segmenter) and the label computed under --definition "
                            "from the baseline (baseline_mask, else auto-segmented) and follow-up IPH/IVH volumes; a row "
                            "whose follow-up CT cannot be read or segmented is skipped and listed in the report. Optional "
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
    cv_options(t)
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
    cv_options(e, " (with --cv)")
    e.set_defaults(func=cmd_evaluate)

    s = subparsers.add_parser(
        "simulate-cohort", help="write a simulated baseline/follow-up cohort (needs the shared data)",
        description="Simulated expansion cohort from real hematoma shapes painted into a real head CT, grown by "
                    "the documented growth model of simulation/cohort.py. NOT clinical data.")
    s.add_argument("out_dir", metavar="OUT_DIR")
    s.add_argument("--n", type=int, default=200, help="number of patients (default %(default)s)")
    s.add_argument("--split", choices=("train", "val"), default="train", help="lesion-shape split (val = held-out shapes)")
    s.add_argument("--seed0", type=int, default=0)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_simulate)


def cv_options(q, when: str = "") -> None:
    q.add_argument("--outcome", choices=OUTCOMES, default="label",
                   help=f"what the model learns from{when}: 'label' = each case's expansion label (the fusion classifier); "
                        "'growth' = each case's measured IPH growth "
                        "(needs baseline and follow-up masks): a regression of log relative growth read through the "
                        "definition's threshold, plus the IVH event of a revised definition (expansion/growth_classifier.py). "
                        "Default %(default)s")
    q.add_argument("--end-to-end", action="store_true",
                   help=f"also score each left-out fold{when} on features measured on the bundled segmenter's masks, as the "
                        "one-button pipeline will see them (the model is still fitted on the given masks); the report "
                        "gets a second row and predictions.csv a probability_segmenter_masks column. Segments every "
                        "baseline CT once (cached)")
    q.add_argument("--exclude-features", nargs="+", default=[], metavar="NAME",
                   help=f"image features left out of the model{when} (e.g. ones your masks cannot measure reliably: "
                        "compare the two rows of --end-to-end); names as in a model's feature list")


# --- commands --------------------------------------------------------------------------------
def cmd_label(args) -> int:
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


def cmd_train(args) -> int:
    out = run_training(args.cohort, args.definition, _clf_params(args), args.folds, args.seed, tuple(args.filters),
                       args.models_dir, args.model_id, args.version, args.report_dir, not args.no_save,
                       not args.no_cache, not args.quiet, args.cnn, args.cnn_epochs, args.workers, args.mask_source,
                       args.outcome, args.end_to_end, tuple(args.exclude_features))
    print(json.dumps(out))
    return 0


def cmd_evaluate(args) -> int:
    if args.cv:
        out = run_training(args.cohort, args.definition, dict(DEFAULT_CLF), args.folds, 0, ("Original",),
                           report_dir=args.report_dir, save=False, use_cache=not args.no_cache, progress=not args.quiet,
                           workers=args.workers, mask_source=args.mask_source, outcome=args.outcome,
                           end_to_end=args.end_to_end, exclude_features=tuple(args.exclude_features))
    else:
        if args.end_to_end or args.outcome != "label" or args.exclude_features:
            raise HematomaExpansionError("--outcome, --end-to-end and --exclude-features apply to --cv; a trained model "
                                         "is scored on the masks --mask-source names (auto = end to end)")
        out = run_evaluation(args.cohort, args.definition, args.models_dir, args.model_id, args.report_dir,
                             args.threshold, not args.no_cache, not args.quiet, args.workers, args.mask_source)
    print(json.dumps(out, default=float))
    return 0


def cmd_simulate(args) -> int:
    if not (config.shared_data_dir() / "realct").exists():
        raise HematomaExpansionError(
            f"simulate-cohort needs the shared data (real head CT + lesion masks) at {config.shared_data_dir()}; "
            "set HEMEXP_SHARED_DATA")
    if args.n < 1:
        raise HematomaExpansionError("--n must be ≥ 1")
    path = simulate_cohort(args.out_dir, args.n, args.split, args.seed0, args.workers, progress=True)
    print(json.dumps({"cohort": str(path), "n": args.n, "split": args.split}))
    return 0
