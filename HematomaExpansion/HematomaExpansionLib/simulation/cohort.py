"""Simulated expansion cohort: baseline hematomas from the data engine, follow-up grown by a growth model.

No public baseline/follow-up scan pairs with expansion labels exist, so the bundled expansion
model is trained on this simulated cohort. **It is not clinical evidence**: the model learns the
growth model written below, nothing more. Retrain on your own cohort (``hematoma-expansion train``).

Baseline (per case, deterministic from ``seed`` and ``split``), built with the data engine:
real lesion-free head CT → one of ``N_BACKGROUNDS`` derived anatomies per split
(``derive_background``; the held-out split uses its own), a real HemSeg-500 hematoma
shape (``train`` split for the training cohort, ``val`` split for the held-out cohort, so test
shapes are never seen in training; shapes ≥ ``MIN_SHAPE_ML``) placed in the parenchyma, optionally
lobulated (irregular shape), satellites (island sign), optional IVH extension, painted with a
random ``HematomaAppearance`` (hypodense pockets, blend sign, heterogeneity, edema rim).

Latent factors and clinical variables (the literature's predictors of expansion):
  pockets ∈ {0..3} (P = .55/.20/.15/.10) — intrahematoma hypodensity
  blend ~ Bernoulli(.25)           satellites ∈ {0..4} (P = .60/.15/.10/.10/.05)
  lobulated ~ Bernoulli(.35)       heterogeneity_sd ~ U(2, 8) HU
  onset_to_ct_h ~ clip(LogNormal(log 3 h, 0.8), 0.5, 24)
  anticoagulation ~ Bernoulli(.20): 60 % of it warfarin (vitamin K antagonist), 40 % a DOAC
  recurrent_ich ~ Bernoulli(.08)   baseline IVH ~ Bernoulli(.25)

Growth model (relative IPH growth r between baseline and follow-up), ``GROWTH_MODEL_VERSION`` growth-3:
  η = B0 + 1.0·[pockets>0] + 0.3·pockets + 1.2·blend + 0.5·satellites              (NCCT signs)
        + 4.0·(irregularity − 0.25) + 0.25·(heterogeneity_sd − 5)
        + 0.3·ln(V0 / 10 mL)                                                        (baseline volume)
        + 0.17·(BRAIN hours points: 5 at ≤ 1 h … 1 at > 4–5 h, 0 beyond 5 h)      (onset to CT)
        + 1.0·warfarin + 0.6·DOAC + 0.7·recurrent_ich + 0.35·[baseline IVH]       (clinical)
  log r = η + 0.6·ε,  ε ~ N(0, 1)          (noise: the label is not a function of the image)
  follow-up IPH = ``grow_lesion``(baseline IPH, growth = r·V0) — lobulated, confined to the brain.
Effect directions and sizes: each sign adds roughly the published odds ratio of 3–5 (hypodensity,
Boulouis et al. 2016; blend, Li et al. 2015; island/satellites, Li et al. 2017; irregular shape and
heterogeneity, Barras et al. 2009). The clinical terms are the BRAIN score's points (Wang et al.
2015: points ∝ log odds ratio) at 0.17 log-units a point, so warfarin (6 points) = 1.0, recurrent ICH
(4) = 0.7, IVH extension (2) = 0.35 and onset ≤ 1 h (5) = 0.85. A DOAC carries a smaller risk than
warfarin (less expansion in DOAC- than VKA-associated ICH in pooled cohorts, Seiffge et al. 2018) and has
no BRAIN points: 0.6. Baseline volume enters twice, as in real cohorts (Al-Shahi Salman et al. 2018: larger hematomas
grow more in absolute terms): through the definitions (6 mL is a small relative growth of a large
hematoma) and through the direct 0.3·ln(V0 / 10 mL) term (BRAIN: > 20 mL = 7 points).
``irregularity`` is 1 − solidity of the placed baseline shape (``features.signs``), i.e. measured on
the real mask. B0 = ``GROWTH_B0`` sets the expansion rate inside the published ≈ 20–35 %.
IVH (growth-3): the IPH grows within the brain, ventricles included (``grow_followup``). When at least
``RUPTURE_MIN_ML`` (0.1 mL, the labels' minimum for IVH present) of the new blood lies in the
ventricles, the hematoma has ruptured into them: that blood is IVH at follow-up and disperses (a
ventricular cast of half a real shape's size); less only presses on the ventricular wall. Baseline IVH
grows by (1 + r/2) within the ventricles. So a new IVH follows from growth *and* from where the hematoma
lies, as delayed IVH does clinically (distance to the ventricles predicts extension, Hallevi et al.
2008; delayed IVH in ≈ 21 % of patients without it at baseline, with growth, Maas et al. 2013),
instead of being drawn at random (growth-2: P = sigmoid(−3 + 2r + 1.5·[within 5 mm]), a draw no
baseline image could predict). A baseline IPH, lobulated or not, never lies in the ventricles.
Labels are then computed from the two masks by ``expansion.labels``, exactly as for a real cohort.
"""

