"""Expansion labels of a cohort table, including rows that give a follow-up CT instead of a label.

A row's label comes from, in this order: its follow-up mask with its baseline mask, its ``label``
column, or its ``followup_ct``. A follow-up CT is segmented by the bundled segmenter (``auto``, the
one ``compare`` uses by default) and made consistent with its baseline as ``compare`` makes it (the
follow-up registered rigidly to the baseline; its IPH inside the baseline's ventricular space counted
as IVH: ``pipeline.compare.register_consistent``); its IPH/IVH volumes are measured on its own grid
and compared with the baseline's (the given baseline mask, else the baseline's automatic
segmentation, the one the features use) by ``expansion.labels.label_from_volumes``. The follow-up
mask (``masks/``, shared with the baseline auto-segmentations) and its volumes (``followup/``) are
cached under ``config.cache_dir()`` keyed by the follow-up CT's and the baseline's sha256 and the
segmenter's identity, so a rerun reads no follow-up CT and runs neither segmenter nor registration. A
follow-up that is missing, unreadable, cannot be segmented or registered, or shows no hemorrhage
skips its row (logged and listed in the report), not the run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core import config
from ..core.errors import CohortError, HematomaExpansionError
from ..core.hashing import sha256_file_cached, sha256_text
from ..expansion.labels import IVH_PRESENT_MIN_ML, compartment_volumes, label_from_volumes
from ..io.ct_files import read_ct
from ..io.masks import read_mask
from ..pipeline.compare import Scan, register_consistent
from ..segmentation.dispatch import describe_method
from .cohort import Case, case_label, has_explicit_label
from .feature_cache import auto_segmentation_identity, cached_auto_segmentation
from .mask_volumes import mask_file_volumes, read_cached_volumes, write_cached_volumes

log = logging.getLogger(__name__)

VOLUMES_VERSION = 2  # bump when the volumes' meaning changes (2: made consistent with the baseline, as compare)
SOURCE_MASKS = "follow-up mask"
SOURCE_LABEL = "label column"


@dataclass
class LabelledCohort:
    """The cases that have a label (cohort order), their labels, and the rows skipped with why."""

    cases: list[Case]
    labels: np.ndarray
    skipped: list[dict[str, str]] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """Report entries: where the labels came from and which rows were skipped."""
        return {"labels_from": dict(self.sources), "skipped_cases": list(self.skipped)}


def path_digest(path: Path) -> str:
    """sha256 of a CT file, or of a DICOM folder's files (relative names and contents)."""
    if not path.is_dir():
        return sha256_file_cached(path)
    files = sorted(f for f in path.rglob("*") if f.is_file())
    return sha256_text(json.dumps([[str(f.relative_to(path)), sha256_file_cached(f)] for f in files]))


def _followup_source() -> str:
    return f"follow-up CT (auto-segmented: {describe_method('auto')})"


def followup_volumes(case: Case) -> tuple[float, float]:
    """(IPH mL, IVH mL) of a row's follow-up CT, segmented by the bundled segmenter and made consistent with
    its baseline (see the module docstring), cached per follow-up CT, baseline CT and mask, and segmenter."""
    path = case.followup_ct
    if path is None or not path.exists():
        raise CohortError(f"{path}: not found")
    digest = path_digest(path)
    identity = auto_segmentation_identity()
    baseline_key = {"ct": path_digest(case.ct), "mask": sha256_file_cached(case.mask) if case.mask is not None else None}
    key = sha256_text(json.dumps({"followup_ct": digest, "baseline": baseline_key, "segmenter": identity,
                                  "version": VOLUMES_VERSION}))
    cpath = config.cache_dir() / "followup" / f"{key}.json"
    cached = read_cached_volumes(cpath)
    if cached is not None:
        return cached
    ct1 = read_ct(path)
    followup = Scan(ct1, cached_auto_segmentation(path, ct1, cache_key=digest), str(path), None, "auto")
    ct0 = read_ct(case.ct)
    if case.mask is not None:
        baseline = Scan(ct0, read_mask(case.mask, ct0), str(case.ct), str(case.mask), "given")
    else:
        baseline = Scan(ct0, cached_auto_segmentation(case.ct, ct0), str(case.ct), None, "auto")
    _, followup, relabelled_ml = register_consistent(baseline, followup)
    iph, ivh = compartment_volumes(followup.labels, ct1.spacing)
    write_cached_volumes(cpath, {"followup_ct": str(path), "sha256": digest, "baseline": baseline_key,
                                 "segmenter": identity, "iph_ml": iph, "ivh_ml": ivh, "ivh_relabelled_ml": relabelled_ml})
    return iph, ivh


