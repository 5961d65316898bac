"""IPH and IVH volumes of a mask file, cached on disk by the file's content.

Labelling a cohort from its mask pairs needs only four numbers per row, but reading a compressed
mask is most of the time of ``train``/``evaluate``'s labelling step, and every definition's run
labels the same rows again (``scripts/build_expansion_model.sh``: 4 definitions × 3 runs). The volumes
are kept under ``config.cache_dir() / "volumes"``, keyed by the file's sha256 (a changed mask is
measured again) and ``VERSION`` (bump it when ``compartment_volumes`` changes meaning).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..core import config
from ..core.hashing import sha256_file_cached
from ..expansion.labels import compartment_volumes
from ..io.masks import read_mask_file

log = logging.getLogger(__name__)

VERSION = 1


def mask_file_volumes(path: str | Path) -> tuple[float, float]:
    """(IPH mL, IVH mL) of a label file (2 = IVH, any other positive label = IPH), as
    ``compartment_volumes`` measures them on the file's own grid."""
    cpath = config.cache_dir() / "volumes" / f"{sha256_file_cached(path)}-v{VERSION}.json"
    cached = read_cached_volumes(cpath)
    if cached is not None:
        return cached
    labels, spacing = read_mask_file(path)
    iph, ivh = compartment_volumes(labels, spacing)
    write_cached_volumes(cpath, {"file": str(path), "iph_ml": iph, "ivh_ml": ivh})
    return iph, ivh


def read_cached_volumes(cpath: Path) -> tuple[float, float] | None:
    """(IPH mL, IVH mL) from a cache file written by ``write_cached_volumes``; None when absent or unreadable."""
    if not cpath.exists():
        return None
    try:
        doc = json.loads(cpath.read_text())
        return float(doc["iph_ml"]), float(doc["ivh_ml"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        log.info("%s: unreadable cached volumes, measuring again", cpath)
        return None


def write_cached_volumes(cpath: Path, doc: dict) -> None:
    """Write ``doc`` (with ``iph_ml`` and ``ivh_ml``) atomically: parallel workers may write the same key."""
    cpath.parent.mkdir(parents=True, exist_ok=True)
    tmp = cpath.with_name(f".{cpath.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(cpath)
