#!/usr/bin/env python
"""Best AUC any model could reach on a simulated cohort: the growth model's own probabilities.

Every simulated patient carries its growth model's linear predictor η (``sim_eta``); its relative
growth is exp(η + GROWTH_SIGMA·ε), and a patient without IVH ruptures into the ventricles with
``new_ivh_probability``. Scoring each patient by the probability of its label under that model
(Monte Carlo over ε and the rupture draw) is the Bayes-optimal ranking: no image model can beat
its AUC, it can only approach it. Prints that ceiling per definition next to the labels' prevalence.
``revised2`` is left out: its IVH growth depends on how much room the ventricles leave the grown IVH
and on the size of the placed new IVH, which the cohort does not record.

    python scripts/cohort_ceiling.py work-data/cohort_test/cohort.csv
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

from HematomaExpansionLib.core.results import LABEL_IVH  # noqa: E402
from HematomaExpansionLib.expansion import labels as L  # noqa: E402
from HematomaExpansionLib.simulation import cohort as C  # noqa: E402

DRAWS = 4000


def label_probabilities(row: dict, base: Path, rng: np.random.Generator) -> dict[str, float]:
    """P(label) per definition for one simulated patient under the growth model that made it."""
    split = "val" if row["case_id"].startswith("val") else "train"
    seed = int(row["case_id"][len(split):])
    mask0 = sitk.ReadImage(str(base / row["baseline_mask"]))
    m0 = sitk.GetArrayFromImage(mask0)
    vml = float(np.prod(mask0.GetSpacing())) / 1000.0
    v0, ivh0 = float((m0 == 1).sum() * vml), float((m0 == LABEL_IVH).sum() * vml)
    k = int(np.random.default_rng([seed, 7, 0 if split == "train" else 1]).integers(C.N_BACKGROUNDS))
    bg = C._background(split, k)
    near = C.near_ventricle(bg, m0 == 1) if v0 > 0 else False
    r = np.exp(float(row["sim_eta"]) + C.GROWTH_SIGMA * rng.standard_normal(DRAWS))
    growth = r * v0
    che = (growth >= L.ABS_CONVENTIONAL_ML) | (r >= L.REL_THRESHOLD)
    b0, b_growth, b_near = C.NEW_IVH_B
    rupture = rng.random(DRAWS) < 1.0 / (1.0 + np.exp(-(b0 + b_growth * r + b_near * float(near))))
    new_ivh = rupture if ivh0 == 0 else np.zeros(DRAWS, bool)
    return {"conventional": float(((growth > L.ABS_CONVENTIONAL_ML) | (r > L.REL_THRESHOLD)).mean()),
            "large": float(((growth > L.ABS_LARGE_ML) | (r > L.REL_THRESHOLD)).mean()),
            "revised1": float((che | new_ivh).mean())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cohort_csv", help="cohort.csv written by simulate-cohort")
    args = ap.parse_args(argv)
    from sklearn.metrics import roc_auc_score

    path = Path(args.cohort_csv)
    rows = list(csv.DictReader(path.open()))
    rng = np.random.default_rng(0)
    probs, labels = [], []
    for row in rows:
        probs.append(label_probabilities(row, path.parent, rng))
        labels.append(L.label_from_files(path.parent / row["baseline_mask"], path.parent / row["followup_mask"]).labels)
    print(f"{len(rows)} simulated patients ({path}); growth model {C.GROWTH_MODEL_VERSION}, noise SD {C.GROWTH_SIGMA}")
    print(f"{'definition':<13} {'prevalence':>10} {'ceiling AUC':>12}")
    for name in ("conventional", "large", "revised1"):
        y = np.array([lab[name] for lab in labels])
        p = np.array([q[name] for q in probs])
        print(f"{name:<13} {y.mean():10.3f} {roc_auc_score(y, p):12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
