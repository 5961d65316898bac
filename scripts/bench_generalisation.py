#!/usr/bin/env python
"""Generalisation benchmark (`make bench-generalisation`): the segmenter on heads it was not trained on.

Leave-one-head-out with the real heads this project has. The bundled network trains on one real
background (cranium_invesalius, made different by the data engine); mistie_0034 (another patient
and scanner: 6 mm slices, 512² pixels, a real ICH + IVH) is never a training background. It is not
untouched: 1.2.0 was fine-tuned from 1.1.0, which took 64 background crops of its slices 7–23 as
negatives, so its lesion-free tissue is not a clean false-positive test for the bundled weights. The
other fold (trained on mistie_0034 alone, tested on the cranium heads): ``--weights`` with weights from
``train-seg --background mistie_0034.nii.gz`` (model card).
Per held-out head the script prints median Dice (with a 95 % bootstrap interval over the cases: at
the default 40 cases a head, 20 skull-stripped, ±0.02–0.04; at 15 it was ±0.05–0.1), mean signed and
absolute volume error (and the bedside ABC/2's absolute error on the same true masks), false-positive mL on lesion-free scans, and
where the false positives lie (within 5 mm of the inner table, skull base = lowest 30 % of the
brain's slices, midline ±5 mm, elsewhere):

- ``mistie_0034``: val-split HemSeg-500 shapes painted (IPH, the engine's own painting) into its
  brain away from its real hemorrhage; scoring ignores the real hemorrhage zone (the segmenter's
  own mask dilated by ``EXCLUSION_MM``), so its lesion-free tissue is the false-positive test; and
  the real hemorrhage's volume against the independent delineation quoted in issue 11 (41.5 mL).
- ``engine-scanner``: cranium_invesalius with domain randomisation (``simulation.domain``), drawn
  from the val-split stream (other seeds, shapes and scanner draws than training).
- ``cranium-plain``: cranium_invesalius without domain randomisation (the old benchmark's cases).
- ``skull-stripped``: cranium val cases, skull-stripped variant (0 HU or air fill); its false positives on
  lesion-free domain-randomised heads stripped the same way.
- ``bright+10HU``: engine-scanner cases (any acquisition variant) read by a scanner whose soft tissue is
  ``BRIGHT_SCANNER_HU`` higher, as mistie_0034's brain is against the training head's; its false
  positives on skull-stripped lesion-free heads read the same way (the hardest combination seen).
Needs the shared data (``HEMEXP_SHARED_DATA``); exits 0 with a message when it is absent.
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

from HematomaExpansionLib.anatomy.brain import brain_mask_canonical  # noqa: E402
from HematomaExpansionLib.core import config  # noqa: E402
from HematomaExpansionLib.core.results import LABEL_IPH  # noqa: E402
from HematomaExpansionLib.features.measurement import measure  # noqa: E402
from HematomaExpansionLib.io.ct_files import read_ct  # noqa: E402
from HematomaExpansionLib.segmentation import net as segmentation_net  # noqa: E402
from HematomaExpansionLib.segmentation.calibration import shifted_ct  # noqa: E402
from HematomaExpansionLib.simulation.backgrounds import anatomy  # noqa: E402
from HematomaExpansionLib.simulation.cases import simulate_case  # noqa: E402
from HematomaExpansionLib.simulation.lesions import list_lesion_masks, place_lesion  # noqa: E402
from HematomaExpansionLib.simulation.painting import HematomaAppearance, paint_hematoma  # noqa: E402
from HematomaExpansionLib.simulation.variants import apply_variant  # noqa: E402

EXCLUSION_MM = 10.0
# mistie_0034's scanner reads parenchyma ~10-14 HU above the training head's (35 against 21-26 HU on the
# network grid), as most scanners do: the bright-scanner head is the engine's heads read that much higher
BRIGHT_SCANNER_HU = 10.0
MISTIE_REFERENCE_ML = 41.5  # IPH 39.3 + IVH 2.2, independent delineation (issue 11)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = a.sum() + b.sum()
    return float(2.0 * (a & b).sum() / s) if s else 1.0


def fp_locations(ct, fp: np.ndarray) -> dict:
    """mL of false-positive voxels by where they lie (canonical geometry of ``ct``)."""
    hu = ct.to_canonical_array()
    sp = ct.canonical_spacing()
    f = ct.to_canonical_array(fp.astype(np.uint8)) > 0
    out = {"inner_table": 0.0, "skull_base": 0.0, "midline": 0.0, "elsewhere": 0.0}
    if not f.any():
        return out
    brain = brain_mask_canonical(hu, sp)
    depth = ndi.distance_transform_edt(brain | f, sampling=sp)
    ks = np.nonzero(brain.any(axis=(1, 2)))[0]
    base = np.zeros(hu.shape, bool)
    if len(ks):
        base[: ks[0] + int(0.3 * len(ks)) + 1] = True
    mid = float(np.nonzero(brain.any(axis=(0, 1)))[0].mean()) if brain.any() else hu.shape[2] / 2
    cols = np.abs(np.arange(hu.shape[2]) - mid) * sp[2] <= 5.0
    vml = float(np.prod(sp)) / 1000.0
    where = {"inner_table": f & (depth <= 5.0)}
    where["skull_base"] = f & base & ~where["inner_table"]
    where["midline"] = f & cols[None, None, :] & ~where["inner_table"] & ~where["skull_base"]
    where["elsewhere"] = f & ~where["inner_table"] & ~where["skull_base"] & ~where["midline"]
    return {k: round(float(v.sum() * vml), 3) for k, v in where.items()}


def mistie_cases(model, n: int, seed: int):
    """(case rows, lesion-free row, real-hemorrhage row) on the held-out real head mistie_0034."""
    path = config.shared_data_dir() / "realct" / "mistie_0034.nii.gz"
    head = read_ct(path, validate=False)
    own = segmentation_net.segment_net(head, model=model) > 0
    zone_c = ndi.distance_transform_edt(~head.to_canonical_array(own.astype(np.uint8)).astype(bool),
                                        sampling=head.canonical_spacing()) <= EXCLUSION_MM
    zone = head.from_canonical_array(zone_c.astype(np.uint8)) > 0
    vml = head.voxel_volume_ml
    real = {"volume_ml": round(float(own.sum() * vml), 2), "reference_ml": MISTIE_REFERENCE_ML}
    fp_free = own & ~zone
    free = {"fp_ml": round(float(fp_free.sum() * vml), 3), "where": fp_locations(head, fp_free)}
    an = anatomy(head)
    an.parenchyma &= ~ndi.binary_dilation(zone_c, iterations=2)
    masks = list_lesion_masks("val")
    rows = []
    for j in range(n):
        rng = np.random.default_rng([seed, j, 34])
        iph = place_lesion(head, masks[int(rng.integers(len(masks)))], rng, "parenchyma", scale=float(rng.uniform(0.85, 1.15)))
        if not iph.any():
            continue
        ct = paint_hematoma(head, iph, np.zeros_like(iph), HematomaAppearance.random(rng), rng)
        truth = iph & ~zone
        pred = (segmentation_net.segment_net(ct, model=model) > 0) & ~zone
        rows.append(_row("mistie_0034", ct, truth.astype(np.uint8) * LABEL_IPH, pred, truth, f"lesion {j} (seed {seed})"))
    return rows, free, real


def _row(head: str, ct, labels: np.ndarray, pred: np.ndarray, truth: np.ndarray, case_id: str) -> dict:
    """One case's figures; ``case_id`` names it in the JSON (the seed, and the variant), so a case can be re-made."""
    vml = ct.voxel_volume_ml
    tv, pv = float(truth.sum() * vml), float(pred.sum() * vml)
    abc2 = float(measure(ct, labels).abc2_ml) if truth.any() else 0.0
    return {"head": head, "case": case_id, "true_ml": tv, "pred_ml": pv, "dice": dice(pred, truth), "abc2_err": abs(abc2 - tv),
            "fp_ml": float((pred & ~ndi.binary_dilation(truth, iterations=2)).sum() * vml)}


