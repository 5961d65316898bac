"""NCCT signs and BAT on worked examples: small synthetic phantoms of known geometry.

Each phantom is a generated head (brain ≈ 32 HU) on 2.5 × 1 × 1 mm voxels with hematomas painted
as ellipsoids (centres and radii in mm, noise SD 2 HU). The expected answers follow from the
published definitions tabled in docs/ncct_signs.md.
"""

from __future__ import annotations

import numpy as np
import pytest
from expansion_fixtures import head

from HematomaExpansionLib.expansion import clinical_scores
from HematomaExpansionLib.features import signs

SPACING = (2.5, 1.0, 1.0)  # slice, row, column (mm)
SHAPE = (24, 96, 96)
CENTRE = (SHAPE[0] * SPACING[0] / 2, SHAPE[1] * SPACING[1] / 2, SHAPE[2] * SPACING[2] / 2)
RADII = (10.0, 12.0, 9.0)


class Phantom:
    def __init__(self, seed: int = 0):
        self.ct = head(SHAPE, spacing_zyx=SPACING, seed=seed)
        self.labels = np.zeros(SHAPE, np.uint8)
        self.rng = np.random.default_rng(seed + 100)
        grid = np.indices(SHAPE).astype(float)
        self.mm = [g * s for g, s in zip(grid, SPACING)]

    def ellipsoid(self, centre, radii) -> np.ndarray:
        return sum(((p - c) / r) ** 2 for p, c, r in zip(self.mm, centre, radii)) <= 1.0

    def paint(self, region: np.ndarray, hu: float, blood: bool = True) -> Phantom:
        self.ct.array[region] = hu + self.rng.normal(0, 2.0, int(region.sum()))
        if blood:
            self.labels[region] = 1
        return self

    def measure(self) -> dict[str, float]:
        return signs.measure_signs(self.ct, self.labels)


def offset(dx: float = 0.0, dy: float = 0.0) -> tuple[float, float, float]:
    return (CENTRE[0], CENTRE[1] + dy, CENTRE[2] + dx)


def hematoma(seed: int, hu: float = 65.0) -> tuple[Phantom, np.ndarray]:
    p = Phantom(seed)
    m = p.ellipsoid(CENTRE, RADII)
    p.paint(m, hu)
    return p, m


def bat(s: dict[str, float], hours: float) -> dict:
    return clinical_scores.bat_score(s, {"onset_to_ct_h": hours})


# --- density signs -----------------------------------------------------------------------------
def test_every_sign_feature_is_reported_and_finite():
    s = hematoma(1)[0].measure()
    assert set(s) == set(signs.SIGN_FEATURES)
    assert all(np.isfinite(v) for v in s.values())


def test_plain_hematoma_has_no_sign():
    s = hematoma(1)[0].measure()
    for name in ("sign_hypodensity", "sign_black_hole", "sign_swirl", "sign_blend", "sign_satellite",
                 "sign_island_sign", "sign_island_count"):
        assert s[name] == 0, name
    assert bat(s, 3.0)["value"] == 0


def test_encapsulated_35hu_pocket_is_hypodensity_and_black_hole_not_blend():
    """65 HU ellipsoid with an encapsulated 35 HU pocket (4 mm radius): 30 HU ≥ 28 HU → black hole;
    encapsulated → hypodensity, not blend; 35 HU is within 5 HU of the brain's 32 HU → swirl."""
    p, _ = hematoma(2)
    p.paint(p.ellipsoid(CENTRE, (4.0, 4.0, 4.0)), 35.0)
    s = p.measure()
    assert s["sign_hypodensity"] == 1 and s["sign_hypodensity_count"] == 1
    assert s["sign_black_hole"] == 1 and s["sign_black_hole_contrast_hu"] == pytest.approx(30, abs=1.5)
    assert s["sign_blend"] == 0
    assert s["sign_swirl"] == 1
    out = bat(s, 3.0)
    assert out["components"] == {"blend_sign": 0, "any_hypodensity": 2, "onset_to_ct_lt_2.5h": 0}
    assert bat(s, 2.0)["value"] == 4 and bat(s, 2.0)["high_risk"] is True


