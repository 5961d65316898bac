"""The simulated cohort's growth model follows the literature's effect directions (issue 12)."""

import math

import pytest

from HematomaExpansionLib.simulation import cohort

BASE = dict(pockets=0, blend=False, satellites=0, irregularity=0.25, heterogeneity_sd=5.0, onset_to_ct_h=6.0,
            warfarin=False, doac=False, recurrent_ich=False, baseline_iph_ml=10.0, baseline_ivh=False)


def eta(**change):
    return cohort.growth_linear_predictor(**{**BASE, **change})


@pytest.mark.parametrize("hours, points", [(0.5, 5), (1.0, 5), (1.5, 4), (2.5, 3), (3.5, 2), (4.5, 1), (5.5, 0), (20.0, 0)])
def test_onset_to_ct_adds_the_brain_score_hours_points(hours, points):
    assert eta(onset_to_ct_h=hours) - eta() == pytest.approx(points * cohort.BRAIN_POINT_LOG_ODDS)


def test_reference_patient_is_the_intercept():
    assert eta() == pytest.approx(cohort.GROWTH_B0)


def test_each_risk_factor_raises_growth_by_its_documented_log_odds():
    point = cohort.BRAIN_POINT_LOG_ODDS
    assert eta(warfarin=True) - eta() == pytest.approx(6 * point, abs=0.03)  # BRAIN: warfarin 6 points
    assert eta(recurrent_ich=True) - eta() == pytest.approx(4 * point, abs=0.03)  # recurrent ICH 4 points
    assert eta(baseline_ivh=True) - eta() == pytest.approx(2 * point, abs=0.01)  # IVH extension 2 points
    assert eta(onset_to_ct_h=0.5) - eta() == pytest.approx(5 * point)  # < 1 h: 5 points
    assert 0 < eta(doac=True) - eta() < eta(warfarin=True) - eta()  # a DOAC: less than warfarin, more than none
    assert eta(baseline_iph_ml=40.0) - eta() == pytest.approx(0.3 * math.log(4.0))
    for sign in ({"pockets": 1}, {"blend": True}, {"satellites": 2}, {"irregularity": 0.4}, {"heterogeneity_sd": 7.0}):
        assert eta(**sign) > eta(), sign


def test_larger_and_earlier_scanned_hematomas_grow_more():
    assert eta(baseline_iph_ml=30.0) > eta(baseline_iph_ml=10.0) > eta(baseline_iph_ml=2.0)
    times = [eta(onset_to_ct_h=h) for h in (0.5, 1.5, 2.5, 3.5, 4.5, 6.0)]
    assert times == sorted(times, reverse=True)
