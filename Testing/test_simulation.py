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
