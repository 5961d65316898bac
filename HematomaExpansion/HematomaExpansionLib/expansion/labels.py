"""Hematoma-expansion (HE) labels and growth figures from a baseline and a follow-up segmentation.

Definitions, all selectable and recorded with every result (``DEFINITION_TEXT`` says each one in
words; the README has the table with citations). Each keeps the inequality of its source:

- ``conventional`` (CHE): absolute IPH growth > 6 mL **or** relative IPH growth > 33 %
  (Dowlatshahi et al., Neurology 2011; Brott et al., Stroke 1997 used > 33 %).
- ``large``: absolute IPH growth > 12.5 mL **or** relative IPH growth > 33 % (Dowlatshahi 2011).
- ``revised1`` (RHE1): IPH growth ≥ 6 mL **or** ≥ 33 % **or** any new IVH
  (Yogendrakumar et al., Stroke 2020, revised HE definition, which uses ≥).
- ``revised2`` (RHE2): IPH growth ≥ 6 mL **or** ≥ 33 % **or** IVH growth ≥ 1 mL (new IVH of ≥ 1 mL
  included) (Yogendrakumar 2020, the IVH-volume variant).
- ``revised`` (kept so existing models and scripts keep working; not a published definition): the
  hybrid used before revised1/revised2 existed: conventional (>) **or** new IVH **or** IVH growth ≥ 1 mL.

Exact boundary behaviour (tested in Testing/test_expansion_labels.py):

- ``>`` thresholds are *strict*: growth of exactly 6 mL (12.5 mL) or exactly 33 % is **not**
  expansion under ``conventional``/``large``; ``≥`` thresholds include the boundary: exactly 6 mL
  or 33 % **is** expansion under ``revised1``/``revised2``; IVH growth of exactly 1 mL **is**
  expansion under ``revised2``/``revised``. Comparisons use a tolerance of 1e-6 mL (1e-9
  relative), so floating-point noise in a volume exactly at a threshold never flips a label.
- Growth is measured on IPH (label 1). Label 2 is IVH. Any other positive label counts as IPH
  (binary masks: everything is IPH, IVH = 0).
- Relative growth = (V1 − V0) / V0 on IPH. When the baseline IPH volume is 0, relative growth is
  undefined (reported as ``None``) and only the absolute criterion applies.
- "New IVH" = baseline IVH volume is 0 and follow-up IVH volume > 0 (more than 1e-6 mL), as drawn
  masks say it. When a mask is automatic (``compare``, follow-up CTs in ``train``/``evaluate``), IVH
  counts as present only from ``IVH_PRESENT_MIN_ML`` (``min_ivh_ml``; the BRAIN score's minimum for
  IVH extension), so a segmentation speck of IVH neither hides nor makes a new IVH.
- Volumes are computed from each mask's own voxel spacing, so baseline and follow-up may be on
  different grids (they usually are: two scans).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import HematomaExpansionError
from ..core.results import IVH_PRESENT_MIN_ML  # noqa: F401  (defined with the labels; used here and by callers)
from ..io.masks import read_mask_file

PUBLISHED_DEFINITIONS = ("conventional", "large", "revised1", "revised2")  # one bundled model each
DEFINITIONS = PUBLISHED_DEFINITIONS + ("revised",)
DEFAULT_DEFINITION = "conventional"
DEFINITION_TEXT = {
    "conventional": "IPH growth > 6 mL or > 33 %",
    "large": "IPH growth > 12.5 mL or > 33 %",
    "revised1": "IPH growth ≥ 6 mL or ≥ 33 %, or any new IVH",
    "revised2": "IPH growth ≥ 6 mL or ≥ 33 %, or IVH growth ≥ 1 mL",
    "revised": "legacy hybrid: IPH growth > 6 mL or > 33 %, or any new IVH, or IVH growth ≥ 1 mL",
}

ABS_CONVENTIONAL_ML = 6.0
ABS_LARGE_ML = 12.5
REL_THRESHOLD = 0.33
IVH_GROWTH_ML = 1.0
VOL_TOL_ML = 1e-6
REL_TOL = 1e-9


@dataclass
class GrowthFigures:
    baseline_iph_ml: float
    followup_iph_ml: float
    baseline_ivh_ml: float
    followup_ivh_ml: float
    absolute_growth_ml: float
    relative_growth: float | None
    ivh_growth_ml: float
    new_ivh: bool
    labels: dict[str, bool]

    def label(self, definition: str) -> bool:
        check_definition(definition)
        return self.labels[definition]

    def to_dict(self, definition: str | None = None) -> dict[str, Any]:
        d = asdict(self)
        for k, v in list(d.items()):
            if isinstance(v, float):
                d[k] = round(v, 6)
        d["definitions"] = dict(DEFINITION_TEXT)
        if definition is not None:
            d["definition"] = definition
            d["label"] = self.label(definition)
        return d


def check_definition(definition: str) -> str:
    if definition not in DEFINITIONS:
        raise HematomaExpansionError(
            f"unknown expansion definition {definition!r}; choose one of {', '.join(DEFINITIONS)}"
        )
    return definition


def label_from_volumes(v0_iph: float, v1_iph: float, v0_ivh: float = 0.0, v1_ivh: float = 0.0,
                       min_ivh_ml: float = VOL_TOL_ML) -> GrowthFigures:
    """Growth figures and the label under every definition, from volumes in mL; IVH is "present" above
    ``min_ivh_ml`` (``IVH_PRESENT_MIN_ML`` for automatic masks, see the module docstring)."""
    for name, v in (("baseline IPH", v0_iph), ("follow-up IPH", v1_iph), ("baseline IVH", v0_ivh), ("follow-up IVH", v1_ivh)):
        if v is None or not np.isfinite(v) or v < 0:
            raise HematomaExpansionError(f"{name} volume must be a finite number ≥ 0 mL, got {v!r}")
    abs_growth = float(v1_iph - v0_iph)
    rel = abs_growth / v0_iph if v0_iph > VOL_TOL_ML else None
    ivh_growth = float(v1_ivh - v0_ivh)
    present = max(float(min_ivh_ml), VOL_TOL_ML)
    new_ivh = v0_ivh < present and v1_ivh >= present
    rel_over = rel is not None and rel > REL_THRESHOLD + REL_TOL
    rel_at_least = rel is not None and rel >= REL_THRESHOLD - REL_TOL
    ivh_grew = ivh_growth >= IVH_GROWTH_ML - VOL_TOL_ML
    conventional = abs_growth > ABS_CONVENTIONAL_ML + VOL_TOL_ML or rel_over
    conventional_at_least = abs_growth >= ABS_CONVENTIONAL_ML - VOL_TOL_ML or rel_at_least
    labels = {
        "conventional": conventional,
        "large": abs_growth > ABS_LARGE_ML + VOL_TOL_ML or rel_over,
        "revised1": conventional_at_least or new_ivh,
        "revised2": conventional_at_least or ivh_grew,
        "revised": conventional or new_ivh or ivh_grew,
    }
    return GrowthFigures(
        float(v0_iph), float(v1_iph), float(v0_ivh), float(v1_ivh), abs_growth, rel, ivh_growth, bool(new_ivh),
        {name: bool(value) for name, value in labels.items()},
    )


def compartment_volumes(labels: np.ndarray, spacing: tuple[float, float, float]) -> tuple[float, float]:
    """(IPH mL, IVH mL) of a label map: 2 = IVH, any other positive label = IPH."""
    labels = np.asarray(labels)
    vox_ml = float(np.prod(spacing)) / 1000.0
    ivh = int(np.count_nonzero(labels == 2))
    iph = int(np.count_nonzero(labels > 0)) - ivh
    return iph * vox_ml, ivh * vox_ml


def label_from_masks(baseline: np.ndarray, baseline_spacing, followup: np.ndarray, followup_spacing,
                     min_ivh_ml: float = VOL_TOL_ML) -> GrowthFigures:
    v0 = compartment_volumes(baseline, baseline_spacing)
    v1 = compartment_volumes(followup, followup_spacing)
    return label_from_volumes(v0[0], v1[0], v0[1], v1[1], min_ivh_ml=min_ivh_ml)


def label_from_files(baseline: str | Path, followup: str | Path) -> GrowthFigures:
    m0, s0 = read_mask_file(baseline)
    m1, s1 = read_mask_file(followup)
    return label_from_masks(m0, s0, m1, s1)