def test_pocket_20hu_below_is_hypodensity_but_not_black_hole():
    p, _ = hematoma(3)
    p.paint(p.ellipsoid(CENTRE, (4.0, 4.0, 4.0)), 45.0)
    s = p.measure()
    assert s["sign_hypodensity"] == 1 and s["sign_black_hole"] == 0
    assert s["sign_black_hole_contrast_hu"] == pytest.approx(20, abs=1.5)
    assert s["sign_swirl"] == 0  # 45 HU: denser than brain (32 HU)


def test_pocket_tophat_sees_an_encapsulated_pocket_but_not_brain_inside_an_overreaching_mask():
    """The pocket top-hat is the pocket's depth below the blood around it (≈ 65 − 35 HU); brain that
    an automatic mask takes in at the clot's border has brain beside it and reads near 0, while the
    lowest core density (``sign_core_min_hu``) falls to brain density there too."""
    pocket, _ = hematoma(2)
    pocket.paint(pocket.ellipsoid(CENTRE, (4.0, 4.0, 4.0)), 35.0)
    s = pocket.measure()
    assert s["sign_pocket_tophat_hu"] > 20 and s["sign_pocket_tophat_fraction"] > 0.01

    overreach, m = hematoma(2)
    wider = overreach.ellipsoid(CENTRE, (RADII[0], RADII[1] + 5.0, RADII[2] + 5.0))
    overreach.labels[wider] = 1  # the mask reaches 5 mm into the 32 HU brain on every side in-plane
    t = overreach.measure()
    assert t["sign_core_min_hu"] < 40  # the minimum is fooled
    assert t["sign_pocket_tophat_hu"] < 8 and t["sign_pocket_tophat_fraction"] < 0.005
    assert hematoma(2)[0].measure()["sign_pocket_tophat_hu"] < 8


def test_a_cleft_of_csf_density_covered_by_the_mask_is_not_read_as_hypodense_clot(monkeypatch):
    """A 1 mm cleft of 8 HU (a sulcus or edema the clot wraps around) runs through the hematoma. A careful
    mask leaves it open; an automatic one covers it. Below ``CLOT_FLOOR_HU`` it is not clot, so both
    masks give the same density signs, and neither reads a hypodensity; an encapsulated 35 HU pocket
    (above the floor) still lowers the core minimum."""
    careful, m = hematoma(5)
    cleft = m & (np.abs(careful.mm[2] - CENTRE[2] - 2.0) < 0.5) & (careful.mm[1] < CENTRE[1] + 4.0)
    careful.paint(cleft, 8.0, blood=False)
    careful.labels[cleft] = 0
    covering = Phantom(5)
    covering.ct.array[:] = careful.ct.array
    covering.labels[m] = 1
    a, b = careful.measure(), covering.measure()
    for name in ("sign_core_min_hu", "sign_hypodensity_depth_hu", "sign_pocket_tophat_hu", "sign_mean_hu"):
        assert b[name] == pytest.approx(a[name], abs=0.5), name
    assert a["sign_core_min_hu"] > 55 and b["sign_hypodensity"] == 0
    with monkeypatch.context() as mp:  # the floor is what holds: without it the covered cleft is "hypodense"
        mp.setattr(signs, "CLOT_FLOOR_HU", -1000.0)
        assert covering.measure()["sign_core_min_hu"] < 45
    pocket, _ = hematoma(5)
    pocket.paint(pocket.ellipsoid(CENTRE, (4.0, 4.0, 4.0)), 35.0)
    assert pocket.measure()["sign_core_min_hu"] < 45


def test_robust_heterogeneity_ignores_a_rim_of_brain_in_the_mask():
    plain, _ = hematoma(4)
    rimmed, _ = hematoma(4)
    one_side = rimmed.mm[2] > CENTRE[2] + 6.0  # the mask spills 4 mm into the brain on one flank
    rimmed.labels[rimmed.ellipsoid(CENTRE, (RADII[0], RADII[1] + 4.0, RADII[2] + 4.0)) & one_side] = 1
    a, b = plain.measure(), rimmed.measure()
    assert a["sign_heterogeneity_iqr_sd"] == pytest.approx(2.0, abs=0.4)  # the painted noise SD
    assert b["sign_heterogeneity_sd"] > 2 * a["sign_heterogeneity_sd"]  # the SD is inflated by the rim
    assert b["sign_heterogeneity_iqr_sd"] < 1.5 * a["sign_heterogeneity_iqr_sd"] + 0.5