from __future__ import annotations

import csv
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi
from tqdm import tqdm

from ..core.config import PACKAGE_DIR
from ..core.results import LABEL_IPH, LABEL_IVH
from ..expansion.clinical_scores import brain_hours_points
from ..expansion.labels import IVH_PRESENT_MIN_ML
from ..features.location import DISTANCE_CAP_MM, capped_distances_mm
from ..features.signs import solidity
from .backgrounds import anatomy, derive_background, load_background_heads
from .lesions import add_satellites, grow_lesion, lesion_volume_ml, list_lesion_masks, place_lesion
from .painting import HematomaAppearance, paint_hematoma

MIN_SHAPE_ML = 1.0
GROWTH_MODEL_VERSION = "growth-3"
GROWTH_B0 = -4.7
GROWTH_SIGMA = 0.6
BASELINE_IVH_P = 0.25
RUPTURE_MIN_ML = IVH_PRESENT_MIN_ML  # new blood in the ventricles that is a rupture (an IVH the labels see)
BRAIN_POINT_LOG_ODDS = 0.17
COHORT_COLUMNS = (
    "case_id", "patient_id", "baseline_ct", "baseline_mask", "followup_mask",
    "onset_to_ct_h", "anticoagulation", "warfarin", "recurrent_ich",
)


def growth_linear_predictor(pockets: int, blend: bool, satellites: int, irregularity: float,
                            heterogeneity_sd: float, onset_to_ct_h: float, warfarin: bool, doac: bool,
                            recurrent_ich: bool, baseline_iph_ml: float, baseline_ivh: bool) -> float:
    """η of the growth model in the module docstring (log relative growth before the noise)."""
    signs = (1.0 * (pockets > 0) + 0.3 * pockets + 1.2 * float(blend) + 0.5 * satellites
             + 4.0 * (irregularity - 0.25) + 0.25 * (heterogeneity_sd - 5.0))
    volume = 0.3 * math.log(max(baseline_iph_ml, 0.1) / 10.0)
    clinical = (BRAIN_POINT_LOG_ODDS * brain_hours_points(onset_to_ct_h) + 1.0 * float(warfarin) + 0.6 * float(doac)
                + 0.7 * float(recurrent_ich) + 0.35 * float(baseline_ivh))
    return GROWTH_B0 + signs + volume + clinical


