"""The image features of one case (volumes, NCCT signs, radiomics), as the expansion model reads them."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import numpy as np

from ..core.ct_image import CTImage
from ..core.results import LABEL_IVH
from . import location, radiomics, signs
from .ct_cache import CTCache

# bump when a feature's definition changes: cached training features are recomputed
# features-3: NCCT signs as published (docs/ncct_signs.md); features-4: pocket top-hat, robust
# heterogeneity, distance to the ventricles; features-5: features-4 measured on the density-calibrated
# scan (features.density), the same values on every scan inside the calibration range; features-6: the
# density signs on the clot voxels only (signs.CLOT_FLOOR_HU: a mask covering a CSF or edema cleft)
FEATURE_VERSION = "features-6"


def volume_features(ct: CTImage, labels: np.ndarray) -> dict[str, float]:
    vml = ct.voxel_volume_ml
    labels = np.asarray(labels)
    ivh = float(np.count_nonzero(labels == LABEL_IVH) * vml)
    iph = float(np.count_nonzero(labels > 0) * vml) - ivh
    return {
        "volume_iph_ml": iph, "volume_ivh_ml": ivh, "volume_log_iph": math.log1p(iph),
        "volume_ivh_present": float(ivh > 0),
    }


def image_features(ct: CTImage, labels: np.ndarray, filters=("Original",),
                   radiomics_features: Iterable[str] | None = None,
                   cache: CTCache | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Volume + NCCT-sign + location + radiomics features (no CNN). Returns (features, timings in s).

    ``radiomics_features``: the pyradiomics features to compute (a model's; None = all; empty =
    none). ``cache``: the CT's ``ct_cache`` entry (re-scoring keeps the mask-independent work).
    """
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    feats = volume_features(ct, labels)
    feats.update(signs.measure_signs(ct, labels))
    t["signs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    feats.update(location.location_features(ct, labels, cache))
    t["location"] = time.perf_counter() - t0
    names = None if radiomics_features is None else list(radiomics_features)
    if names is None or names:
        t0 = time.perf_counter()
        feats.update(radiomics.extract(ct, labels, filters, features=names, cache=cache))
        t["radiomics"] = time.perf_counter() - t0
    return feats, t
