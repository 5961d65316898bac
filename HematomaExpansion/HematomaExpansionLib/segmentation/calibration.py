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
and, with ``--install``, in the manifest (``brain_calibration_hu``). Another network's range does harm:
a network trained on mistie_0034 alone (brain 35 HU) labelled 1.18 mL of false blood on skull-stripped
cranium heads shifted into the bundled range, 0.74 unshifted and 0.59 shifted into its own (model card,
"The other fold"). Weights without a record run at ``BRAIN_CALIBRATION_HU``: the bundled weights' range,
the rule's 18.5-28.5 HU narrowed where a skull-stripped case started to fail at 29.6 HU.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from ..core.ct_image import CTImage

BRAIN_CALIBRATION_HU = (18.0, 28.0)
CALIBRATION_HALF_WIDTH_HU = 5.0
SOFT_TISSUE_SHIFT_HU = (-50.0, 150.0)
# image noise (``parenchyma_noise_hu``) above which small isolated components may be noise: the bundled
# weights' training cases read 1.2-3.6 HU (40 domain-randomised train seeds). Stress test (10 val cases,
# extra correlated noise): +8 HU (estimate 2.1-3.9) Dice 0.964, +0.11 mL, false positives 0.11 mL;
# +10 HU (2.7-4.5) 0.951, +0.30 mL, 0.37 mL; +14 HU (4.5-5.6) 0.843, -0.50 mL, 0.58 mL, in spots of 0.1-0.3 mL
NOISE_WARNING_HU = 4.0
NOISE_WINDOW_HU = 20.0
NOISE_EDGE_PIXELS = 3
NOISE_SLICES = 16  # evenly spaced through the brain: enough pixels, a tenth of the time on a thin-slice scan


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


def parenchyma_noise_hu(hu: np.ndarray, brain: np.ndarray, parenchyma_hu: float | None) -> float | None:
    """Image noise of the parenchyma on axial planes ``hu`` [S, H, W] (the network's 1 mm grid): the robust SD
    (1.4826 MAD) of each pixel's difference from its 3×3 in-plane mean, over brain at least
    ``NOISE_EDGE_PIXELS`` from its edge and within ``NOISE_WINDOW_HU`` of the parenchyma median (no blood,
    CSF or bone edges), on ``NOISE_SLICES`` planes. Grey/white structure adds little at 1 mm; it is a relative measure, read against
    ``NOISE_WARNING_HU``."""
    if parenchyma_hu is None:
        return None
    with_brain = np.nonzero(brain.any(axis=(1, 2)))[0]
    pick = with_brain[np.linspace(0, len(with_brain) - 1, min(len(with_brain), NOISE_SLICES)).round().astype(int)]
    e = 2 * NOISE_EDGE_PIXELS + 1
    residuals = []
    for k in np.unique(pick):  # one plane at a time, cropped to its brain: a few MB on any scan
        rows, cols = (np.nonzero(brain[k].any(axis=a))[0] for a in (1, 0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        plane = np.asarray(hu[k][box], np.float32)
        core = ndi.binary_erosion(brain[k][box], np.ones((e, e), bool)) & (np.abs(plane - parenchyma_hu) < NOISE_WINDOW_HU)
        residuals.append((plane - ndi.uniform_filter(plane, 3))[core])
    residual = np.concatenate(residuals) if residuals else np.zeros(0, np.float32)
    if residual.size < 100:
        return None
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))))


def calibration_warnings(report: dict) -> list[str]:
    """Every note the network input's calibration report gives: the density shift (``calibration_warning``)
    and image noise above ``NOISE_WARNING_HU``."""
    notes = [calibration_warning(report)]
    noise = report.get("noise_hu")
    if noise is not None and noise > NOISE_WARNING_HU:
        notes.append(f"image noise {noise:.1f} HU (parenchyma, 1 mm grid) is above the {NOISE_WARNING_HU:.1f} HU the "
                     "segmentation was validated at: small isolated spots of blood may be noise; check them, or "
                     "use a thicker or softer-kernel reconstruction")
    return [n for n in notes if n]


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


def soft_tissue(hu: np.ndarray) -> np.ndarray:
    """The voxels a density shift moves (``SOFT_TISSUE_SHIFT_HU``): not air, not bone."""
    return (hu > SOFT_TISSUE_SHIFT_HU[0]) & (hu < SOFT_TISSUE_SHIFT_HU[1])


def shift_soft_tissue(hu: np.ndarray, shift: float) -> np.ndarray:
    """Add ``shift`` to the soft-tissue voxels of ``hu`` in place (air and bone keep their values)."""
    hu[soft_tissue(hu)] += shift
    return hu


def shifted_ct(ct: CTImage, shift: float) -> CTImage:
    """A float32 copy of ``ct`` with its soft tissue shifted by ``shift`` HU (``ct`` itself when 0)."""
    if not shift:
        return ct
    hu = shift_soft_tissue(ct.array.astype(np.float32, copy=True), shift)
    return CTImage(hu, ct.spacing, ct.origin, ct.direction.copy(), ct.source, dict(ct.metadata))
