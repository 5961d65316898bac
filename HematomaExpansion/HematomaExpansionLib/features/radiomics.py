"""Radiomics of the intraparenchymal hematoma with pyradiomics and the committed CT parameter file.

Parameter file: ``resources/radiomics_ct.yaml`` (bin width 25 HU, isotropic 1 mm resampling,
crop before filtering, original image; filters selectable). Features keep pyradiomics' names
(``original_firstorder_Mean``, ``log-sigma-1-0-mm-3D_glcm_Contrast``, ...); the diagnostics
entries (``diagnostics_*``) are dropped.

The ROI is the IPH (label 1). When a mask has no IPH (IVH only), all hemorrhage is used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import numpy as np
import SimpleITK as sitk

from ..core.config import RESOURCES_DIR
from ..core.ct_image import CTImage
from ..core.errors import HematomaExpansionError, SegmentationError

PARAMS_FILE = RESOURCES_DIR / "radiomics_ct.yaml"
FILTERS = ("Original", "LoG", "Wavelet", "Square", "SquareRoot", "Logarithm", "Exponential", "Gradient", "LBP3D")

_EXTRACTORS: dict[tuple, object] = {}


def _quiet() -> None:
    import radiomics

    radiomics.setVerbosity(logging.ERROR)
    for name in ("radiomics", "radiomics.featureextractor", "radiomics.imageoperations", "radiomics.glcm"):
        logging.getLogger(name).setLevel(logging.ERROR)


def extractor(filters: Iterable[str] = ("Original",), params: str | Path | None = None):
    """A (cached) pyradiomics extractor from the parameter file with the given image types enabled."""

    filters = tuple(filters)
    bad = [f for f in filters if f not in FILTERS]
    if bad:
        raise HematomaExpansionError(f"unknown radiomics filter(s) {bad}; choose from {', '.join(FILTERS)}")
    key = (filters, str(params or PARAMS_FILE))
    if key not in _EXTRACTORS:
        _quiet()
        from radiomics import featureextractor

        ex = featureextractor.RadiomicsFeatureExtractor(str(params or PARAMS_FILE))
        ex.disableAllImageTypes()
        for f in filters:
            ex.enableImageTypeByName(f)
        _EXTRACTORS[key] = ex
    return _EXTRACTORS[key]


def roi_mask(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    m = labels == 1
    if not m.any():
        m = labels > 0
    return m.astype(np.uint8)


def extract(ct: CTImage, labels: np.ndarray, filters: Iterable[str] = ("Original",),
            params: str | Path | None = None) -> dict[str, float]:
    """pyradiomics features of the IPH, as ``{pyradiomics name: float}``."""

    m = roi_mask(labels)
    if m.sum() < 10:
        raise SegmentationError("hematoma ROI too small for radiomics (< 10 voxels)")
    ex = extractor(filters, params)
    img = ct.to_sitk()
    msk = ct.to_sitk(m)
    msk = sitk.Cast(msk, sitk.sitkUInt8)
    res = ex.execute(img, msk, label=1)
    out: dict[str, float] = {}
    for k, v in res.items():
        if k.startswith("diagnostics_"):
            continue
        try:
            f = float(np.asarray(v).ravel()[0])
        except (TypeError, ValueError, IndexError):
            continue
        out[k] = f if np.isfinite(f) else 0.0
    return out