def engine_cases(model, n: int, seed: int, head: str, domain: bool, variant: str | None = None,
                 offset_hu: float = 0.0) -> list[dict]:
    rows = []
    for j in range(n):
        case = simulate_case(seed + j, split="val", variant=variant, domain=domain)
        if not case.labels.any():
            continue
        truth = case.labels > 0
        ct = shifted_ct(case.ct, offset_hu)  # a scanner reading soft tissue offset_hu higher
        pred = segmentation_net.segment_net(ct, model=model) > 0
        rows.append(_row(head, ct, case.labels, pred, truth, f"val seed {seed + j}, {case.meta.get('variant')}"))
    return rows


def engine_free(model, n: int, seed: int, strip: bool = False, offset_hu: float = 0.0) -> dict:
    """False-positive mL on lesion-free domain-randomised heads (``strip``: then skull-stripped, the fill
    0 HU or air at random, as the skull-stripped variant does; ``offset_hu``: read brighter)."""
    fp, where = [], {}
    for j in range(n):
        case = simulate_case(seed + j, split="val", variant="nohem", domain=True)
        ct = shifted_ct(case.ct, offset_hu)  # a scanner reading soft tissue offset_hu higher
        if strip:
            ct, _, _ = apply_variant(ct, case.labels, "skullstrip", np.random.default_rng(seed + j))
        pred = segmentation_net.segment_net(ct, model=model) > 0
        fp.append(float(pred.sum() * ct.voxel_volume_ml))
        for k, v in fp_locations(ct, pred).items():
            where[k] = round(where.get(k, 0.0) + v / n, 3)
    return {"fp_ml": round(float(np.mean(fp)), 3) if fp else 0.0, "where": where}


