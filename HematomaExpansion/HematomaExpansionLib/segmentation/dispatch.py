"""Hemorrhage segmentation entry point: picks the method, returns labels on the CT's grid.

Methods: ``net`` (bundled attention U-Net, see ``net.py``), ``classic`` (documented
threshold/morphology baseline, see ``classic.py``), ``auto`` (net when its weights are
bundled, classic otherwise).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ..core.ct_image import CTImage
from ..core.errors import HematomaExpansionError
from . import net
from .classic import segment_classic

log = logging.getLogger(__name__)

METHODS = ("auto", "net", "classic")


def net_available() -> bool:
    return net.weights_available()


def resolve_method(method: str) -> str:
    if method not in METHODS:
        raise HematomaExpansionError(f"unknown segmentation method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "auto":
        return "net" if net_available() else "classic"
    return method


def describe_method(method: str) -> str:
    """The mask source recorded in results: ``classic`` or ``net (<model id> <version>, threshold)``."""
    resolved = resolve_method(method)
    if resolved == "net":
        return f"net ({net.model_description()})"
    return resolved


def start_loading(method: str = "auto") -> Future | None:
    """Load ``method``'s network in a background thread (importing torch and the weights take ~1 s), so a
    command can read its scan meanwhile. None when the method needs no network. Wait on the future before
    segmenting: a missing or corrupt model raises there."""
    if resolve_method(method) != "net":
        return None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segmentation-model")
    loading = pool.submit(net.load_model)
    pool.shutdown(wait=False)
    return loading


def segment(ct: CTImage, method: str = "auto") -> np.ndarray:
    """uint8 labels on ``ct``'s grid: 0 background, 1 intraparenchymal, 2 intraventricular."""
    resolved = resolve_method(method)
    log.info("segmenting %s with the %s method", ct.source or "image", resolved)
    ct.metadata.pop("density_calibration", None)  # an earlier run's report must not outlive its mask
    if resolved == "net":
        return net.segment_net(ct)
    return segment_classic(ct)
