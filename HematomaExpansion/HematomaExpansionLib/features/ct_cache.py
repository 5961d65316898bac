"""Per-CT work that does not depend on the hemorrhage mask, kept for re-scoring.

Re-score (the user edits the mask in Slicer and presses Re-score) computes the features again from
the same CT and a new mask. What depends on the CT alone is kept here between calls, so only the
mask-dependent work is repeated: the CT as a SimpleITK image and the radiomics 1 mm resampling
of the region around the hematoma (``features.radiomics``).

An entry is keyed by the CT's content (sha256 of the voxels) and its geometry (shape, spacing,
origin, direction), not by object identity: Slicer builds a new ``CTImage`` from the volume node
on every call, and a CT edited in place or moved gets a new key. The last ``CAPACITY`` CTs are
kept (least recently used first out). Cached and uncached results are the same (tested):
everything cached is what the uncached path computes, cut from a larger piece.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..core.ct_image import CTImage

log = logging.getLogger(__name__)

CAPACITY = 2  # CTs kept (about 2 × the CT's size in memory each, plus the resampled regions)

_entries: OrderedDict[tuple, "CTCache"] = OrderedDict()
_lock = threading.Lock()
_state = {"enabled": True, "hits": 0, "misses": 0}


def ct_key(ct: CTImage) -> tuple:
    """(sha256 of the voxels, shape, spacing, origin, direction): equal keys, equal CTs."""
    arr = np.ascontiguousarray(ct.array)
    digest = hashlib.sha256(memoryview(arr).cast("B")).hexdigest()
    return (digest, str(arr.dtype), tuple(arr.shape), tuple(ct.spacing), tuple(ct.origin),
            tuple(np.asarray(ct.direction, float).ravel()))


class CTCache:
    """Mask-independent pieces of one CT. ``memo`` holds what feature modules store by their own keys."""

    def __init__(self, key: tuple) -> None:
        self.key = key
        self._sitk: sitk.Image | None = None
        self.memo: dict[Any, Any] = {}

    def sitk_image(self, ct: CTImage) -> sitk.Image:
        """``ct.to_sitk()`` (float32 HU), built once. Do not modify it."""
        if self._sitk is None:
            self._sitk = ct.to_sitk()
        return self._sitk


def lookup(ct: CTImage) -> CTCache | None:
    """The cache entry of this CT (a new, empty one when the CT is new); None when caching is off."""
    if not enabled():
        return None
    key = ct_key(ct)
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            _entries.move_to_end(key)
            _state["hits"] += 1
            return entry
        _state["misses"] += 1
        entry = _entries[key] = CTCache(key)
        while len(_entries) > CAPACITY:
            _entries.popitem(last=False)
        log.debug("CT cache: new entry %s (%d kept)", key[0][:12], len(_entries))
        return entry


def enabled() -> bool:
    with _lock:
        return bool(_state["enabled"])


def clear() -> None:
    """Forget every CT (and reset the hit/miss counters)."""
    with _lock:
        _entries.clear()
        _state.update(hits=0, misses=0)


def stats() -> dict[str, int]:
    """``{"entries", "hits", "misses"}`` since the last ``clear``."""
    with _lock:
        return {"entries": len(_entries), "hits": _state["hits"], "misses": _state["misses"]}


@contextmanager
def disabled() -> Iterator[None]:
    """Within the block ``lookup`` gives None: the uncached computation (for comparisons, timing)."""
    with _lock:
        before = _state["enabled"]
        _state["enabled"] = False
    try:
        yield
    finally:
        with _lock:
            _state["enabled"] = before
