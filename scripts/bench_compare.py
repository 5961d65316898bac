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

``--engine`` runs the same figures on pairs the product's own segmenter (``--method``, default the
bundled network) has to measure: baselines are held-out generated cases in the real lesion-free head
(``simulation.cases.simulate_case``, val-split lesion shapes, domain-randomised scanner, standard
acquisition), grown, given new IVH and moved with the same random parameters as above
(``pair_from_case``, follow-up on 5 × 0.5 × 0.5 mm for half of them); both scans are segmented and
compared as ``compare`` does. Growth error and labels are against the true masks; registration error
at the hematoma centroid and the brain's bounding-box corners. Needs the shared data.

``--real [CT]`` (default: the shared data's ``realct/mistie_0034.nii.gz``) runs the real-baseline
check instead: the real CT is segmented by ``--method`` (its mask is the baseline truth), then for
each growth scenario (+0 mL as a control, +1, +4, +8, +15 mL of IPH; +1 mL with 3 mL of IVH growth; +1 mL with 3 mL of
new IVH on a copy of the baseline whose IVH is painted out to CSF) the grown copy is painted, moved
by a known random rigid transform and compared (``compare_scans`` with both scans segmented by
``--method``, as ``compare`` does). ``--real-motion 3d`` (default): rotations about every axis, the copy
resampled onto a grid of ``--real-followup-spacing`` with ``--real-followup-axes`` (axial, or the
baseline's own tilted axes) — a stress test, since re-gridding thick slices blurs as no rescan does;
``--real-motion in-plane``: a rotation about the slice normal and an in-plane shift on the baseline's
own grid, the motion a copy of a thick-slice scan can show without inventing anatomy between slices.
``--real-repeats N`` runs every scenario N times with other seeds.
Figures: registration error |recovered(p) − true(p)| over every baseline brain voxel (mean, 95th
percentile, max), growth error (measured − true, true = the true masks on their own grids) and
whether the labels under every definition are right.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "HematomaExpansion"))

from HematomaExpansionLib.anatomy.registration import brain_mask  # noqa: E402
from HematomaExpansionLib.anatomy.ventricles import ventricle_mask  # noqa: E402
from HematomaExpansionLib.core.config import shared_data_dir  # noqa: E402
from HematomaExpansionLib.core.ct_image import CTImage  # noqa: E402
from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH  # noqa: E402
from HematomaExpansionLib.expansion.labels import DEFINITIONS, GrowthFigures, label_from_masks  # noqa: E402
from HematomaExpansionLib.io.ct_files import read_ct  # noqa: E402
from HematomaExpansionLib.pipeline.compare import Scan, compare_scans  # noqa: E402
from HematomaExpansionLib.segmentation.classic import segment_classic  # noqa: E402
from HematomaExpansionLib.segmentation.dispatch import METHODS, describe_method, segment  # noqa: E402
from HematomaExpansionLib.simulation.followup import make_pair, pair_from_case, registration_error_mm  # noqa: E402

DEFAULT_REAL = shared_data_dir() / "realct" / "mistie_0034.nii.gz"
# (name, IPH growth mL, IVH mL added, paint the baseline's IVH out first so the IVH is new)
# the +0 mL control measures what re-gridding alone does to the segmenter's volumes (its bias)
REAL_SCENARIOS = (("+0 mL (control)", 0.0, 0.0, False), ("+1 mL", 1.0, 0.0, False), ("+4 mL", 4.0, 0.0, False), ("+8 mL", 8.0, 0.0, False),
                  ("+15 mL", 15.0, 0.0, False), ("+1 mL, IVH +3 mL", 1.0, 3.0, False),
                  ("+1 mL, new IVH 3 mL", 1.0, 3.0, True))

ABS_THRESHOLD = {"conventional": 6.0, "large": 12.5, "revised1": 6.0, "revised2": 6.0, "revised": 6.0}
IVH_VOLUME_DEFINITIONS = ("revised2", "revised")