def baseline_volumes(case: Case) -> tuple[float, float]:
    """(IPH mL, IVH mL) of the baseline: the given mask, else the cached automatic segmentation."""
    try:
        if case.mask is not None:
            return mask_file_volumes(case.mask)
        ct = read_ct(case.ct)
        labels, spacing = cached_auto_segmentation(case.ct, ct), ct.spacing
    except HematomaExpansionError as exc:
        raise CohortError(f"case {case.case_id}: baseline: {exc}") from None
    return compartment_volumes(labels, spacing)


def followup_ct_label(case: Case, definition: str) -> int:
    """The label of a row from its follow-up CT; ``HematomaExpansionError`` when the follow-up fails."""
    if case.followup_ct is None:
        raise CohortError(f"case {case.case_id}: no follow-up CT")
    iph0, ivh0 = baseline_volumes(case)  # first: a bad baseline is named as such, not as a follow-up failure
    try:
        iph1, ivh1 = followup_volumes(case)
    except (HematomaExpansionError, OSError, RuntimeError, ValueError) as exc:
        # segmentation/reading failures of one scan (sitk and torch raise RuntimeError) skip the row
        message = str(exc) if str(case.followup_ct) in str(exc) else f"{case.followup_ct}: {exc}"
        raise HematomaExpansionError(f"follow-up CT {message}") from None
    if iph1 + ivh1 <= 0.0:
        raise HematomaExpansionError(f"follow-up CT {case.followup_ct}: the segmenter found no hemorrhage "
                                     "(a failed segmentation, or not this patient's follow-up?)")
    figures = label_from_volumes(iph0, iph1, ivh0, ivh1, min_ivh_ml=IVH_PRESENT_MIN_ML)  # the follow-up is automatic
    log.info("case %s: IPH %.2f -> %.2f mL, IVH %.2f -> %.2f mL, %s label %d", case.case_id, iph0, iph1, ivh0,
             ivh1, definition, figures.label(definition))
    return int(figures.label(definition))


def label_cohort(cases: list[Case], definition: str, progress: bool = True) -> LabelledCohort:
    """Label every case (see the module docstring); rows whose follow-up CT fails are skipped."""
    kept, labels, skipped = [], [], []
    sources: dict[str, int] = {}
    for case in tqdm(cases, desc="labels", disable=not progress):
        if has_explicit_label(case) or case.followup_ct is None:
            label = case_label(case, definition)
            source = SOURCE_MASKS if case.followup is not None and case.mask is not None else SOURCE_LABEL
        else:
            try:
                label = followup_ct_label(case, definition)
            except HematomaExpansionError as exc:
                log.warning("case %s skipped: %s", case.case_id, exc)
                skipped.append({"case_id": case.case_id, "reason": str(exc)})
                continue
            source = _followup_source()
        kept.append(case)
        labels.append(label)
        sources[source] = sources.get(source, 0) + 1
    mixed = sum(c.followup_ct is not None and c.mask is not None and not has_explicit_label(c) for c in kept)
    if mixed:
        log.warning("%d case(s) compare a given baseline mask with an automatic follow-up segmentation: "
                    "their growth mixes two mask sources", mixed)
    if not kept:
        raise CohortError(f"no case left to train or evaluate on: all {len(cases)} rows were skipped")
    return LabelledCohort(kept, np.array(labels, int), skipped, sources)
