#!/usr/bin/env python
"""Best AUC any model could reach on a simulated cohort: the growth model's own probabilities.

Every simulated patient carries its growth model's linear predictor η (``sim_eta``); its relative
growth is exp(η + GROWTH_SIGMA·ε). Scoring each patient by the probability of its label under that
model is the Bayes-optimal ranking: no image model can beat its AUC, it can only approach it.
``conventional`` and ``large`` depend on r alone (Monte Carlo over ε, ``DRAWS`` draws). Under
growth-3 a new IVH (``revised1``, ``revised2``) follows from where the grown hematoma reaches, so with
``--geometry-draws K`` each patient's follow-up is grown again K times (``cohort.grow_followup``, new ε
and growth direction each time; about a second per draw) and all four labels are counted on the grown
masks. Prints the ceiling per definition next to the labels' prevalence.

    python scripts/cohort_ceiling.py work-data/cohort_test/cohort.csv [--geometry-draws 10]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "HematomaExpansion"))

from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH  # noqa: E402
from HematomaExpansionLib.expansion import labels as L  # noqa: E402
from HematomaExpansionLib.simulation import cohort as C  # noqa: E402

DRAWS = 4000
DEFINITIONS = L.PUBLISHED_DEFINITIONS


def _background_of(row: dict):
    split = "val" if row["case_id"].startswith("val") else "train"
    seed = int(row["case_id"][len(split):])
    k = int(np.random.default_rng([seed, 7, 0 if split == "train" else 1]).integers(C.N_BACKGROUNDS))
    return C._background(split, k), split, seed


def growth_only_probabilities(row: dict, base: Path, rng: np.random.Generator) -> dict[str, float]:
    """P(label) for the definitions that depend on the IPH's relative growth alone."""
    mask0 = sitk.ReadImage(str(base / row["baseline_mask"]))
    v0 = float((sitk.GetArrayFromImage(mask0) == LABEL_IPH).sum() * np.prod(mask0.GetSpacing()) / 1000.0)
    r = np.exp(float(row["sim_eta"]) + C.GROWTH_SIGMA * rng.standard_normal(DRAWS))
    growth = r * v0
    return {"conventional": float(((growth > L.ABS_CONVENTIONAL_ML) | (r > L.REL_THRESHOLD)).mean()),
            "large": float(((growth > L.ABS_LARGE_ML) | (r > L.REL_THRESHOLD)).mean())}


def geometry_probabilities(row: dict, base: Path, draws: int) -> dict[str, float]:
    """P(label) for every definition, growing the follow-up ``draws`` times as the cohort did."""
    bg, split, seed = _background_of(row)
    m0 = sitk.GetArrayFromImage(sitk.ReadImage(str(base / row["baseline_mask"])))
    iph, ivh = m0 == LABEL_IPH, m0 == LABEL_IVH
    shapes = C._shapes(split)
    spacing = bg.spacing
    hits = dict.fromkeys(DEFINITIONS, 0)
    for d in range(draws):
        rng = np.random.default_rng([seed, 11, d])
        r = float(np.exp(float(row["sim_eta"]) + C.GROWTH_SIGMA * rng.standard_normal()))
        iph1, ivh1, _ = C.grow_followup(bg, iph, ivh, r, shapes[int(rng.integers(len(shapes)))], rng)
        m1 = np.where(iph1, LABEL_IPH, np.where(ivh1, LABEL_IVH, 0)).astype(np.uint8)
        g = L.label_from_masks(m0, spacing, m1, spacing)
        for name in DEFINITIONS:
            hits[name] += int(g.label(name))
    return {name: hits[name] / draws for name in DEFINITIONS}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cohort_csv", help="cohort.csv written by simulate-cohort")
    ap.add_argument("--geometry-draws", type=int, default=0,
                    help="grow each follow-up this many times to score the revised definitions too (0: skip them)")
    args = ap.parse_args(argv)
    from sklearn.metrics import roc_auc_score

    path = Path(args.cohort_csv)
    rows = list(csv.DictReader(path.open()))
    rng = np.random.default_rng(0)
    probs, labels = [], []
    for row in rows:
        p = growth_only_probabilities(row, path.parent, rng)
        if args.geometry_draws:
            p.update({k: v for k, v in geometry_probabilities(row, path.parent, args.geometry_draws).items()
                      if k.startswith("revised")})
        probs.append(p)
        labels.append(L.label_from_files(path.parent / row["baseline_mask"], path.parent / row["followup_mask"]).labels)
    print(f"{len(rows)} simulated patients ({path}); growth model {C.GROWTH_MODEL_VERSION}, noise SD {C.GROWTH_SIGMA}"
          + (f", {args.geometry_draws} grown follow-ups each" if args.geometry_draws else ""))
    print(f"{'definition':<13} {'prevalence':>10} {'ceiling AUC':>12}")
    for name in DEFINITIONS:
        if name not in probs[0]:
            continue
        y = np.array([lab[name] for lab in labels])
        p = np.array([q[name] for q in probs])
        print(f"{name:<13} {y.mean():10.3f} {roc_auc_score(y, p):12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
