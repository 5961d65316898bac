#!/usr/bin/env python
"""Segmentation benchmark (`make bench-seg`): bundled network vs classical baseline, side by side.

Held-out cases: ``simulation.cases.simulate_case(seed, split="val")`` — real *val-split* HemSeg-500
lesion shapes (never seen in training) placed into the real head CT with random derived
anatomy and acquisition variants (thin/thick slices, gantry tilt, skull-stripped, 512² pixels).
Lesion-free heads: the real cranium_invesalius CT as is, and four derived lesion-free variants.

Figures per method: median Dice (all hemorrhage), median IPH / IVH Dice where present, mean
absolute volume error (mL, all hemorrhage), mean absolute error of ABC/2 against the true IPH
volume on the same cases (the bedside formula applied to the true mask), false-positive volume
(mL) on the lesion-free heads, seconds per 512×512×~30 scan (median of 3).
Needs the shared data (``HEMEXP_SHARED_DATA``); exits 0 with a message when it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "HematomaExpansion"))

from HematomaExpansionLib.core import config  # noqa: E402
from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH  # noqa: E402
from HematomaExpansionLib.features.measurement import measure  # noqa: E402
from HematomaExpansionLib.segmentation import net as segmentation_net  # noqa: E402
from HematomaExpansionLib.segmentation.classic import segment_classic  # noqa: E402
from HematomaExpansionLib.simulation.backgrounds import load_background_heads  # noqa: E402
from HematomaExpansionLib.simulation.cases import simulate_case  # noqa: E402
from HematomaExpansionLib.simulation.resampling import center_lps, resample_case  # noqa: E402
from HematomaExpansionLib.simulation.variants import apply_variant  # noqa: E402

TARGETS = {"median_dice": 0.92, "fp_ml": 0.5, "seconds_512x512x30": 5.0}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = a.sum() + b.sum()
    return float(2.0 * (a & b).sum() / s) if s else 1.0


def abc2_ml(ct, labels) -> float:
    return float(measure(ct, labels).abc2_ml)


def methods(which=("net", "classic"), weights=None):
    """The segmenters to compare; ``weights`` benchmarks a candidate weight file instead of the bundled one."""
    out = {}
    if "net" in which:
        if weights is not None or segmentation_net.weights_available():
            model = segmentation_net.load_model(weights)  # None = the bundled, sha256-checked weights
            out["net"] = lambda ct: segmentation_net.segment_net(ct, model=model)
        else:
            print("NOTE: no bundled network weights (models/manifest.json) — net column skipped")
    if "classic" in which:
        out["classic"] = segment_classic
    return out


def make_512_scan(seed: int):
    """A 512×512×~30 scan (0.488 mm pixels, 5 mm slices) from a held-out case."""
    case = simulate_case(seed, split="val", variant="standard")
    # centred 512×512×30 grid in the case's frame
    d = case.ct.direction
    c = center_lps(case.ct)
    size = np.array([512, 512, 30])
    sp = np.array([0.488, 0.488, 5.0])
    origin = c - d @ ((size - 1) / 2.0 * sp)
    ct, lab = resample_case(case.ct, case.labels, tuple(sp), d, size=tuple(size), origin=tuple(origin))
    return ct, lab


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=30)
    ap.add_argument("--seed", type=int, default=100000)
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", nargs="+", choices=("net", "classic"), default=["net", "classic"])
    ap.add_argument("--weights", default=None, help="benchmark this weight file instead of the bundled network")
    args = ap.parse_args(argv)
    data = config.shared_data_dir()
    if not (data / "realct" / "cranium_invesalius.nii.gz").exists() or not (data / "lesion_masks").exists():
        print(f"bench-seg skipped: shared data not found under {data} (set HEMEXP_SHARED_DATA)")
        return 0
    import torch

    torch.set_num_threads(args.threads)
    meths = methods(args.methods, args.weights)
    if not meths:
        print("nothing to benchmark")
        return 1
    rows = []
    t_all = time.time()
    for i in range(args.cases):
        seed = args.seed + i
        case = simulate_case(seed, split="val")
        if case.meta["variant"] == "nohem":  # lesion cases only here; lesion-free heads below
            case = simulate_case(seed, split="val", variant="standard")
        truth = case.labels
        tv = float((truth > 0).sum() * case.ct.voxel_volume_ml)
        tv_iph = float((truth == LABEL_IPH).sum() * case.ct.voxel_volume_ml)
        row = {"seed": seed, "variant": case.meta["variant"], "compartment": case.meta.get("compartment"),
               "lesion": case.meta.get("lesion"), "true_ml": tv, "true_iph_ml": tv_iph,
               "abc2_ml": abc2_ml(case.ct, truth)}
        for name, fn in meths.items():
            t = time.time()
            pred = fn(case.ct)
            row[f"{name}_s"] = time.time() - t
            row[f"{name}_dice"] = dice(pred > 0, truth > 0)
            row[f"{name}_ml"] = float((pred > 0).sum() * case.ct.voxel_volume_ml)
            row[f"{name}_iph_ml"] = float((pred == LABEL_IPH).sum() * case.ct.voxel_volume_ml)
            if (truth == LABEL_IPH).any():
                row[f"{name}_dice_iph"] = dice(pred == LABEL_IPH, truth == LABEL_IPH)
            if (truth == LABEL_IVH).any():
                row[f"{name}_dice_ivh"] = dice(pred == LABEL_IVH, truth == LABEL_IVH)
        rows.append(row)
        print(f"[{i + 1}/{args.cases}] {row['variant']:<10} {str(row['compartment']):<8} true {tv:6.2f} mL  " + "  ".join(
            f"{n}: dice {row[f'{n}_dice']:.3f} vol {row[f'{n}_ml']:6.2f}" for n in meths), flush=True)

    # lesion-free real heads
    heads = load_background_heads()
    free = [("cranium_invesalius (as is)", heads[0])]
    for j, variant in enumerate(("standard", "thick5", "tilt", "skullstrip")):
        c = simulate_case(args.seed + 5000 + j, split="val", variant="nohem")
        c2_ct, _, _ = apply_variant(c.ct, c.labels, variant, np.random.default_rng(j))
        free.append((f"derived lesion-free head ({variant})", c2_ct))
    fp = {n: [] for n in meths}
    for label, ct in free:
        for n, fn in meths.items():
            pred = fn(ct)
            fp[n].append(float((pred > 0).sum() * ct.voxel_volume_ml))
        print(f"lesion-free {label}: " + "  ".join(f"{n} FP {fp[n][-1]:.3f} mL" for n in meths), flush=True)

    # timing on a 512x512x30 scan
    ct512, _ = make_512_scan(args.seed + 9000)
    secs = {}
    for n, fn in meths.items():
        ts = []
        for _ in range(3):
            t = time.time()
            fn(ct512)
            ts.append(time.time() - t)
        secs[n] = float(np.median(ts))

    summary = {}
    for n in meths:
        d = np.array([r[f"{n}_dice"] for r in rows])
        vol_err = np.array([abs(r[f"{n}_ml"] - r["true_ml"]) for r in rows])
        iph_err = np.array([abs(r[f"{n}_iph_ml"] - r["true_iph_ml"]) for r in rows if r["true_iph_ml"] > 0])
        di = [r[f"{n}_dice_iph"] for r in rows if f"{n}_dice_iph" in r]
        dv = [r[f"{n}_dice_ivh"] for r in rows if f"{n}_dice_ivh" in r]
        summary[n] = {
            "median_dice": float(np.median(d)),
            "mean_dice": float(np.mean(d)),
            "median_dice_iph": float(np.median(di)) if di else None,
            "median_dice_ivh": float(np.median(dv)) if dv else None,
            "mean_abs_volume_error_ml": float(vol_err.mean()),
            "mean_abs_iph_volume_error_ml": float(iph_err.mean()) if len(iph_err) else None,
            "fp_ml_mean": float(np.mean(fp[n])),
            "fp_ml_max": float(np.max(fp[n])),
            "seconds_512x512x30": secs[n],
            "seconds_per_case_mean": float(np.mean([r[f"{n}_s"] for r in rows])),
        }
    abc = np.array([abs(r["abc2_ml"] - r["true_iph_ml"]) for r in rows if r["true_iph_ml"] > 0])
    summary["abc2"] = {"mean_abs_error_vs_true_iph_ml": float(abc.mean()) if len(abc) else None,
                       "n_cases_with_iph": int(len(abc))}
    summary["n_cases"] = len(rows)
    summary["n_lesion_free_heads"] = len(free)
    summary["torch_threads"] = args.threads
    summary["load_average"] = os.getloadavg()[0]
    summary["wall_s"] = round(time.time() - t_all, 1)

    print()
    print(f"Segmentation benchmark — {len(rows)} held-out generated cases (val-split lesion shapes), "
          f"{len(free)} lesion-free real heads")
    print(f"{'figure':<44}" + "".join(f"{n:>12}" for n in meths) + f"{'target':>12}")

    def line(title, key, fmt="{:.3f}", target=""):
        vals = "".join(f"{(fmt.format(summary[n][key]) if summary[n][key] is not None else '-'):>12}" for n in meths)
        print(f"{title:<44}{vals}{target:>12}")

    line("median Dice (all hemorrhage)", "median_dice", target=">= 0.92")
    line("median Dice IPH", "median_dice_iph")
    line("median Dice IVH", "median_dice_ivh")
    line("mean |volume error| mL (all hemorrhage)", "mean_abs_volume_error_ml", "{:.2f}")
    line("mean |IPH volume error| mL", "mean_abs_iph_volume_error_ml", "{:.2f}")
    a = summary["abc2"]["mean_abs_error_vs_true_iph_ml"]
    print(f"{'ABC/2 mean |error| vs true IPH mL':<44}{(f'{a:.2f}' if a is not None else '-'):>12}"
          + f"{'':>12}" * (len(meths) - 1) + f"{('<= ' + format(a / 3, '.2f')) if a else '':>12}")
    line("false-positive mL on lesion-free heads (mean)", "fp_ml_mean", target="<= 0.5")
    line("false-positive mL on lesion-free heads (max)", "fp_ml_max")
    line("seconds per 512x512x30 scan", "seconds_512x512x30", "{:.2f}", target="<= 5")
    print(f"(torch threads {args.threads}; 1-min load average of this shared machine {summary['load_average']:.1f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "cases": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
