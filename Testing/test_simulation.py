"""Data engine (simulation/): real lesion shapes in a real head, painted as on NCCT.

Needs the shared data (real head CT + real lesion masks); skips with a message when absent.
"""

from __future__ import annotations

import numpy as np
import pytest

from HematomaExpansionLib.anatomy.brain import BONE_HU
from HematomaExpansionLib.core import config
from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH
from HematomaExpansionLib.simulation.backgrounds import PARENCHYMA_MARGIN_MM, anatomy, load_background_heads
from HematomaExpansionLib.simulation.cases import simulate_case
from HematomaExpansionLib.simulation.lesions import grow_lesion, list_lesion_masks, place_lesion
from HematomaExpansionLib.simulation.painting import HematomaAppearance, paint_hematoma


def _need_data():
    d = config.shared_data_dir()
    if not (d / "realct" / "cranium_invesalius.nii.gz").exists() or not (d / "lesion_masks" / "hemseg500").exists():
        pytest.skip(f"real data not available: {d} lacks realct/ and lesion_masks/ (set HEMEXP_SHARED_DATA)")


@pytest.fixture(scope="module")
def head():
    _need_data()
    return load_background_heads()[0]


def test_lists_and_split_disjoint():
    _need_data()
    tr, va = list_lesion_masks("train"), list_lesion_masks("val")
    assert len(tr) > 300 and len(va) > 80
    assert not ({p.name for p in tr} & {p.name for p in va})
    with pytest.raises(ValueError):
        list_lesion_masks("test")


def test_anatomy_finds_brain_and_ventricles(head):
    an = anatomy(head)
    vml = head.voxel_volume_ml
    assert 1000 < an.brain.sum() * vml < 1800
    assert 10 < an.ventricles.sum() * vml < 150
    # ventricles are CSF density, parenchyma is not bone
    assert np.median(an.hu[an.ventricles]) < 15
    assert an.hu[an.parenchyma].max() < BONE_HU


def test_place_iph_in_parenchyma_and_ivh_in_ventricles(head):
    an = anatomy(head)
    rng = np.random.default_rng(3)
    path = list_lesion_masks("val")[0]
    iph = place = place_lesion(head, path, rng, "parenchyma")
    assert place.shape == head.shape and place.any()
    c = head.to_canonical_array(iph)
    assert (c & ~an.parenchyma).sum() == 0  # never in bone, outside brain, or in ventricles
    assert an.depth[c].min() >= PARENCHYMA_MARGIN_MM - 1e-6
    ivh = place_lesion(head, path, rng, "ventricle")
    assert ivh.any()
    assert (head.to_canonical_array(ivh) & ~an.ventricles).sum() == 0


def test_grow_lesion_contains_and_reaches_target(head):
    rng = np.random.default_rng(5)
    m = place_lesion(head, list_lesion_masks("train")[3], rng)
    v0 = m.sum() * head.voxel_volume_ml
    g = grow_lesion(m, head, growth_ml=6.0, rng=rng)
    v1 = g.sum() * head.voxel_volume_ml
    assert (g >= m).all()
    assert v1 - v0 == pytest.approx(6.0, abs=1.0)
    an = anatomy(head)
    assert (head.to_canonical_array(g) & ~an.brain).sum() == 0


def test_paint_density_and_background_kept(head):
    rng = np.random.default_rng(1)
    m = place_lesion(head, list_lesion_masks("train")[10], rng)
    ct = paint_hematoma(head, m, np.zeros_like(m), HematomaAppearance(mean_hu=62.0), rng)
    assert ct.same_geometry(head)
    inner = m & (ct.array > -100)
    assert 55 <= np.median(ct.array[inner]) <= 70
    far = ~m
    # far from the lesion the background is untouched
    assert np.mean(ct.array[far] == head.array[far]) > 0.99


