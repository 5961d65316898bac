"""The scan as the expansion model's image features read it: density-calibrated like the segmentation
network's input (``segmentation.calibration``).

The expansion models learned density features (the core's lowest HU, first-order radiomics, the CNN's
HU windows) on the training head's scanner: the 16 derived heads of the simulated cohorts read their
parenchyma at 20.9-26.1 HU. A scanner reading soft tissue 10 HU higher lowered the bundled
`conventional` model's probabilities by a median of 1.3 logits (24 held-out patients, true masks: mean
0.31 -> 0.17). So the features are measured on the scan with its soft tissue shifted into
``FEATURE_DENSITY_RANGE_HU`` (the cohorts' range, so the bundled models' own features are unchanged),
in training (``training.feature_cache.load_case``) as in prediction, so a model retrained on another
cohort sees its scans the same way. Volumes never change.
"""

from __future__ import annotations

from ..core.ct_image import CTImage
from ..segmentation.calibration import calibration_shift_hu, shift_soft_tissue
from ..segmentation.net import density_calibration
from .ct_cache import CTCache

METADATA_KEY = "density_calibration"
FEATURE_DENSITY_RANGE_HU = (20.5, 26.5)


def density_report(ct: CTImage, cache: CTCache | None = None) -> dict:
    """``{"parenchyma_hu", "density_shift_hu"}`` of ``ct``: the segmentation's own report when the network
    segmented this CT, else the per-CT cache's, else measured (about a second on a thin-slice scan)."""
    report = ct.metadata.get(METADATA_KEY) or (cache.memo.get(METADATA_KEY) if cache is not None else None)
    if not report or "parenchyma_hu" not in report:
        report = density_calibration(ct)
    ct.metadata[METADATA_KEY] = report
    if cache is not None:
        cache.memo[METADATA_KEY] = report
    return report


def calibrated_ct(ct: CTImage, report: dict) -> CTImage:
    """``ct`` with its soft tissue shifted into ``FEATURE_DENSITY_RANGE_HU`` (``ct`` itself when inside it);
    the shift is added to ``report`` as ``feature_shift_hu``."""
    shift = calibration_shift_hu(report.get("parenchyma_hu"), FEATURE_DENSITY_RANGE_HU)
    report["feature_shift_hu"] = shift
    if not shift:
        return ct
    hu = shift_soft_tissue(ct.array.astype("float32", copy=True), shift)
    return CTImage(hu, ct.spacing, ct.origin, ct.direction.copy(), ct.source, dict(ct.metadata))
