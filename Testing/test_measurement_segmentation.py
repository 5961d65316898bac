"""Volumetry and the classic segmentation baseline."""

from __future__ import annotations

import numpy as np
import pytest

from HematomaExpansionLib.core.ct_image import CTImage
from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH
from HematomaExpansionLib.features.measurement import abc2, measure
from HematomaExpansionLib.io.ct_files import read_ct
from HematomaExpansionLib.segmentation.classic import segment_classic


def _ellipsoid(shape, spacing, radii):
    grid = np.meshgrid(*[(np.arange(n) - n / 2 + 0.5) * s for n, s in zip(shape, spacing)], indexing="ij")
    return sum((g / r) ** 2 for g, r in zip(grid, radii)) <= 1


def test_abc2_on_an_ellipsoid():
    # With the full extent as C, ABC/2 is the ellipsoid volume (π/6 ≈ 1/2), the formula's rationale.
    # Kothari's weighting counts only slices with ≥ 25 % of the max area: for an ellipsoid of
    # half-height 20 mm, C = 2·10 (ratio ≥ 0.75) + 0.5·2·(17.32 − 10) ≈ 27.3 mm.
    spacing = (1.0, 0.5, 0.5)
    mask = _ellipsoid((80, 160, 160), spacing, (20.0, 30.0, 15.0))
    true_ml = mask.sum() * np.prod(spacing) / 1000
    vol, a, b, c = abc2(mask, spacing)
    assert a == pytest.approx(60, abs=1.5) and b == pytest.approx(30, abs=1.5)
    assert a * b * 40.0 / 2 / 1000 == pytest.approx(true_ml, rel=0.08)
    assert c == pytest.approx(27.3, abs=1.5)
    assert vol == pytest.approx(a * b * c / 2 / 1000)


def test_abc2_kothari_slice_weighting():
    spacing = (5.0, 1.0, 1.0)
    mask = np.zeros((5, 50, 50), bool)
    mask[1, 10:30, 10:30] = True  # 400 voxels = max
    mask[2, 10:30, 10:25] = True  # 300 = 75 %  → 1
    mask[3, 10:20, 10:20] = True  # 100 = 25 %  → 0.5
    mask[4, 10:14, 10:14] = True  # 16  < 25 % → 0
    _, _, _, c = abc2(mask, spacing)
    assert c == pytest.approx(5.0 * 2.5)


def test_measure_volumes_per_label():
    ct = CTImage(np.zeros((10, 20, 20)), (0.5, 0.5, 2.0), (0, 0, 0))
    labels = np.zeros(ct.shape, np.uint8)
    labels[2:6, 5:10, 5:10] = LABEL_IPH
    labels[7, 0:4, 0:4] = LABEL_IVH
    m = measure(ct, labels)
    assert m.iph_volume_ml == pytest.approx(100 * 0.5 / 1000 * 1)
    assert m.ivh_volume_ml == pytest.approx(16 * 0.5 / 1000)
    assert m.volume_ml == pytest.approx(m.iph_volume_ml + m.ivh_volume_ml)
    assert m.n_components == 2


def test_measure_is_orientation_independent(sample_case):
    ct, labels, _ = sample_case
    flipped = CTImage(ct.array[::-1, :, ::-1].copy(), ct.spacing, ct.origin, ct.direction @ np.diag([-1, 1, -1]))
    m1 = measure(ct, labels)
    m2 = measure(flipped, labels[::-1, :, ::-1])
    assert m2.abc2_ml == pytest.approx(m1.abc2_ml, rel=1e-6)
    assert m2.volume_ml == pytest.approx(m1.volume_ml)


def test_classic_finds_sample_hematoma(sample_case):
    ct, truth, info = sample_case
    seg = segment_classic(ct)
    inter = ((seg > 0) & (truth > 0)).sum()
    dice = 2 * inter / ((seg > 0).sum() + (truth > 0).sum())
    assert dice > 0.9
    assert abs(measure(ct, seg).volume_ml - info["volume_ml"]) / info["volume_ml"] < 0.1
    assert seg.shape == ct.shape and seg.dtype == np.uint8


def test_classic_no_hemorrhage_gives_empty_mask():
    from HematomaExpansionLib.simulation.sample import make_sample_case

    ct, labels, _ = make_sample_case(3, shape=(20, 128, 128), spacing=(8.0, 1.8, 1.8), with_hemorrhage=False)
    assert labels.sum() == 0
    assert (segment_classic(ct) > 0).sum() * ct.voxel_volume_ml < 0.5


def test_classic_on_real_hemorrhage(mistie_ct_path):
    ct = read_ct(mistie_ct_path)
    m = measure(ct, segment_classic(ct))
    # The large deep (basal ganglia) hematoma: visually ≈ 40 mL on 6 mm slices.
    assert 30 < m.iph_volume_ml < 60
    assert m.n_components <= 4


def test_classic_no_false_positive_on_normal_head(normal_ct_path):
    ct = read_ct(normal_ct_path)
    assert measure(ct, segment_classic(ct)).volume_ml < 1.0