def grow_followup(bg, iph: np.ndarray, ivh: np.ndarray, r: float, cast_shape: Path,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Follow-up (IPH, IVH, mL of IPH that ruptured into the ventricles) under growth-3.

    The IPH grows by r·V0 within the brain, ventricles included. When at least ``RUPTURE_MIN_ML`` of
    the new blood lies in the ventricles, the hematoma has ruptured into them: that blood is IVH at
    follow-up and disperses (a cast of ``cast_shape`` in the ventricles, half size); less only pushes
    on the ventricular wall and stays out. Baseline IVH grows by (1 + r/2) within the ventricles.
    Nothing is drawn at random here but the growth's direction field (and the cast's placement)."""
    an = anatomy(bg)
    v0 = float(iph.sum() * bg.voxel_volume_ml)
    iph1 = grow_lesion(iph, bg, growth_ml=r * v0, rng=rng, irregular=True) if r * v0 > 0 else iph.copy()
    ventricles = bg.from_canonical_array(an.ventricles)
    entered = iph1 & ventricles & ~iph
    ruptured_ml = float(entered.sum() * bg.voxel_volume_ml)
    iph1 = iph1 & ~entered
    ivh1 = ivh.copy()
    if ivh.any():
        grown = grow_lesion(ivh, bg, factor=1.0 + r / 2.0, rng=rng, irregular=False)
        ivh1 |= grown & ventricles
    if ruptured_ml >= RUPTURE_MIN_ML:
        ivh1 |= entered | place_lesion(bg, cast_shape, rng, "ventricle", scale=0.5)
    else:
        ruptured_ml = 0.0
    return iph1, ivh1 & ~iph1, ruptured_ml


def ventricle_distance_mm(bg, iph: np.ndarray) -> float:
    """Shortest distance (mm) from the baseline IPH to the head's ventricles, at most
    ``location.DISTANCE_CAP_MM`` as the image feature reads it (recorded, not drawn on)."""
    an = anatomy(bg)
    blood = bg.to_canonical_array(iph.astype(bool))
    dist = capped_distances_mm(an.ventricles, np.nonzero(blood), an.spacing) if blood.any() else None
    return DISTANCE_CAP_MM if dist is None else float(dist.min())


def _shapes(split: str) -> list[Path]:
    return [p for p in list_lesion_masks(split) if lesion_volume_ml(p) >= MIN_SHAPE_ML]


_SHAPES: dict[str, list[Path]] = {}
_BACKGROUNDS: dict[tuple[str, int], Any] = {}
N_BACKGROUNDS = 8  # derived heads per split, built once per process (anatomy is the slow part)


def _background(split: str, k: int):
    key = (split, k)
    if key not in _BACKGROUNDS:
        head = load_background_heads()[0]
        bg = derive_background(head, np.random.default_rng([k, 99, 0 if split == "train" else 1]))
        anatomy(bg)
        _BACKGROUNDS[key] = bg
    return _BACKGROUNDS[key]


def simulate_pair(seed: int, split: str = "train") -> dict[str, Any]:
    """One simulated patient: baseline CT + labels, follow-up labels (same grid), clinical, truth."""
    if split not in _SHAPES:
        _SHAPES[split] = _shapes(split)
    shapes = _SHAPES[split]
    rng = np.random.default_rng([int(seed), 7, 0 if split == "train" else 1])
    bg = _background(split, int(rng.integers(N_BACKGROUNDS)))
    path = shapes[int(rng.integers(len(shapes)))]
    scale = float(rng.uniform(0.85, 1.15))
    iph = place_lesion(bg, path, rng, "parenchyma", scale=scale)
    for _ in range(3):
        if iph.sum() * bg.voxel_volume_ml >= 0.5:
            break
        path = shapes[int(rng.integers(len(shapes)))]
        iph = place_lesion(bg, path, rng, "parenchyma", scale=scale)
    lobulated = bool(rng.random() < 0.35)
    if lobulated:  # a baseline IPH stays out of the ventricles: blood in them is IVH
        iph = grow_lesion(iph, bg, factor=float(rng.uniform(1.15, 1.45)), rng=rng, irregular=True,
                          within="parenchyma")
    app = HematomaAppearance.random(rng)
    app.hypodense_pockets = int(rng.choice(4, p=[0.55, 0.20, 0.15, 0.10]))
    app.blend = bool(rng.random() < 0.25)
    app.blend_delta_hu = float(rng.uniform(18.0, 26.0))
    app.satellites = int(rng.choice(5, p=[0.60, 0.15, 0.10, 0.10, 0.05]))
    app.heterogeneity_sd = float(rng.uniform(2.0, 8.0))
    if app.satellites:
        iph = add_satellites(iph, bg, app.satellites, rng)
    ivh = np.zeros(bg.shape, bool)
    if rng.random() < BASELINE_IVH_P:
        ivh = place_lesion(bg, shapes[int(rng.integers(len(shapes)))], rng, "ventricle", scale=0.6) & ~iph
    onset = float(np.clip(math.exp(rng.normal(math.log(3.0), 0.8)), 0.5, 24.0))
    anticoag = bool(rng.random() < 0.2)
    warfarin = bool(anticoag and rng.random() < 0.6)
    recurrent = bool(rng.random() < 0.08)

    ct = paint_hematoma(bg, iph, ivh, app, rng)
    # shape irregularity of the main component, measured on the mask itself
    can = bg.to_canonical_array(iph)
    lab, n = ndi.label(can, structure=np.ones((3, 3, 3)))
    main = lab == (1 + int(np.argmax(ndi.sum(can, lab, np.arange(1, n + 1))))) if n > 1 else can
    irregularity = 1.0 - solidity(main, bg.canonical_spacing()) if main.any() else 0.0

    v0 = float(iph.sum() * bg.voxel_volume_ml)
    eta = growth_linear_predictor(app.hypodense_pockets, app.blend, app.satellites, irregularity,
                                  app.heterogeneity_sd, onset, warfarin, anticoag and not warfarin, recurrent, v0,
                                  bool(ivh.any()))
    r = float(math.exp(eta + GROWTH_SIGMA * rng.standard_normal()))
    iph1, ivh1, ruptured_ml = grow_followup(bg, iph, ivh, r, shapes[int(rng.integers(len(shapes)))], rng)
    new_ivh = bool(not ivh.any() and ruptured_ml > 0)
    lab0 = np.zeros(bg.shape, np.uint8)
    lab0[iph] = LABEL_IPH
    lab0[ivh & ~iph] = LABEL_IVH
    lab1 = np.zeros(bg.shape, np.uint8)
    lab1[iph1] = LABEL_IPH
    lab1[ivh1] = LABEL_IVH
    clinical = {"onset_to_ct_h": round(onset, 2), "anticoagulation": int(anticoag), "warfarin": int(warfarin),
                "recurrent_ich": int(recurrent)}
    truth = {"sim_lesion": path.name, "sim_pockets": app.hypodense_pockets, "sim_blend": int(app.blend),
             "sim_satellites": app.satellites, "sim_lobulated": int(lobulated),
             "sim_irregularity": round(irregularity, 4), "sim_heterogeneity_sd": round(app.heterogeneity_sd, 3),
             "sim_eta": round(eta, 4), "sim_relative_growth": round(r, 4), "sim_v0_ml": round(v0, 3),
             "sim_new_ivh": int(new_ivh), "sim_ruptured_ml": round(ruptured_ml, 3),
             "sim_ventricle_distance_mm": round(ventricle_distance_mm(bg, iph), 2),
             "sim_growth_model": GROWTH_MODEL_VERSION}
    return {"ct": ct, "labels0": lab0, "labels1": lab1, "clinical": clinical, "truth": truth}


def _init_worker(split: str, shapes: list[Path]) -> None:
    _SHAPES[split] = shapes
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:  # pragma: no cover
        pass


def _write_case(args: tuple[int, str, str]) -> dict[str, Any]:
    seed, split, out_dir = args
    out = Path(out_dir)
    case_id = f"{split}{seed:05d}"
    paths = {k: out / "images" / f"{case_id}_{k}.nii.gz" for k in ("ct", "mask0", "mask1")}
    meta_path = out / "images" / f"{case_id}.json"
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    if all(p.exists() for p in paths.values()) and meta_path.exists():
        row = json.loads(meta_path.read_text())
        if row.get("sim_growth_model") == GROWTH_MODEL_VERSION:  # resumed; another growth model: redone
            return row
    case = simulate_pair(seed, split)
    ct = case["ct"]
    sitk.WriteImage(ct.to_sitk(np.clip(np.round(ct.array), -1024, 3071).astype(np.int16)), str(paths["ct"]), True)
    sitk.WriteImage(ct.to_sitk(case["labels0"]), str(paths["mask0"]), True)
    sitk.WriteImage(ct.to_sitk(case["labels1"]), str(paths["mask1"]), True)
    row = {"case_id": case_id, "patient_id": f"P-{case_id}", "baseline_ct": f"images/{paths['ct'].name}",
           "baseline_mask": f"images/{paths['mask0'].name}", "followup_mask": f"images/{paths['mask1'].name}",
           **case["clinical"], **case["truth"]}
    meta_path.write_text(json.dumps(row))
    return row


def simulate_cohort(out_dir: str | Path, n: int, split: str = "train", seed0: int = 0, workers: int = 1,
                    progress: bool = True) -> Path:
    """Write ``n`` simulated patients under ``out_dir`` (images/ + cohort.csv). Resumable. Returns the CSV path."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = [(seed0 + i, split, str(out)) for i in range(n)]
    rows: list[dict[str, Any]] = []
    shapes = _shapes(split)
    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(split, shapes)) as ex:
            for row in tqdm(ex.map(_write_case, jobs), total=n, disable=not progress, desc=f"simulate {split}"):
                rows.append(row)
    else:
        _SHAPES[split] = shapes
        for j in tqdm(jobs, disable=not progress, desc=f"simulate {split}"):
            rows.append(_write_case(j))
    return write_cohort_csv(out, rows, f"split={split} n={n} seed0={seed0}")


def collect_cohort(out_dir: str | Path) -> Path:
    """cohort.csv from every finished case under ``out_dir/images`` (e.g. after an interrupted run)."""
    out = Path(out_dir)
    rows = [json.loads(p.read_text()) for p in sorted((out / "images").glob("*.json"))]
    rows = [r for r in rows if all((out / r[k]).exists() for k in ("baseline_ct", "baseline_mask", "followup_mask"))]
    return write_cohort_csv(out, rows, f"collected n={len(rows)}")


def write_cohort_csv(out: Path, rows: list[dict[str, Any]], note: str) -> Path:
    csv_path = out / "cohort.csv"
    cols = list(COHORT_COLUMNS) + sorted({k for r in rows for k in r if k not in COHORT_COLUMNS})
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    (out / "README.txt").write_text(
        "Simulated hematoma-expansion cohort (HematomaExpansionLib.simulation.cohort).\n"
        "NOT clinical data: follow-up masks come from a documented growth model.\n"
        f"{note}\n")
    return csv_path


def default_work_dir() -> Path:
    env = os.environ.get("HEMEXP_WORK_DIR")
    return Path(env) if env else PACKAGE_DIR.parents[1] / "work-data"
