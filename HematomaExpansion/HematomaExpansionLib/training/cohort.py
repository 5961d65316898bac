"""Cohort tables for train/evaluate: one ``Case`` per baseline scan, and its expansion label.

Cohort CSV (paths relative to the CSV's folder or absolute):
- ``baseline_ct`` (required): baseline NCCT (NIfTI/NRRD; aliases ``ct``, ``image``);
- ``baseline_mask`` (optional; alias ``mask``): labels 1 = IPH, 2 = IVH; segmented automatically when absent;
- ``followup_mask`` (alias ``mask1``) **or** ``label`` (0/1 under the chosen definition; aliases ``he``, ``expansion``)
  **or** ``followup_ct`` (aliases ``ct1``, ``follow_up_ct``): with follow-up masks the label is computed for the
  chosen definition by ``expansion.labels``; a follow-up CT is segmented and labelled by ``followup_labels``
  (used only when the row has neither a follow-up mask with a baseline mask nor a label);
- ``patient_id`` (optional; default ``case_id``/row): cross-validation never splits a patient;
- clinical columns (optional): ``onset_to_ct_h``, ``anticoagulation``, ``warfarin``, ``recurrent_ich``
  (aliases in ``features.clinical.CLINICAL_ALIASES``). Other columns are ignored.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.errors import CohortError
from ..expansion.labels import label_from_volumes
from ..features.clinical import CLINICAL_ALIASES, as_bool
from .mask_volumes import mask_file_volumes

CT_COLS = ("baseline_ct", "ct", "image")
MASK_COLS = ("baseline_mask", "mask")
FU_COLS = ("followup_mask", "mask1", "follow_up_mask")
FU_CT_COLS = ("followup_ct", "ct1", "follow_up_ct")
LABEL_COLS = ("label", "he", "expansion")


@dataclass
class Case:
    case_id: str
    patient_id: str
    ct: Path
    mask: Path | None
    followup: Path | None
    label: int | None
    clinical: dict[str, Any] = field(default_factory=dict)
    # True: image features come from the bundled segmenter's mask even when a baseline mask is
    # given (the given mask then only defines the expansion label), as in the one-button pipeline
    segment_baseline: bool = False
    # follow-up CT to segment for the label (existence is checked when labelling: a missing or
    # unreadable follow-up skips the row instead of stopping the run)
    followup_ct: Path | None = None

    @property
    def feature_mask(self) -> Path | None:
        """The baseline mask image features are measured on (None = auto-segmentation)."""
        return None if self.segment_baseline else self.mask


def as_segmenter_sees_them(cases: list[Case]) -> list[Case]:
    """The same cases with their image features measured on the bundled segmenter's masks (the given
    baseline masks still define the labels), as the one-button pipeline scores them."""
    return [replace(c, segment_baseline=True) for c in cases]


def _pick(row: dict[str, str], names) -> str | None:
    for n in names:
        v = row.get(n)
        if v is not None and str(v).strip() != "":
            return str(v).strip()
    return None


MASK_SOURCES = ("given", "auto")


def read_cohort(path: str | Path, mask_source: str = "given") -> list[Case]:
    """Cases of a cohort table. ``mask_source`` picks the mask image features are measured on:
    ``given`` = the baseline_mask column (auto-segmentation where it is empty), ``auto`` = always
    the bundled segmenter's mask (the baseline_mask column then only defines the label)."""
    if mask_source not in MASK_SOURCES:
        raise CohortError(f"mask source must be one of {', '.join(MASK_SOURCES)}, got {mask_source!r}")

    p = Path(path)
    if not p.exists():
        raise CohortError(f"cohort table not found: {p}")
    try:
        with open(p, newline="") as f:
            rows = [{(k or "").strip().lower(): (v or "") for k, v in r.items()} for r in csv.DictReader(f)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CohortError(f"cannot read cohort table {p} as CSV: {exc}") from None
    if not rows:
        raise CohortError(f"cohort table {p} has no rows")
    cols = set(rows[0])
    if not cols & set(CT_COLS):
        raise CohortError(f"cohort table {p} needs a 'baseline_ct' column (found: {', '.join(sorted(cols))})")
    if not cols & (set(FU_COLS) | set(LABEL_COLS) | set(FU_CT_COLS)):
        raise CohortError(f"cohort table {p} needs a 'followup_mask', 'followup_ct' or 'label' column")
    clin_names = {a for al in CLINICAL_ALIASES.values() for a in al}
    cases = []
    for i, r in enumerate(rows, start=2):
        def res(v):
            if v is None:
                return None
            q = Path(v)
            return q if q.is_absolute() else (p.parent / q)

        ct = res(_pick(r, CT_COLS))
        if ct is None:
            raise CohortError(f"{p}, line {i}: empty baseline_ct")
        if not ct.exists():
            raise CohortError(f"{p}, line {i}: baseline CT not found: {ct}")
        mask = res(_pick(r, MASK_COLS))
        if mask is not None and not mask.exists():
            raise CohortError(f"{p}, line {i}: baseline mask not found: {mask}")
        fu = res(_pick(r, FU_COLS))
        if fu is not None and not fu.exists():
            raise CohortError(f"{p}, line {i}: follow-up mask not found: {fu}")
        lab = _pick(r, LABEL_COLS)
        label = None
        if lab is not None:
            try:
                flag = as_bool(lab)
            except ValueError:
                flag = None
            if flag is None:
                raise CohortError(f"{p}, line {i}: label must be 0/1, got {lab!r}")
            label = int(flag)
        fu_ct = res(_pick(r, FU_CT_COLS))
        if fu is None and label is None and fu_ct is None:
            raise CohortError(f"{p}, line {i}: neither a follow-up mask, a follow-up CT nor a label")
        cid = _pick(r, ("case_id", "id")) or f"row{i}"
        pid = _pick(r, ("patient_id", "patient")) or cid
        clinical = {k: v for k, v in r.items() if k in clin_names and str(v).strip() != ""}
        cases.append(Case(cid, pid, ct, mask, fu, label, clinical, segment_baseline=mask_source == "auto",
                          followup_ct=fu_ct))
    return cases


def has_explicit_label(case: Case) -> bool:
    """A follow-up mask with a baseline mask, or a label: the row needs no follow-up segmentation."""
    return (case.followup is not None and case.mask is not None) or case.label is not None


def case_label(case: Case, definition: str) -> int:
    """The label from the row's masks or its label column (``followup_labels`` handles follow-up CTs)."""
    if case.followup is not None and case.mask is not None:
        (iph0, ivh0), (iph1, ivh1) = mask_file_volumes(case.mask), mask_file_volumes(case.followup)
        return int(label_from_volumes(iph0, iph1, ivh0, ivh1).label(definition))
    if case.label is not None:
        return int(case.label)
    raise CohortError(f"case {case.case_id}: a follow-up mask needs a baseline mask to compute the label")
