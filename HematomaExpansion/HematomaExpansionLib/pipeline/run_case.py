"""The one pipeline behind every front end: CTImage (+ optional mask) → Prediction."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.ct_image import CTImage
from ..core.errors import NoHemorrhageError, SegmentationError
from ..core.results import Prediction
from ..expansion.predictor import ExpansionPredictor
from ..features.clinical import CLINICAL_ALIASES
from ..features.measurement import measure, scan_edge_warnings
from ..segmentation.calibration import calibration_warnings
from ..segmentation.dispatch import describe_method, segment

log = logging.getLogger(__name__)

MIN_SCORABLE_VOLUME_ML = 0.2  # below this, radiomics/shape features are noise; refuse to score


def validate_mask(ct: CTImage, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != ct.shape:
        raise SegmentationError(
            f"mask grid {mask.shape[::-1]} (i,j,k) does not match the CT grid {ct.shape[::-1]}; "
            "the mask must be drawn on this CT"
        )
    if mask.min() < 0:
        raise SegmentationError("mask has negative labels; expected 0 = background, 1 = IPH, 2 = IVH")
    labels = mask.astype(np.uint8)
    labels[(mask > 0) & (mask != 1) & (mask != 2)] = 1  # any other positive label counts as hemorrhage
    return labels


def run_pipeline(
    ct: CTImage,
    mask: np.ndarray | None = None,
    clinical: dict[str, Any] | None = None,
    seg_method: str = "auto",
    definition: str | None = None,
    models_dir: Path | None = None,
    predictor: Any | None = None,
    score: bool = True,
    require_hemorrhage: bool = True,
) -> Prediction:
    """Segment (unless ``mask`` is given), measure, and score one CT.

    ``predictor``: an already loaded expansion model (re-used across cases in batch / Slicer);
    loaded from ``models_dir`` for ``definition`` otherwise. ``score=False`` stops after measuring.
    An empty or too small hemorrhage raises ``NoHemorrhageError`` when ``require_hemorrhage``
    (``predict``); otherwise it is a result with ``status`` ``no_hemorrhage``/``too_small`` and no
    probability (``batch``: a normal scan is an answer, not a failure).
    """
    timings: dict[str, float] = {}
    warnings: list[str] = []
    if ct.metadata.get("gantry_tilt_corrected"):
        warnings.append(f"gantry tilt of {ct.metadata['gantry_tilt_deg']:.1f}° corrected: the slices were re-aligned "
                        "onto a regular grid (as dcm2niix does); the mask and heatmap are on that corrected grid")
    t0 = time.perf_counter()
    if mask is None:
        labels = segment(ct, method=seg_method)
        mask_source = describe_method(seg_method)
    else:
        labels = validate_mask(ct, mask)
        mask_source = "user"
    timings["segmentation"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    measurements = measure(ct, labels)
    warnings += scan_edge_warnings(ct, labels)
    timings["measurement"] = time.perf_counter() - t0

    model_output = None
    status, reason = "ok", ""
    if measurements.volume_ml <= 0:
        status, reason = "no_hemorrhage", ("no hemorrhage found in this scan (mask is empty); nothing to score. "
                                            "If there is a bleed, draw it in Segment Editor or pass --mask")
    elif measurements.volume_ml < MIN_SCORABLE_VOLUME_ML:
        status, reason = "too_small", (f"hemorrhage of {measurements.volume_ml:.2f} mL is below the "
                                       f"{MIN_SCORABLE_VOLUME_ML} mL that can be scored reliably")
    if score and status != "ok":
        if require_hemorrhage:
            raise NoHemorrhageError(reason)
        warnings.append(reason)
        score = False
    if score:
        if predictor is None:
            predictor = ExpansionPredictor.load(models_dir=models_dir, definition=definition)
        t0 = time.perf_counter()
        model_output = predictor.predict(ct, labels, clinical or {})
        timings["prediction"] = time.perf_counter() - t0
        unused = model_output.scores.get("model_variant", {}).get("unused_clinical_inputs") or []
        if unused:
            warnings.append(f"clinical inputs not used by model {model_output.model_id}: {', '.join(unused)} "
                            f"(it reads {', '.join(CLINICAL_ALIASES)})")
    # segmentation's or the features' calibration report
    warnings[:0] = calibration_warnings(ct.metadata.get("density_calibration") or {})
    return Prediction(ct.source, labels, mask_source, measurements, model_output, timings, warnings, status)

