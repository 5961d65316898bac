#!/usr/bin/env python
"""Baseline vs follow-up benchmark: growth, expansion labels and rigid registration on simulated pairs.

Pairs: ``simulation.followup.make_pair`` (the phantom head, IPH grown by a random known volume,
new IVH in some, the follow-up moved by a random rigid transform of up to ``--max-rotation``
degrees and ``--max-translation`` mm per axis and resampled onto another grid for half of them).
For every pair the comparison (``pipeline.compare.compare_scans``) runs with the true masks, and
the growth is measured again with the classic segmenter's masks (the ``--method classic`` path).

Figures: median / max absolute growth error (mL) with true and with classic masks; label accuracy
per definition on the pairs away from its thresholds (|growth − A| > 1 mL with A = 6 mL, 12.5 mL
for ``large``, and relative growth not within 33 % ± 3 points; IVH growth not within 1 ± 0.5 mL
for the IVH-volume definitions); registration error = |recovered(p) − true(p)| at the hematoma
centroid and the 8 corners of the brain's bounding box (mean over points, then mean and max over
pairs); registration seconds. Needs nothing but the package (no shared data).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "HematomaExpansion"))

from HematomaExpansionLib.expansion.labels import DEFINITIONS, GrowthFigures, label_from_masks  # noqa: E402
from HematomaExpansionLib.pipeline.compare import Scan, compare_scans  # noqa: E402
from HematomaExpansionLib.segmentation.classic import segment_classic  # noqa: E402
from HematomaExpansionLib.simulation.followup import make_pair, registration_error_mm  # noqa: E402

ABS_THRESHOLD = {"conventional": 6.0, "large": 12.5, "revised1": 6.0, "revised2": 6.0, "revised": 6.0}
IVH_VOLUME_DEFINITIONS = ("revised2", "revised")


def away_from_thresholds(t: GrowthFigures, definition: str) -> bool:
    if abs(t.absolute_growth_ml - ABS_THRESHOLD[definition]) <= 1.0:
        return False
    if t.relative_growth is not None and abs(t.relative_growth - 0.33) <= 0.03:
        return False
    return not (definition in IVH_VOLUME_DEFINITIONS and abs(t.ivh_growth_ml - 1.0) <= 0.5)


def pair_parameters(i: int, rng: np.random.Generator) -> dict:
    new_ivh = rng.random() < 0.3
    return {"baseline_ml": float(rng.uniform(8, 40)), "growth_ml": float(rng.choice([rng.uniform(0, 4), rng.uniform(4, 22)])),
            "new_ivh_ml": float(rng.uniform(1.5, 4.0)) if new_ivh else 0.0, "baseline_ivh": not new_ivh,
            "followup_spacing": (3.0, 1.3, 1.3) if i % 2 else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--max-rotation", type=float, default=5.0, help="degrees per axis")
    ap.add_argument("--max-translation", type=float, default=5.0, help="mm per axis")
    ap.add_argument("--shape", type=int, nargs=3, default=(32, 128, 128))
    ap.add_argument("--spacing", type=float, nargs=3, default=(3.5, 1.5, 1.5))
    ap.add_argument("--json", help="also write the figures and the per-pair rows here")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for i in range(args.pairs):
        kw = pair_parameters(i, rng)
        fs = kw.pop("followup_spacing")
        p = make_pair(args.seed + i, **kw, max_rotation_deg=args.max_rotation, max_translation_mm=args.max_translation,
                      shape=tuple(args.shape), spacing=tuple(args.spacing), followup_spacing=fs)
        t0 = time.perf_counter()
        cmp = compare_scans(Scan(p.baseline, p.baseline_labels, "b", "bm", "given"),
                            Scan(p.followup, p.followup_labels, "f", "fm", "given"))
        seconds = time.perf_counter() - t0
        classic = label_from_masks(segment_classic(p.baseline), p.baseline.spacing, segment_classic(p.followup), p.followup.spacing)
        err = registration_error_mm(cmp.registration, p.transform, p.reference_points)
        rows.append({
            "seed": args.seed + i, **kw, "true_growth_ml": p.truth.absolute_growth_ml, "true_relative": p.truth.relative_growth,
            "growth_error_true_masks_ml": abs(cmp.figures.absolute_growth_ml - p.truth.absolute_growth_ml),
            "growth_error_classic_ml": abs(classic.absolute_growth_ml - p.truth.absolute_growth_ml),
            "registration_error_mean_mm": float(err.mean()), "registration_error_max_mm": float(err.max()),
            "registration_seconds": seconds, "brain_dice": cmp.registration.brain_dice,
            "true_rotation_deg": p.info["rotation_deg"], "true_translation_mm": p.info["translation_mm"],
            "away": {d: away_from_thresholds(p.truth, d) for d in DEFINITIONS},
            "correct_true_masks": {d: cmp.figures.labels[d] == p.truth.labels[d] for d in DEFINITIONS},
            "correct_classic": {d: classic.labels[d] == p.truth.labels[d] for d in DEFINITIONS},
            "true_labels": p.truth.labels,
        })
        r = rows[-1]
        print(f"pair {i + 1:2d}/{args.pairs}: growth {r['true_growth_ml']:5.1f} mL, error true {r['growth_error_true_masks_ml']:.3f} "
              f"classic {r['growth_error_classic_ml']:.2f} mL; registration {r['registration_error_mean_mm']:.2f} mm "
              f"(max {r['registration_error_max_mm']:.2f}) in {seconds:.1f} s", file=sys.stderr, flush=True)

    def accuracy(key: str) -> dict:
        out = {}
        for d in DEFINITIONS:
            sel = [r[key][d] for r in rows if r["away"][d]]
            out[d] = {"accuracy": round(float(np.mean(sel)), 4) if sel else None, "pairs": len(sel)}
        return out

    reg_mean = np.array([r["registration_error_mean_mm"] for r in rows])
    reg_max = np.array([r["registration_error_max_mm"] for r in rows])
    figures = {
        "pairs": len(rows),
        "median_abs_growth_error_true_masks_ml": round(float(np.median([r["growth_error_true_masks_ml"] for r in rows])), 4),
        "median_abs_growth_error_classic_ml": round(float(np.median([r["growth_error_classic_ml"] for r in rows])), 3),
        "max_abs_growth_error_classic_ml": round(float(np.max([r["growth_error_classic_ml"] for r in rows])), 3),
        "label_accuracy_away_from_thresholds_true_masks": accuracy("correct_true_masks"),
        "label_accuracy_away_from_thresholds_classic": accuracy("correct_classic"),
        "registration_error_mm": {"mean": round(float(reg_mean.mean()), 3), "max_of_pair_means": round(float(reg_mean.max()), 3),
                                  "max_any_point": round(float(reg_max.max()), 3)},
        "registration_seconds_median": round(float(np.median([r["registration_seconds"] for r in rows])), 2),
        "settings": {"max_rotation_deg": args.max_rotation, "max_translation_mm": args.max_translation,
                     "shape": list(args.shape), "spacing": list(args.spacing)},
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": figures, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
