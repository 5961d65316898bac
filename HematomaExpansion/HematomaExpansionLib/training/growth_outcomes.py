"""The growth classifier's outcomes (``expansion.growth_classifier``) from a cohort's baseline and follow-up masks."""

from __future__ import annotations

import numpy as np

from ..core.errors import CohortError
from ..expansion.growth_classifier import IVH_EVENTS, GrowthOutcomes, log_relative_growth
from ..expansion.labels import IVH_GROWTH_ML, VOL_TOL_ML, label_from_volumes
from .cohort import Case
from .mask_volumes import mask_file_volumes


def _ivh_event(definition: str, figures) -> int:
    new = bool(figures.new_ivh)
    grew = figures.ivh_growth_ml >= IVH_GROWTH_ML - VOL_TOL_ML
    return int({"revised1": new, "revised2": grew, "revised": new or grew}[definition])


def growth_outcomes(cases: list[Case], definition: str) -> GrowthOutcomes:
    """log relative IPH growth of every case and, for a revised definition, its IVH event. Needs a baseline
    and a follow-up mask per case (measured as the labels are: ``mask_file_volumes``)."""
    lacking = [c.case_id for c in cases if c.mask is None or c.followup is None]
    if lacking:
        raise CohortError(f"the growth outcome needs a baseline_mask and a followup_mask for every case; {len(lacking)} "
                          f"row(s) have not (first: {', '.join(lacking[:3])}); train those on their labels "
                          "(--outcome label)")
    g, events = [], []
    for c in cases:
        iph0, ivh0 = mask_file_volumes(c.mask)
        iph1, ivh1 = mask_file_volumes(c.followup)
        if not iph0 > 0:
            raise CohortError(f"case {c.case_id}: the baseline mask has no IPH, so its relative growth is undefined; "
                              "leave it out or train on labels (--outcome label)")
        g.append(log_relative_growth(iph0, iph1))
        if definition in IVH_EVENTS:
            events.append(_ivh_event(definition, label_from_volumes(iph0, iph1, ivh0, ivh1)))
    return GrowthOutcomes(np.array(g, float), np.array(events, int) if definition in IVH_EVENTS else None)