def summarise(rows: list[dict]) -> dict:
    if not rows:
        return {}
    err = np.array([r["pred_ml"] - r["true_ml"] for r in rows])
    dices = np.array([r["dice"] for r in rows])
    # how far the median of so few cases moves by chance: percentile bootstrap over cases (fixed seed)
    boot = np.median(dices[np.random.default_rng(0).integers(0, len(dices), (2000, len(dices)))], axis=1)
    return {"n": len(rows), "median_dice": round(float(np.median(dices)), 3),
            "median_dice_ci95": [round(float(q), 3) for q in np.percentile(boot, [2.5, 97.5])],
            "mean_signed_ml": round(float(err.mean()), 3), "mean_abs_ml": round(float(np.abs(err).mean()), 3),
            "abc2_mean_abs_ml": round(float(np.mean([r["abc2_err"] for r in rows])), 3),
            "ratio_to_abc2": round(float(np.abs(err).mean() / max(1e-6, np.mean([r["abc2_err"] for r in rows]))), 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="weights file to test (default: the bundled, sha256-checked ones)")
    ap.add_argument("--cases", type=int, default=40, help="lesion cases per held-out head (half that on the "
                    "skull-stripped head; at 15 the medians' 95 %% intervals were ±0.05-0.1 wide)")
    ap.add_argument("--seed", type=int, default=200000)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if not (config.shared_data_dir() / "realct" / "mistie_0034.nii.gz").exists():
        print(f"shared data not found under {config.shared_data_dir()} (set HEMEXP_SHARED_DATA); nothing to benchmark")
        return 0
    t0 = time.time()
    model = segmentation_net.load_model(args.weights)
    m_rows, m_free, m_real = mistie_cases(model, args.cases, args.seed)
    heads = {
        "mistie_0034": (m_rows, m_free),
        "engine-scanner": (engine_cases(model, args.cases, args.seed + 1000, "engine-scanner", True),
                           engine_free(model, max(3, args.cases // 3), args.seed + 1500)),
        "cranium-plain": (engine_cases(model, args.cases, args.seed + 2000, "cranium-plain", False), None),
        "skull-stripped": (engine_cases(model, max(3, args.cases // 2), args.seed + 3000, "skull-stripped", True,
                                        "skullstrip"), engine_free(model, max(3, args.cases // 3), args.seed + 3500, True)),
        f"bright+{BRIGHT_SCANNER_HU:.0f}HU": (
            engine_cases(model, max(3, args.cases // 2), args.seed + 4000, "bright-scanner", True, offset_hu=BRIGHT_SCANNER_HU),
            engine_free(model, max(3, args.cases // 3), args.seed + 4500, strip=True, offset_hu=BRIGHT_SCANNER_HU)),
    }
    report = {"weights": args.weights or segmentation_net.model_description(), "seconds": None, "heads": {},
              "mistie_real_hemorrhage": m_real}
    print(f"weights: {report['weights']}")
    print(f"{'held-out head':<16} {'n':>3} {'Dice':>6} {'95% CI':>13} {'signed':>8} {'abs':>7} {'ABC/2':>7} {'×ABC/2':>7} {'FP mL':>7}  FP where")
    for name, (rows, free) in heads.items():
        s = summarise(rows)
        s["lesion_free"] = free
        s["cases"] = [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in rows]
        report["heads"][name] = s
        fp = f"{free['fp_ml']:7.3f}  {free['where']}" if free else "      -"
        if s.get("n"):
            lo, hi = s["median_dice_ci95"]
            print(f"{name:<16} {s['n']:>3} {s['median_dice']:6.3f} {f'{lo:.3f}-{hi:.3f}':>13} {s['mean_signed_ml']:+8.3f} {s['mean_abs_ml']:7.3f} "
                  f"{s['abc2_mean_abs_ml']:7.3f} {s['ratio_to_abc2']:7.2f} {fp}")
    print(f"mistie_0034 real hemorrhage: {m_real['volume_ml']} mL (independent delineation {MISTIE_REFERENCE_ML} mL)")
    report["seconds"] = round(time.time() - t0, 1)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
