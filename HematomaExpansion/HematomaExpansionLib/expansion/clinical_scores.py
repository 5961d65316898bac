"""Clinical scores of expansion risk: BAT and BRAIN, component by component as published.

A score with a missing input is ``None`` with the reason "not computable: missing X"; nothing is
guessed or imputed. Each result lists its components' points, so a reader can check the sum.

**BAT** (Morotti A et al. Stroke 2018;49:1163-1169, "Predicting Intracerebral Hemorrhage
Expansion With Noncontrast Computed Tomography: The BAT Score"), 0-5, ≥ 3 = high risk:

- Blend sign: 1 point (Li Q et al. Stroke 2015;46:2119-2123).
- Any intrahematoma hypodensity: 2 points (Boulouis G et al. JAMA Neurol 2016;73:961-968:
  a hypodense region *encapsulated* within the hematoma).
- Time from onset to NCCT < 2.5 h: 2 points (exactly 2.5 h scores 0).

**BRAIN** (Wang X et al. Stroke 2015;46:376-381, INTERACT2), 0-24:

- Baseline ICH volume: ≤ 10 mL: 0; > 10 and ≤ 20 mL: 5; > 20 mL: 7 points.
- Recurrent ICH: 4 points.
- Anticoagulation with warfarin at onset: 6 points (``anticoagulation=none`` or a DOAC implies no
  warfarin).
- IVH extension: 2 points. "Present" means at least ``IVH_PRESENT_MIN_ML`` of IVH, so a few
  voxels of segmentation noise never add 2 points.
- Number of hours from onset to baseline CT: ≤ 1 h: 5; > 1-2: 4; > 2-3: 3; > 3-4: 2; > 4-5: 1;
  > 5 h: 0 points.

The signs come from ``features.signs``; their NCCT definitions, thresholds and citations are
tabled in ``docs/ncct_signs.md``.
"""

from __future__ import annotations

from typing import Any

from ..features.clinical import normalize_clinical
from .labels import IVH_PRESENT_MIN_ML

BAT_ONSET_HOURS = 2.5
BAT_HIGH_RISK = 3
BRAIN_VOLUME_POINTS = ((10.0, 0), (20.0, 5))  # (upper bound mL inclusive, points); above the last: 7
BRAIN_VOLUME_MAX_POINTS = 7
BRAIN_HOURS_POINTS = ((1.0, 5), (2.0, 4), (3.0, 3), (4.0, 2), (5.0, 1))  # (upper bound h inclusive, points)


def _missing(*names: str) -> dict[str, Any]:
    return {"value": None, "reason": "not computable: missing " + ", ".join(names), "components": {}}


def bat_score(signs: dict[str, float], clinical: dict[str, Any]) -> dict[str, Any]:
    """BAT (Morotti A et al., Stroke 2018;49:1163-1169), 0-5, ≥ 3 high risk, as published.

    From the NCCT-sign features and canonical clinical inputs (``normalize_clinical``):

    - blend sign, 1 point: ``sign_blend`` (Li Q et al., Stroke 2015;46:2119-2123: a relatively
      hypoattenuating area next to a hyperattenuating one within the hematoma, with a well-defined
      margin, ≥ 18 HU between them, the hypoattenuating area not encapsulated);
    - any intrahematoma hypodensity, 2 points: ``sign_hypodensity`` (Boulouis G et al., JAMA Neurol
      2016;73:961-968: any hypodense region strictly encapsulated within the hematoma, of any
      shape, size and density);
    - time from symptom onset to NCCT < 2.5 h, 2 points (Morotti 2018; exactly 2.5 h scores 0).

    ``features.signs`` gives a hypodense region to at most one of the two signs (it reaches the edge
    as part of a blend, or it is encapsulated), so one region never scores 3 points; a hematoma
    with a blend *and* a separate encapsulated hypodensity scores both, as published.
    """
    if "onset_to_ct_h" not in clinical:
        return _missing("onset_to_ct_h")
    comp = {
        "blend_sign": 1 if signs.get("sign_blend", 0) >= 0.5 else 0,
        "any_hypodensity": 2 if signs.get("sign_hypodensity", 0) >= 0.5 else 0,
        "onset_to_ct_lt_2.5h": 2 if clinical["onset_to_ct_h"] < BAT_ONSET_HOURS else 0,
    }
    v = int(sum(comp.values()))
    return {"value": v, "high_risk": v >= BAT_HIGH_RISK, "range": [0, 5], "components": comp, "reason": None}


def _banded_points(value: float, bands: tuple[tuple[float, int], ...], above: int) -> int:
    for upper, points in bands:
        if value <= upper:
            return points
    return above


def brain_volume_points(volume_ml: float) -> int:
    return _banded_points(max(0.0, volume_ml), BRAIN_VOLUME_POINTS, BRAIN_VOLUME_MAX_POINTS)


def brain_hours_points(hours: float) -> int:
    return _banded_points(hours, BRAIN_HOURS_POINTS, 0)


def brain_score(volume_ml: float, ivh_ml: float, clinical: dict[str, Any]) -> dict[str, Any]:
    """BRAIN from the baseline ICH volume, the IVH volume (mL) and canonical clinical inputs."""
    missing = [k for k in ("onset_to_ct_h", "recurrent_ich", "warfarin") if k not in clinical]
    if missing:
        return _missing(*missing)
    comp = {
        "baseline_volume": brain_volume_points(volume_ml),
        "recurrent_ich": 4 if clinical["recurrent_ich"] else 0,
        "anticoagulation_warfarin": 6 if clinical["warfarin"] else 0,
        "ivh_extension": 2 if ivh_ml >= IVH_PRESENT_MIN_ML else 0,
        "hours_onset_to_ct": brain_hours_points(float(clinical["onset_to_ct_h"])),
    }
    return {"value": int(sum(comp.values())), "range": [0, 24], "components": comp, "reason": None}


def scores(signs: dict[str, float], iph_ml: float, ivh_ml: float, clinical: dict[str, Any] | None) -> dict[str, Any]:
    """BAT and BRAIN of one case. BRAIN's volume is the IPH volume (the IVH when there is no IPH)."""
    c = normalize_clinical(clinical)
    return {"BAT": bat_score(signs, c), "BRAIN": brain_score(iph_ml if iph_ml > 0 else ivh_ml, ivh_ml, c)}