def away_from_thresholds(t: GrowthFigures, definition: str) -> bool:
    if abs(t.absolute_growth_ml - ABS_THRESHOLD[definition]) <= 1.0:
        return False
    if t.relative_growth is not None and abs(t.relative_growth - 0.33) <= 0.03:
        return False
    return not (definition in IVH_VOLUME_DEFINITIONS and abs(t.ivh_growth_ml - 1.0) <= 0.5)


def label_accuracy(rows: list[dict], key: str) -> dict:
    """Per definition: the share of pairs away from its thresholds whose label ``row[key][d]`` is right."""
    out = {}
    for d in DEFINITIONS:
        sel = [r[key][d] for r in rows if r["away"][d]]
        out[d] = {"accuracy": round(float(np.mean(sel)), 4) if sel else None, "pairs": len(sel)}
    return out


def pair_parameters(i: int, rng: np.random.Generator) -> dict:
    new_ivh = rng.random() < 0.3
    return {"baseline_ml": float(rng.uniform(8, 40)), "growth_ml": float(rng.choice([rng.uniform(0, 4), rng.uniform(4, 22)])),
            "new_ivh_ml": float(rng.uniform(1.5, 4.0)) if new_ivh else 0.0, "baseline_ivh": not new_ivh,
            "followup_spacing": (3.0, 1.3, 1.3) if i % 2 else None}


