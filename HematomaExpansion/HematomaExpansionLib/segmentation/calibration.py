"""Density calibration of the segmentation network's input.

The network learned blood against parenchyma whose median (``anatomy.brain.parenchyma_median_hu`` on
the 1 mm network grid) lay in about 20-30 HU: cranium_invesalius's scanner reads brain low, and the
data engine moves it ±6 HU. Most scanners read it higher (mistie_0034: 35 HU). A scan whose parenchyma
reads outside ``BRAIN_CALIBRATION_HU`` has its soft tissue (``SOFT_TISSUE_SHIFT_HU``) shifted to the
nearest bound in the network's input; inside it nothing changes. Post-processing reads the scan's own HU:
its density rules are relative to the scan's brain. Without the shift a skull-stripped head read 8 HU
brighter gained 4 mL of false blood, and 12 HU brighter 28 mL (segmentation model card, post-11).
"""

from __future__ import annotations

import numpy as np

BRAIN_CALIBRATION_HU = (18.0, 28.0)
SOFT_TISSUE_SHIFT_HU = (-50.0, 150.0)


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