def test_simulate_case_deterministic_and_variants():
    _need_data()
    a, b = simulate_case(7, "val", "standard"), simulate_case(7, "val", "standard")
    assert np.array_equal(a.ct.array, b.ct.array) and np.array_equal(a.labels, b.labels)
    assert a.labels.shape == a.ct.shape and a.labels.dtype == np.uint8
    assert set(np.unique(a.labels)) <= {0, LABEL_IPH, LABEL_IVH}
    thick = simulate_case(8, "val", "thick5")
    assert 2.4 <= thick.ct.spacing[2] <= 7.1
    tilt = simulate_case(9, "val", "tilt")
    assert tilt.ct.tilt_degrees() > 0 or not np.allclose(tilt.ct.direction, a.ct.direction)
    free = simulate_case(10, "val", "nohem")
    assert not free.labels.any()
    strip = simulate_case(11, "val", "skullstrip")
    assert (strip.ct.array > BONE_HU).mean() < 0.001


def _ball_next_to_ventricles(head, gap_mm: float, radius_mm: float = 5.0) -> np.ndarray:
    """A ball of parenchyma ``gap_mm`` from the largest ventricle (array order of ``head``)."""
    from scipy import ndimage as ndi

    an = anatomy(head)
    lab, n = ndi.label(an.ventricles)
    largest = lab == 1 + int(np.argmax(ndi.sum(an.ventricles, lab, np.arange(1, n + 1))))
    dist = ndi.distance_transform_edt(~largest, sampling=an.spacing)
    others = ndi.distance_transform_edt(~(an.ventricles & ~largest), sampling=an.spacing)
    ok = an.parenchyma & (np.abs(dist - (gap_mm + radius_mm)) < 0.6) & (an.depth > 25) & (others > 20)
    ok_points = np.argwhere(ok)
    centre = ok_points[len(ok_points) // 2]
    grid = np.indices(an.hu.shape).astype(np.float32)
    ball = sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, an.spacing)) <= radius_mm ** 2
    return head.from_canonical_array(ball & an.parenchyma)


def test_growth_into_the_ventricles_is_a_rupture_and_contact_alone_is_not(head):
    """growth-3: IPH that grows into the ventricles (≥ RUPTURE_MIN_ML) is IVH at follow-up; a clot
    that stays small or far keeps the ventricles free, and IPH never lies inside them."""
    from HematomaExpansionLib.simulation import cohort

    an = anatomy(head)
    shape = list_lesion_masks("val")[0]
    vent = head.from_canonical_array(an.ventricles)
    none = np.zeros(head.shape, bool)
    near = _ball_next_to_ventricles(head, gap_mm=1.0)
    iph1, ivh1, ruptured = cohort.grow_followup(head, near, none, 8.0, shape, np.random.default_rng(0))
    assert ruptured >= cohort.RUPTURE_MIN_ML
    assert ivh1.sum() * head.voxel_volume_ml >= cohort.RUPTURE_MIN_ML
    assert not (iph1 & vent).any() and not (iph1 & ivh1).any()
    assert (iph1 | ivh1)[near].all()  # the baseline clot is still there

    far = _ball_next_to_ventricles(head, gap_mm=15.0)
    iph1, ivh1, ruptured = cohort.grow_followup(head, far, none, 0.2, shape, np.random.default_rng(0))
    assert ruptured == 0.0 and not ivh1.any() and not (iph1 & vent).any()
    assert iph1.sum() > far.sum()


def test_lobulating_a_baseline_clot_keeps_it_out_of_the_ventricles(head):
    an = anatomy(head)
    near = _ball_next_to_ventricles(head, gap_mm=1.0)
    grown = grow_lesion(near, head, factor=1.6, rng=np.random.default_rng(2), within="parenchyma")
    assert grown.sum() > 1.3 * near.sum()
    assert not (head.to_canonical_array(grown) & an.ventricles).any()
    with pytest.raises(ValueError):
        grow_lesion(near, head, factor=1.2, within="ventricles")


def test_a_resumed_cohort_redoes_cases_of_another_growth_model(tmp_path):
    _need_data()
    import json

    from HematomaExpansionLib.simulation import cohort

    first = cohort._write_case((3, "val", str(tmp_path)))
    meta = tmp_path / "images" / "val00003.json"
    assert cohort._write_case((3, "val", str(tmp_path))) == first  # resumed as is
    meta.write_text(json.dumps({**first, "sim_growth_model": "growth-2", "sim_eta": 99.0}))
    redone = cohort._write_case((3, "val", str(tmp_path)))
    assert redone["sim_growth_model"] == cohort.GROWTH_MODEL_VERSION and redone["sim_eta"] == first["sim_eta"]