@pytest.mark.parametrize("difference,blend", [(20.0, 1), (16.0, 0)])
def test_hypodense_half_reaching_the_edge_is_blend_at_18hu(difference, blend):
    """A relatively hypodense half reaching the edge, sharp interface: blend when ≥ 18 HU apart
    (Li 2015), and never a hypodensity (it is not encapsulated)."""
    p, m = hematoma(4)
    p.paint(m & (p.mm[2] >= CENTRE[2]), 65.0 - difference)
    s = p.measure()
    assert s["sign_blend"] == blend
    assert s["sign_blend_contrast_hu"] == pytest.approx(difference, abs=1.0)
    assert s["sign_blend_margin_mm"] <= signs.MARGIN_MAX_MM
    assert s["sign_hypodensity"] == 0 and s["sign_black_hole"] == 0
    assert bat(s, 3.0)["value"] == blend
    assert bat(s, 2.0)["value"] == blend + 2


def test_edge_reaching_hypodense_region_scores_blend_once_not_hypodensity():
    """The audit's phantom: one 35 HU region reaching the edge scored blend + hypodensity (5 with
    early CT). It is a blend (not encapsulated): BAT 1 + 2 = 3."""
    p, m = hematoma(5)
    p.paint(m & p.ellipsoid(offset(dx=RADII[2]), (5.0, 5.0, 5.0)), 35.0)
    s = p.measure()
    assert s["sign_blend"] == 1 and s["sign_hypodensity"] == 0 and s["sign_black_hole"] == 0
    out = bat(s, 2.0)
    assert out["components"] == {"blend_sign": 1, "any_hypodensity": 0, "onset_to_ct_lt_2.5h": 2}
    assert out["value"] == 3


def test_darker_spot_inside_the_blend_part_is_not_a_second_sign():
    p, m = hematoma(6)
    p.paint(m & (p.mm[2] >= CENTRE[2]), 45.0)
    p.paint(p.ellipsoid(offset(dx=4.0), (3.0, 3.0, 2.5)), 30.0)
    s = p.measure()
    assert s["sign_blend"] == 1 and s["sign_hypodensity"] == 0
    assert bat(s, 3.0)["value"] == 1


def test_blend_and_a_separate_encapsulated_pocket_score_both():
    p, m = hematoma(7)
    p.paint(m & (p.mm[2] >= CENTRE[2] + 2.0), 45.0)
    p.paint(p.ellipsoid(offset(dx=-3.5), (4.0, 4.0, 3.0)), 35.0)
    s = p.measure()
    assert s["sign_blend"] == 1 and s["sign_hypodensity"] == 1
    assert bat(s, 3.0)["value"] == 3 and bat(s, 1.0)["value"] == 5


def test_gradual_density_change_has_no_well_defined_margin():
    """Same contrast, sharp step vs a 14 mm linear ramp: only the step is a blend."""
    results = {}
    for ramp_mm in (0.5, 14.0):
        p = Phantom(8)
        m = p.ellipsoid(CENTRE, (10.0, 12.0, 18.0))
        x = np.clip((p.mm[2] - (CENTRE[2] - ramp_mm / 2)) / ramp_mm, 0.0, 1.0)
        p.ct.array[m] = (65.0 - 30.0 * x[m]) + p.rng.normal(0, 2.0, int(m.sum()))
        p.labels[m] = 1
        results[ramp_mm] = p.measure()
    sharp, ramp = results[0.5], results[14.0]
    assert sharp["sign_blend"] == 1 and sharp["sign_blend_margin_mm"] < 1.5
    assert ramp["sign_blend_contrast_hu"] >= signs.BLEND_DELTA_HU
    assert ramp["sign_blend_margin_mm"] > signs.MARGIN_MAX_MM and ramp["sign_blend"] == 0


# --- satellites and islands --------------------------------------------------------------------
@pytest.mark.parametrize("gap_mm,satellite", [(12.0, 1), (25.0, 0)])
def test_satellite_is_a_small_focus_within_20mm(gap_mm, satellite):
    """A 6 mm focus 12 mm from a 9 mm-radius hematoma is a satellite; 25 mm away it is not."""
    p = Phantom(9)
    p.paint(p.ellipsoid(CENTRE, (9.0, 9.0, 9.0)), 65.0)
    p.paint(p.ellipsoid(offset(dx=9.0 + gap_mm + 3.0), (3.0, 3.0, 3.0)), 65.0)
    s = p.measure()
    assert s["sign_satellite"] == satellite and s["sign_satellite_count"] == satellite
    assert s["sign_island_separate_count"] == 1 and s["sign_island_sign"] == 0