# --- real baseline ------------------------------------------------------------------------------
def affine_lps(tx) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with tx(p) = A p + b for a SimpleITK Euler3D transform."""
    a = np.array(tx.GetMatrix(), float).reshape(3, 3)
    c = np.array(tx.GetCenter(), float)
    return a, c + np.array(tx.GetTranslation(), float) - a @ c


def brain_registration_error(recovered, truth, ct: CTImage) -> dict:
    """|recovered(p) − truth(p)| in mm over every brain voxel of the baseline."""
    kji = np.argwhere(brain_mask(ct)).astype(float)
    m = ct.ijk_to_lps()
    pts = kji[:, ::-1] @ m[:3, :3].T + m[:3, 3]
    (a0, b0), (a1, b1) = affine_lps(recovered), affine_lps(truth)
    err = np.linalg.norm(pts @ (a0 - a1).T + (b0 - b1), axis=1)
    return {"mean": float(err.mean()), "p95": float(np.percentile(err, 95)), "max": float(err.max()), "voxels": len(err)}


def without_ivh(ct: CTImage, labels: np.ndarray, rng: np.random.Generator) -> tuple[CTImage, np.ndarray]:
    """The baseline with its IVH painted over by ventricular CSF (and its partial-volume rim in plane)."""
    ivh = labels == LABEL_IVH
    if not ivh.any():
        return ct, labels
    csf = ventricle_mask(ct) & (labels == 0)
    csf_hu = float(np.median(ct.array[csf])) if csf.sum() > 100 else 8.0
    rim = ndi.binary_dilation(ivh, structure=np.ones((1, 3, 3), bool), iterations=2) & (labels != LABEL_IPH)
    paint = ivh | (rim & (ct.array > csf_hu + 10.0))
    hu = ct.array.copy()
    hu[paint] = csf_hu + rng.normal(0.0, 3.0, int(paint.sum()))
    return ct.like(hu.astype(np.float32)), np.where(ivh, 0, labels).astype(labels.dtype)


def real_scenario(ct0: CTImage, lab0: np.ndarray, scenario: tuple, seed: int, args) -> dict:
    name, growth, ivh_ml, new_ivh = scenario
    base_ct, base_lab = ct0, lab0
    if new_ivh:
        base_ct, base_lab = without_ivh(ct0, lab0, np.random.default_rng(seed))
    t0 = time.perf_counter()
    pair = pair_from_case(base_ct, base_lab, seed, growth, ivh_ml, args.max_rotation, args.max_translation,
                          followup_spacing=tuple(args.real_followup_spacing), ivh_region=ventricle_mask(base_ct),
                          followup_axes=args.real_followup_axes, motion=args.real_motion)
    auto0 = base_lab if base_ct is ct0 else segment(base_ct, args.method)  # lab0 is the segmenter's already
    auto1 = segment(pair.followup, args.method)
    cmp = compare_scans(Scan(base_ct, auto0, "baseline", None, args.method), Scan(pair.followup, auto1, "follow-up", None, args.method))
    t, got = pair.truth, cmp.figures
    wrong = [d for d in DEFINITIONS if got.labels[d] != t.labels[d]]
    return {
        "scenario": name, "seed": seed, "true_growth_ml": t.absolute_growth_ml, "true_relative": t.relative_growth,
        "true_ivh_growth_ml": t.ivh_growth_ml, "true_new_ivh": t.new_ivh, "measured_growth_ml": got.absolute_growth_ml,
        "growth_error_ml": got.absolute_growth_ml - t.absolute_growth_ml,
        "ivh_growth_error_ml": got.ivh_growth_ml - t.ivh_growth_ml, "measured_new_ivh": got.new_ivh,
        "ivh_relabelled_ml": cmp.ivh_relabelled_ml,
        "true_labels": t.labels, "labels_wrong": wrong, "labels_right": not wrong,
        "registration_error_brain_mm": brain_registration_error(cmp.registration.transform, pair.transform, base_ct),
        "brain_dice": cmp.registration.brain_dice, "iph_dice_after_registration": cmp.overlap["iph_dice"],
        "true_rotation_deg": pair.info["rotation_deg"], "true_translation_mm": pair.info["translation_mm"],
        "registration_seconds": cmp.registration.seconds, "seconds": time.perf_counter() - t0, "warnings": cmp.warnings,
    }


def real_baseline_bench(args) -> int:
    ct0 = read_ct(args.real)
    lab0 = segment(ct0, args.method)
    rows = []
    for rep in range(args.real_repeats):
        for i, scenario in enumerate(REAL_SCENARIOS):
            r = real_scenario(ct0, lab0, scenario, args.seed + rep * len(REAL_SCENARIOS) + i, args)
            rows.append(r)
            reg = r["registration_error_brain_mm"]
            print(f"{r['scenario']:22s}: true growth {r['true_growth_ml']:+6.2f} mL (IVH {r['true_ivh_growth_ml']:+.2f}), measured "
                  f"{r['measured_growth_ml']:+6.2f} mL, error {r['growth_error_ml']:+.2f} mL (IVH {r['ivh_growth_error_ml']:+.2f}, "
                  f"{r['ivh_relabelled_ml']:.2f} mL relabelled IVH); labels "
                  f"{'right' if r['labels_right'] else 'WRONG: ' + ', '.join(r['labels_wrong'])}; registration "
                  f"{reg['mean']:.2f} mm mean, {reg['max']:.2f} max at brain voxels ({r['seconds']:.0f} s)", file=sys.stderr, flush=True)
    reg_mean = [r["registration_error_brain_mm"]["mean"] for r in rows]
    figures = {
        "baseline": str(args.real), "segmenter": describe_method(args.method),
        "baseline_iph_ml": round(float((lab0 == LABEL_IPH).sum() * ct0.voxel_volume_ml), 2),
        "baseline_ivh_ml": round(float((lab0 == LABEL_IVH).sum() * ct0.voxel_volume_ml), 2),
        "registration_error_brain_mm": {"mean_of_means": round(float(np.mean(reg_mean)), 3),
                                        "max_p95": round(max(r["registration_error_brain_mm"]["p95"] for r in rows), 3),
                                        "max_any_voxel": round(max(r["registration_error_brain_mm"]["max"] for r in rows), 3)},
        "pairs": len(rows),
        "median_abs_growth_error_ml": round(float(np.median(np.abs([r["growth_error_ml"] for r in rows]))), 3),
        "max_abs_growth_error_ml": round(float(np.max(np.abs([r["growth_error_ml"] for r in rows]))), 3),
        "pairs_with_every_label_right": f"{sum(r['labels_right'] for r in rows)}/{len(rows)}",
        "registration_error_brain_mm_max_of_means": round(max(reg_mean), 3),
        "growth_error_ml": {name: [round(r["growth_error_ml"], 2) for r in rows if r["scenario"] == name]
                            for name, *_ in REAL_SCENARIOS},
        "labels_wrong": {name: [r["labels_wrong"] for r in rows if r["scenario"] == name and r["labels_wrong"]]
                         for name, *_ in REAL_SCENARIOS},
        "settings": {"max_rotation_deg": args.max_rotation, "max_translation_mm": args.max_translation,
                     "motion": args.real_motion,
                     "followup_grid": "the baseline's" if args.real_motion == "in-plane" else
                     {"spacing": list(args.real_followup_spacing), "axes": args.real_followup_axes}, "seed": args.seed},
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": figures, "rows": rows}, indent=2, default=float))
    return 0


def engine_pairs_bench(args) -> int:
    from HematomaExpansionLib.simulation.cases import simulate_case

    rng = np.random.default_rng(args.seed)
    rows = []
    i = -1
    while len(rows) < args.pairs and i < 3 * args.pairs:  # IVH-only cases have no IPH to grow: next seed
        i += 1
        kw = pair_parameters(i, rng)
        case = simulate_case(args.seed + i, split="val", variant="standard", domain=True)
        if not (case.labels == LABEL_IPH).any():
            continue
        fs = (5.0, 0.5, 0.5) if kw["followup_spacing"] else None
        ivh_region = ventricle_mask(case.ct) if kw["new_ivh_ml"] else None
        t0 = time.perf_counter()
        try:
            p = pair_from_case(case.ct, case.labels, args.seed + i, kw["growth_ml"], kw["new_ivh_ml"], args.max_rotation,
                               args.max_translation, followup_spacing=fs, ivh_region=ivh_region)
        except ValueError as exc:  # no room to grow in this head
            print(f"pair {i + 1}: skipped ({exc})", file=sys.stderr)
            continue
        auto0, auto1 = segment(p.baseline, args.method), segment(p.followup, args.method)
        cmp = compare_scans(Scan(p.baseline, auto0, "baseline", None, args.method), Scan(p.followup, auto1, "follow-up", None, args.method))
        got = cmp.figures
        err = registration_error_mm(cmp.registration, p.transform, p.reference_points)
        rows.append({
            "seed": args.seed + i, "growth_ml": kw["growth_ml"], "new_ivh_ml": kw["new_ivh_ml"],
            "baseline_iph_ml": p.truth.baseline_iph_ml, "true_growth_ml": p.truth.absolute_growth_ml,
            "measured_growth_ml": got.absolute_growth_ml, "growth_error_ml": got.absolute_growth_ml - p.truth.absolute_growth_ml,
            "ivh_growth_error_ml": got.ivh_growth_ml - p.truth.ivh_growth_ml,
            "registration_error_mean_mm": float(err.mean()), "registration_error_max_mm": float(err.max()),
            "away": {d: away_from_thresholds(p.truth, d) for d in DEFINITIONS},
            "correct": {d: got.labels[d] == p.truth.labels[d] for d in DEFINITIONS}, "true_labels": p.truth.labels,
            "seconds": time.perf_counter() - t0,
        })
        r = rows[-1]
        print(f"pair {len(rows):2d}/{args.pairs} (seed {args.seed + i}): V0 {r['baseline_iph_ml']:5.1f} mL, growth {r['true_growth_ml']:+5.1f} measured "
              f"{r['measured_growth_ml']:+5.1f} mL; IVH error {r['ivh_growth_error_ml']:+.2f} mL; registration "
              f"{r['registration_error_mean_mm']:.2f} mm; labels wrong: {[d for d in DEFINITIONS if not r['correct'][d]]} "
              f"({r['seconds']:.0f} s)", file=sys.stderr, flush=True)
    abs_err = np.abs([r["growth_error_ml"] for r in rows])
    reg = np.array([r["registration_error_mean_mm"] for r in rows])
    figures = {
        "pairs": len(rows), "segmenter": describe_method(args.method),
        "median_abs_growth_error_ml": round(float(np.median(abs_err)), 3), "max_abs_growth_error_ml": round(float(abs_err.max()), 3),
        "mean_signed_growth_error_ml": round(float(np.mean([r["growth_error_ml"] for r in rows])), 3),
        "median_abs_ivh_growth_error_ml": round(float(np.median(np.abs([r["ivh_growth_error_ml"] for r in rows]))), 3),
        "label_accuracy_away_from_thresholds": label_accuracy(rows, "correct"),
        "registration_error_mm": {"mean": round(float(reg.mean()), 3), "max_of_pair_means": round(float(reg.max()), 3),
                                  "max_any_point": round(float(max(r["registration_error_max_mm"] for r in rows)), 3)},
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": figures, "rows": rows}, indent=2, default=float))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--max-rotation", type=float, default=5.0, help="degrees per axis")
    ap.add_argument("--max-translation", type=float, default=5.0, help="mm per axis")
    ap.add_argument("--shape", type=int, nargs=3, default=(32, 128, 128))
    ap.add_argument("--spacing", type=float, nargs=3, default=(3.5, 1.5, 1.5))
    ap.add_argument("--json", help="also write the figures and the per-pair rows here")
    ap.add_argument("--real", nargs="?", const=DEFAULT_REAL, type=Path, default=None,
                    help=f"real-baseline check on this CT instead (default {DEFAULT_REAL})")
    ap.add_argument("--method", choices=METHODS, default="auto", help="segmenter of the --engine and --real checks")
    ap.add_argument("--real-followup-spacing", type=float, nargs=3, default=(5.0, 0.5, 0.5),
                    help="follow-up grid of the real-baseline check (slice, row, column mm)")
    ap.add_argument("--real-repeats", type=int, default=1,
                    help="run every real-baseline scenario this many times, each with its own growth and motion seed")
    ap.add_argument("--real-followup-axes", choices=("axial", "baseline"), default="axial",
                    help="follow-up grid axes of the real-baseline check: axial, or the baseline's own (its gantry tilt)")
    ap.add_argument("--real-motion", choices=("3d", "in-plane"), default="3d",
                    help="head motion of the real-baseline check's follow-up: 3d, or in-plane on the baseline's own "
                         "grid (no resampling across thick slices; overrides the follow-up spacing and axes)")
    ap.add_argument("--engine", action="store_true",
                    help="pairs from generated cases in the real head, both scans segmented by --method (needs the shared data)")
    args = ap.parse_args()
    if args.engine:
        return engine_pairs_bench(args)
    if args.real is not None:
        return real_baseline_bench(args)
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

    reg_mean = np.array([r["registration_error_mean_mm"] for r in rows])
    reg_max = np.array([r["registration_error_max_mm"] for r in rows])
    figures = {
        "pairs": len(rows),
        "median_abs_growth_error_true_masks_ml": round(float(np.median([r["growth_error_true_masks_ml"] for r in rows])), 4),
        "median_abs_growth_error_classic_ml": round(float(np.median([r["growth_error_classic_ml"] for r in rows])), 3),
        "max_abs_growth_error_classic_ml": round(float(np.max([r["growth_error_classic_ml"] for r in rows])), 3),
        "label_accuracy_away_from_thresholds_true_masks": label_accuracy(rows, "correct_true_masks"),
        "label_accuracy_away_from_thresholds_classic": label_accuracy(rows, "correct_classic"),
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
