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

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from ..core.ct_image import CTImage
from ..segmentation.calibration import calibration_shift_hu, shifted_ct, soft_tissue
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


def feature_shift_hu(report: dict) -> float:
    """Whole HU that bring the report's parenchyma inside ``FEATURE_DENSITY_RANGE_HU`` (0 when it is already);
    added to ``report`` as ``feature_shift_hu``. Whole (rounded away from zero, so the scan lands inside), so
    that a scan's integer HU can be shifted and restored exactly."""
    exact = calibration_shift_hu(report.get("parenchyma_hu"), FEATURE_DENSITY_RANGE_HU)
    shift = float(np.sign(exact) * np.ceil(abs(exact)))
    report["feature_shift_hu"] = shift
    return shift


def calibrated_ct(ct: CTImage, report: dict) -> CTImage:
    """A copy of ``ct`` with its soft tissue shifted by ``feature_shift_hu`` (``ct`` itself when 0)."""
    return shifted_ct(ct, feature_shift_hu(report))


@contextmanager
def calibrated(ct: CTImage, report: dict) -> Iterator[CTImage]:
    """``ct`` as ``calibrated_ct`` gives it, for the duration of the block. A float32 scan of whole HU (what
    scanners store) is shifted in place and restored bit for bit afterwards, slice by slice, so a 512×512×300
    scan does not need a second 300 MB copy (``predict``'s memory budget is 2 GB); any other scan is copied."""
    shift = feature_shift_hu(report)
    arr = ct.array
    if not shift:
        yield ct
        return
    if arr.dtype != np.float32 or not arr.flags.writeable or not all(np.array_equal(a, np.rint(a)) for a in arr):
        yield calibrated_ct(ct, report)
        return
    shifted = []
    try:
        for a in arr:
            soft = soft_tissue(a)
            a[soft] += shift
            shifted.append(np.packbits(soft))
        yield ct
    finally:
        for a, bits in zip(arr, shifted):
            a[np.unpackbits(bits, count=a.size).reshape(a.shape).astype(bool)] -= shift