def test_four_attached_bubbles_are_island_criterion_2():
    p = Phantom(10)
    p.paint(p.ellipsoid(CENTRE, (10.0, 10.0, 10.0)), 65.0)
    for angle in np.deg2rad([45, 135, 225, 315]):
        p.paint(p.ellipsoid(offset(dx=11.5 * np.cos(angle), dy=11.5 * np.sin(angle)), (3.5, 3.5, 3.5)), 65.0)
    s = p.measure()
    assert s["sign_island_attached_count"] == 4 and s["sign_island_separate_count"] == 0
    assert s["sign_island_criterion"] == 2 and s["sign_island_sign"] == 1 and s["sign_island_count"] == 4


def test_three_attached_bubbles_are_not_an_island_sign():
    p = Phantom(11)
    p.paint(p.ellipsoid(CENTRE, (10.0, 10.0, 10.0)), 65.0)
    for angle in np.deg2rad([45, 165, 285]):
        p.paint(p.ellipsoid(offset(dx=11.5 * np.cos(angle), dy=11.5 * np.sin(angle)), (3.5, 3.5, 3.5)), 65.0)
    s = p.measure()
    assert s["sign_island_attached_count"] == 3 and s["sign_island_sign"] == 0


def test_three_separate_small_islands_are_island_criterion_1():
    p = Phantom(12)
    p.paint(p.ellipsoid(CENTRE, (10.0, 10.0, 10.0)), 65.0)
    for angle in np.deg2rad([0, 120, 240]):
        p.paint(p.ellipsoid(offset(dx=18.0 * np.cos(angle), dy=18.0 * np.sin(angle)), (2.5, 2.5, 2.5)), 65.0)
    s = p.measure()
    assert s["sign_island_separate_count"] == 3 and s["sign_island_attached_count"] == 0
    assert s["sign_island_criterion"] == 1 and s["sign_island_sign"] == 1
    assert s["sign_satellite_count"] == 3


def test_large_separate_clot_is_neither_island_nor_satellite():
    """A 16 mm clot 10 mm away: separate, but not small — its small top and bottom sections do not
    make it a satellite either."""
    p = Phantom(13)
    p.paint(p.ellipsoid(CENTRE, (10.0, 10.0, 10.0)), 65.0)
    p.paint(p.ellipsoid(offset(dx=28.0), (8.0, 8.0, 8.0)), 65.0)
    s = p.measure()
    assert s["sign_island_separate_count"] == 0 and s["sign_island_count"] == 0
    assert s["sign_satellite"] == 0


def test_feret_diameter_of_a_pixel_disk():
    yy, xx = np.mgrid[-10:11, -10:11]
    disk = yy ** 2 + xx ** 2 <= 9  # pixel centres within 3 px: 6 px between extremes, 7 px across
    assert signs.feret_diameter_mm(disk, (0.5, 0.5)) == pytest.approx(3.5)
    assert signs.feret_diameter_mm(disk, (1.0, 1.0), limit=5.0) > 5.0


# --- BAT onset boundary ------------------------------------------------------------------------
@pytest.mark.parametrize("hours,points", [(0.0, 2), (2.49, 2), (2.4999, 2), (2.5, 0), (2.5001, 0), (6.0, 0)])
def test_bat_onset_to_ct_must_be_under_2_5_hours(hours, points):
    """Morotti 2018: "time from onset to NCCT < 2.5 h" scores 2; exactly 2.5 h scores 0."""
    out = bat({"sign_blend": 0.0, "sign_hypodensity": 0.0}, hours)
    assert out["components"]["onset_to_ct_lt_2.5h"] == points and out["value"] == points


def test_bat_onset_given_as_text_goes_through_the_clinical_parser():
    out = clinical_scores.scores({"sign_blend": 1.0, "sign_hypodensity": 1.0}, 20.0, 0.0, {"onset_to_ct_h": "2.5"})
    assert out["BAT"]["value"] == 3 and out["BAT"]["high_risk"] is True
