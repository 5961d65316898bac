"""Density calibration of the segmentation network's input.

The network learned blood against parenchyma whose median (``anatomy.brain.parenchyma_median_hu`` on
the 1 mm network grid) lay in about 20-30 HU: cranium_invesalius's scanner reads brain low, and the
data engine moves it ±6 HU. Most scanners read it higher (mistie_0034: 35 HU). A scan whose parenchyma
reads outside ``BRAIN_CALIBRATION_HU`` has its soft tissue (``SOFT_TISSUE_SHIFT_HU``) shifted to the
nearest bound in the network's input; inside it nothing changes. Post-processing reads the scan's own HU:
its density rules are relative to the scan's brain. Without the shift a skull-stripped head read 8 HU
brighter gained 4 mL of false blood, and 12 HU brighter 28 mL (segmentation model card, post-11).

The range belongs to the weights: ``train-seg`` measures its training heads' parenchyma and records
their median ± ``CALIBRATION_HALF_WIDTH_HU`` (``trained_range``) beside the weights (``<weights>.json``)
and, with ``--install``, in the manifest (``brain_calibration_hu``). A network trained on mistie_0034
alone learned brain at 35 HU and under-segmented the training head's lesions (brain 21-26 HU) by
0.4-0.9 mL. Weights without a record run at ``BRAIN_CALIBRATION_HU``: the bundled weights' range, the
rule's 18.5-28.5 HU narrowed where a skull-stripped case started to fail at 29.6 HU.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

BRAIN_CALIBRATION_HU = (18.0, 28.0)
CALIBRATION_HALF_WIDTH_HU = 5.0
SOFT_TISSUE_SHIFT_HU = (-50.0, 150.0)


def trained_range(parenchyma_hu: Iterable[float]) -> tuple[float, float]:
    """The range new weights are recorded with: their training heads' parenchyma medians
    ± ``CALIBRATION_HALF_WIDTH_HU`` (rounded to 0.5 HU)."""
    values = [float(v) for v in parenchyma_hu]
    if not values:
        raise ValueError("no training head with brain parenchyma to calibrate against")
    return (round(2 * (min(values) - CALIBRATION_HALF_WIDTH_HU)) / 2, round(2 * (max(values) + CALIBRATION_HALF_WIDTH_HU)) / 2)


def weights_calibration_hu(record: dict | None) -> tuple[float, float]:
    """``brain_calibration_hu`` of a weights record (manifest entry or ``read_weights_record``), else
    ``BRAIN_CALIBRATION_HU``."""
    value = (record or {}).get("brain_calibration_hu")
    if value is None:
        return BRAIN_CALIBRATION_HU
    lo, hi = (float(v) for v in value)
    if not lo < hi:
        raise ValueError(f"brain_calibration_hu must be [low, high], got {value}")
    return lo, hi


def weights_record_path(weights: str | Path) -> Path:
    """Where ``train-seg`` records what it measured for a weights file (``seg.pt`` → ``seg.json``)."""
    return Path(weights).with_suffix(".json")


def read_weights_record(weights: str | Path) -> dict | None:
    f = weights_record_path(weights)
    return json.loads(f.read_text()) if f.exists() else None


def calibration_shift_hu(parenchyma_hu: float | None, bounds: tuple[float, float] = BRAIN_CALIBRATION_HU) -> float:
    """HU that bring a parenchyma median into ``bounds`` (0 inside them, or without brain)."""
    if parenchyma_hu is None:
        return 0.0
    lo, hi = bounds
    return round(float(np.clip(parenchyma_hu, lo, hi) - parenchyma_hu), 1)


def calibration_warning(report: dict) -> str | None:
    """The note every output carries when the density calibration moved a scan for the segmentation network
    (``density_shift_hu``) or the expansion model's features (``feature_shift_hu``); None when neither."""
    moved = [f"{shift:+.1f} HU for {what}" for what, shift in (
        ("the segmentation network", report.get("density_shift_hu") or 0.0),
        ("the expansion model's features", report.get("feature_shift_hu") or 0.0)) if shift]
    if not moved:
        return None
    return (f"brain parenchyma reads {report['parenchyma_hu']:.1f} HU, outside the range of the scanner the models were "
            f"trained on: this scan's soft tissue was read shifted {' and '.join(moved)} (volumes are measured on the "
            "mask and do not change); check the mask's borders")


def shift_soft_tissue(hu: np.ndarray, shift: float) -> np.ndarray:
    """Add ``shift`` to the soft-tissue voxels of ``hu`` in place (air and bone keep their values)."""
    soft = (hu > SOFT_TISSUE_SHIFT_HU[0]) & (hu < SOFT_TISSUE_SHIFT_HU[1])
    hu[soft] += shift
    return hu
