"""Per-case training data: the CT and the labels features are measured on, the cached
auto-segmentation of unmasked cases, and the per-case image-feature cache.

Image features are cached in ``config.cache_dir()/features`` keyed by the sha256 of the CT and mask
files (or the segmentation model's identity), the feature version, the radiomics filters and the
parameter file, so re-runs only recompute what changed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from ..core import config
from ..core.errors import CohortError, HematomaExpansionError
from ..core.hashing import sha256_file_cached, sha256_text
from ..features.case_features import FEATURE_VERSION, image_features
from ..features.density import calibrated_ct, density_report
from ..features.radiomics import PARAMS_FILE
from ..io.ct_files import read_ct
from ..io.masks import read_mask
from ..segmentation.dispatch import describe_method, resolve_method, segment
from ..segmentation.net import manifest_entry
from .cohort import Case

SEGMENTATION_CODE_PACKAGES = ("segmentation", "anatomy")


def segmentation_code_fingerprint(root: Path | None = None) -> str:
    """sha256 over the source of the packages that make an automatic mask (under ``root``, default this
    library). A post-processing constant changed without a new ``POSTPROCESS_VERSION`` would otherwise
    leave stale masks and features cached."""
    root = Path(__file__).resolve().parents[1] if root is None else root
    files = sorted(f for pkg in SEGMENTATION_CODE_PACKAGES for f in (root / pkg).glob("*.py"))
    return sha256_text("".join(f"{f.relative_to(root)}:{sha256_file_cached(f)}" for f in files))[:16]


def auto_segmentation_identity() -> str:
    """What segments cases without a mask: method, model version, post-processing, threshold, weights'
    sha256 and the segmentation code's fingerprint (so cached masks and features are recomputed when any
    of them changes)."""
    ident = f"auto-segmentation: {describe_method('auto')} code {segmentation_code_fingerprint()}"
    if resolve_method("auto") == "net":
        entry = manifest_entry()
        ident += f" sha256 {entry[1].get('sha256', '') if entry else ''}"
    return ident


def feature_cache_key(case: Case, filters) -> str:
    parts = {
        "ct": sha256_file_cached(case.ct),
        "mask": sha256_file_cached(case.feature_mask) if case.feature_mask else auto_segmentation_identity(),
        "version": FEATURE_VERSION, "filters": list(filters), "params": sha256_file_cached(PARAMS_FILE),
    }
    return sha256_text(json.dumps(parts, sort_keys=True))


def load_case(case: Case):
    """The case's CT, density-calibrated as the predictor measures it (``features.density``), and the
    labels its image features are measured on (``Case.feature_mask``)."""
    try:
        ct = read_ct(str(case.ct))
    except HematomaExpansionError as exc:
        raise CohortError(f"case {case.case_id}: {exc}") from None
    if case.feature_mask is None:
        labels = cached_auto_segmentation(case.ct, ct)
    else:
        try:
            labels = read_mask(case.feature_mask, ct).astype(np.uint8)
        except HematomaExpansionError as exc:
            raise CohortError(f"case {case.case_id}: baseline mask: {exc}") from None
        labels[labels > 2] = 1
    return calibrated_ct(ct, density_report(ct)), labels


def cached_auto_segmentation(ct_path: Path, ct, cache_key: str | None = None) -> np.ndarray:
    """The bundled segmenter's labels of the CT read from ``ct_path``, cached per CT file and
    segmentation model (``cache_key`` overrides the CT file's sha256, e.g. for a DICOM folder), so
    features, the CNN and the follow-up labels of a rerun reuse them."""
    key = sha256_text(f"{cache_key or sha256_file_cached(ct_path)}|{auto_segmentation_identity()}")
    path = config.cache_dir() / "masks" / f"{key}.npz"
    if path.exists():
        try:
            labels = np.load(path)["labels"]
            if labels.shape == ct.shape:
                return labels
        except (OSError, ValueError, KeyError):
            pass
    labels = segment(ct, method="auto")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    np.savez_compressed(tmp, labels=labels)
    tmp.replace(path)
    return labels


def case_image_features(case: Case, filters=("Original",), use_cache: bool = True) -> dict[str, float]:
    cdir = config.cache_dir() / "features"
    key = feature_cache_key(case, filters)
    cpath = cdir / f"{key}.json"
    if use_cache and cpath.exists():
        try:
            return json.loads(cpath.read_text())["features"]
        except (json.JSONDecodeError, KeyError):
            pass
    ct, labels = load_case(case)
    if not np.any(labels > 0):
        raise CohortError(f"case {case.case_id}: the baseline mask is empty (no hemorrhage to score)")
    feats, _ = image_features(ct, labels, filters)
    if use_cache:
        cdir.mkdir(parents=True, exist_ok=True)
        tmp = cpath.with_suffix(".tmp")
        tmp.write_text(json.dumps({"case_id": case.case_id, "features": feats}))
        tmp.replace(cpath)
    return feats


def _single_threaded_worker() -> None:
    # the worker processes already use every core; threads inside each one only add contention
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:  # the segmenter (cases without a mask) runs torch in the worker
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def extract_features(cases: list[Case], filters=("Original",), progress: bool = True, use_cache: bool = True,
                     desc: str = "features", workers: int = 1) -> list[dict[str, float]]:
    """Image features of every case, in cohort order; ``workers`` > 1 extracts in parallel processes."""
    if workers <= 1 or len(cases) < 2:
        return [case_image_features(c, filters, use_cache) for c in tqdm(cases, desc=desc, disable=not progress)]
    job = partial(case_image_features, filters=tuple(filters), use_cache=use_cache)
    # spawn, not fork: by now this process may have started torch's thread pool (a model was
    # loaded), and forked children that segment with torch then wait forever on its locks
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, initializer=_single_threaded_worker, mp_context=ctx) as pool:
        return list(tqdm(pool.map(job, cases), total=len(cases), desc=desc, disable=not progress))
