#!/usr/bin/env python
"""Train on manual or on automatic masks? Cross-validated on the training cohort, scored end to end.

For each definition: patient-level k-fold cross-validation of the expansion classifier (the bundled
recipe, image + clinical features, no CNN) fitted on the baseline_mask column's features, on the bundled
segmenter's masks' features, and on both, each scored on the segmenter's masks of the left-out patients
(`training/mask_source.py`). Prints one line per definition and the mean; the arm to pass to
`train --mask-source` (or `MASK_SOURCE=` of scripts/build_expansion_model.sh) is the best one. Without
`--heldout` only the training cohort is read, so the choice does not touch held-out data. Features are cached per case, so a
later `train` on the chosen masks reuses them.

`--heldout HELDOUT.csv` also fits each arm on every training patient and scores the held-out cohort's
segmenter's masks end to end (AUC, calibration slope); `--skip-cv` runs that check alone. The CV once
favoured the segmenter's masks by 0.014-0.021 and the held-out patients showed no gain (model card), so
check a CV choice there before building.

    python scripts/compare_mask_sources.py work-data/cohort_train/cohort.csv [--n 1024] [--workers 2]
        [--heldout work-data/cohort_test/cohort.csv [--skip-cv]]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "HematomaExpansion"))

from HematomaExpansionLib.expansion.labels import PUBLISHED_DEFINITIONS  # noqa: E402
from HematomaExpansionLib.training.cohort import Case, read_cohort  # noqa: E402
from HematomaExpansionLib.training.cv import assemble, has_clinical  # noqa: E402
from HematomaExpansionLib.training.feature_cache import extract_features  # noqa: E402
from HematomaExpansionLib.training.fit import DEFAULT_CLF  # noqa: E402
from HematomaExpansionLib.training.followup_labels import label_cohort  # noqa: E402
from HematomaExpansionLib.training.mask_source import ARMS, mask_source_cv, mask_source_heldout  # noqa: E402


def labels_by_definition(cases: list[Case], definitions: list[str]) -> dict[str, np.ndarray]:
    """Every definition's labels (mask volumes are cached per file, so each mask is read once)."""
    out = {}
    for d in definitions:
        labelled = label_cohort(cases, d, progress=False)
        if len(labelled.cases) != len(cases):
            raise SystemExit(f"{len(labelled.skipped)} rows have no {d} label: {labelled.skipped[:3]}")
        out[d] = labelled.labels
    return out


def heldout_check(args, Xg, Xa, names, labels, with_clinical) -> dict[str, dict[str, dict[str, float]]]:
    """Each arm fitted on every training patient, scored end to end on the held-out cohort."""
    held_auto = read_cohort(args.heldout, "auto")  # the label still comes from the baseline_mask column
    Xh, _ = assemble(extract_features(held_auto, workers=args.workers), held_auto, with_clinical, names=names)
    held_labels = labels_by_definition(held_auto, list(labels))
    out = {}
    for definition, y in labels.items():
        out[definition] = mask_source_heldout(Xg, Xa, y, Xh, held_labels[definition], names, DEFAULT_CLF)
        print(f"{definition} held out", "  ".join(
            f"{arm} {r['auc']:.3f} (slope {r['calibration_slope']:.2f})" for arm, r in out[definition].items()), flush=True)
    print(f"(end-to-end AUC on {len(held_auto)} held-out patients' segmenter's masks, each arm fitted on every "
          "training patient)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cohort", help="training cohort table (baseline_ct, baseline_mask, follow-up or label)")
    ap.add_argument("--n", type=int, default=None, help="use the first N rows only")
    ap.add_argument("--definitions", nargs="+", default=list(PUBLISHED_DEFINITIONS),
                    choices=PUBLISHED_DEFINITIONS)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1, help="parallel processes for feature extraction")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--heldout", help="held-out cohort table: also score each arm, fitted on every training "
                                      "patient, on its segmenter's masks")
    ap.add_argument("--skip-cv", action="store_true", help="only the held-out check (needs --heldout)")
    args = ap.parse_args(argv)
    if args.skip_cv and not args.heldout:
        ap.error("--skip-cv needs --heldout")

    given = read_cohort(args.cohort, "given")[: args.n]
    auto = read_cohort(args.cohort, "auto")[: args.n]
    if any(c.feature_mask is None for c in given):
        raise SystemExit("every row needs a baseline_mask: the comparison is manual against automatic masks")
    with_clinical = all(has_clinical(c) for c in given)
    Xg, names = assemble(extract_features(given, workers=args.workers), given, with_clinical)
    Xa, _ = assemble(extract_features(auto, workers=args.workers), auto, with_clinical, names=names)
    patients = [c.patient_id for c in given]
    labels = labels_by_definition(given, args.definitions)
    result: dict[str, object] = {"n": len(given), "folds": args.folds}
    if not args.skip_cv:
        figures: dict[str, dict[str, float]] = {}
        for definition, y in labels.items():
            figures[definition] = mask_source_cv(Xg, Xa, y, patients, names, DEFAULT_CLF, args.folds)
            print(definition, "  ".join(f"{arm} {figures[definition][arm]:.3f}" for arm in ARMS), flush=True)
        mean = {arm: float(np.mean([f[arm] for f in figures.values()])) for arm in ARMS}
        print("mean", "  ".join(f"{arm} {mean[arm]:.3f}" for arm in ARMS))
        print(f"(out-of-fold AUC on the segmenter's masks, {len(given)} patients, {args.folds}-fold, by training masks)")
        result.update(auc=figures, mean=mean)
    if args.heldout:
        result["heldout"] = heldout_check(args, Xg, Xa, names, labels, with_clinical)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
