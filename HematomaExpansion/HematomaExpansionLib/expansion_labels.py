"""Hematoma-expansion (HE) labels and growth figures from a baseline and a follow-up segmentation.

Definitions (methods.md), all selectable and recorded with every result:

- ``conventional`` (CHE): absolute IPH growth > 6 mL **or** relative IPH growth > 33 %.
- ``large``: absolute IPH growth > 12.5 mL **or** relative IPH growth > 33 %.
- ``revised`` (RHE): conventional **or** new intraventricular hemorrhage (IVH) **or** IVH growth ≥ 1 mL.

Exact boundary behaviour (tested in Testing/test_expansion_labels.py):

- The volume thresholds are *strict*: growth of exactly 6 mL (12.5 mL) is **not** expansion;
  relative growth of exactly 33 % (0.33) is **not** expansion. IVH growth of exactly 1 mL **is**
  expansion under ``revised`` (≥). Comparisons use a tolerance of 1e-6 mL (1e-9 relative), so that
  floating-point noise in a volume exactly at a threshold never flips a label: growth must exceed
  6 mL by more than 1e-6 mL to count.
- Growth is measured on IPH (label 1). Label 2 is IVH. Any other positive label counts as IPH
  (binary masks: everything is IPH, IVH = 0).
- Relative growth = (V1 − V0) / V0 on IPH. When the baseline IPH volume is 0, relative growth is
  undefined (reported as ``None``) and only the absolute criterion applies.
- "New IVH" = baseline IVH volume is 0 and follow-up IVH volume > 0 (more than 1e-6 mL).
- Volumes are computed from each mask's own voxel spacing, so baseline and follow-up may be on
  different grids (they usually are: two scans).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFINITIONS = ("conventional", "large", "revised")
DEFAULT_DEFINITION = "conventional"

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
        if definition is not None:
            d["definition"] = definition
            d["label"] = self.label(definition)
        return d


def check_definition(definition: str) -> str:
    from .errors import HematomaExpansionError

    if definition not in DEFINITIONS:
        raise HematomaExpansionError(
            f"unknown expansion definition {definition!r}; choose one of {', '.join(DEFINITIONS)}"
        )
    return definition


def label_from_volumes(v0_iph: float, v1_iph: float, v0_ivh: float = 0.0, v1_ivh: float = 0.0) -> GrowthFigures:
    """Growth figures and the label under every definition, from volumes in mL."""
    for name, v in (("baseline IPH", v0_iph), ("follow-up IPH", v1_iph), ("baseline IVH", v0_ivh), ("follow-up IVH", v1_ivh)):
        if v is None or not np.isfinite(v) or v < 0:
            from .errors import HematomaExpansionError

            raise HematomaExpansionError(f"{name} volume must be a finite number ≥ 0 mL, got {v!r}")
    abs_growth = float(v1_iph - v0_iph)
    rel = abs_growth / v0_iph if v0_iph > VOL_TOL_ML else None
    ivh_growth = float(v1_ivh - v0_ivh)
    new_ivh = v0_ivh <= VOL_TOL_ML and v1_ivh > VOL_TOL_ML
    rel_pos = rel is not None and rel > REL_THRESHOLD + REL_TOL
    conventional = abs_growth > ABS_CONVENTIONAL_ML + VOL_TOL_ML or rel_pos
    large = abs_growth > ABS_LARGE_ML + VOL_TOL_ML or rel_pos
    revised = conventional or new_ivh or ivh_growth >= IVH_GROWTH_ML - VOL_TOL_ML
    return GrowthFigures(
        float(v0_iph), float(v1_iph), float(v0_ivh), float(v1_ivh), abs_growth, rel, ivh_growth, bool(new_ivh),
        {"conventional": bool(conventional), "large": bool(large), "revised": bool(revised)},
    )


def compartment_volumes(labels: np.ndarray, spacing: tuple[float, float, float]) -> tuple[float, float]:
    """(IPH mL, IVH mL) of a label map: 2 = IVH, any other positive label = IPH."""
    labels = np.asarray(labels)
    vox_ml = float(np.prod(spacing)) / 1000.0
    ivh = int(np.count_nonzero(labels == 2))
    iph = int(np.count_nonzero(labels > 0)) - ivh
    return iph * vox_ml, ivh * vox_ml


def label_from_masks(baseline: np.ndarray, baseline_spacing, followup: np.ndarray, followup_spacing) -> GrowthFigures:
    v0 = compartment_volumes(baseline, baseline_spacing)
    v1 = compartment_volumes(followup, followup_spacing)
    return label_from_volumes(v0[0], v1[0], v0[1], v1[1])


def read_mask(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    import SimpleITK as sitk

    from .errors import InputNotFoundError, UnreadableImageError

    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"mask not found: {p}")
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise UnreadableImageError(f"cannot read mask {p}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if img.GetDimension() != 3:
        raise UnreadableImageError(f"mask {p} is {img.GetDimension()}D; expected a 3D label map")
    arr = sitk.GetArrayFromImage(img)
    if arr.dtype.kind == "f" and not np.allclose(arr, np.round(arr)):
        raise UnreadableImageError(f"mask {p} holds non-integer values; expected labels 0/1/2")
    return np.round(arr).astype(np.int16), tuple(float(s) for s in img.GetSpacing())


def label_from_files(baseline: str | Path, followup: str | Path) -> GrowthFigures:
    m0, s0 = read_mask(baseline)
    m1, s1 = read_mask(followup)
    return label_from_masks(m0, s0, m1, s1)
