"""Anatomical post-processing (segmentation.anatomy_filter) and slab inference (segmentation.slabs).

Phantoms: a skull (ring of bone) around 32 HU brain; each rule is shown rejecting the false blood
it targets and keeping a real clot.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from HematomaExpansionLib.core.results import LABEL_IPH
from HematomaExpansionLib.segmentation import anatomy_filter as A
from HematomaExpansionLib.segmentation import slabs

SP = (2.0, 1.0, 1.0)


def _head(shape=(30, 120, 120)):
    z, y, x = np.indices(shape)
    r = np.sqrt(((y - 60) / 50.0) ** 2 + ((x - 60) / 50.0) ** 2 + ((z - 15) / 40.0) ** 2)
    hu = np.where(r < 1.0, 32.0, -1000.0).astype(np.float32)
    hu[(r >= 0.92) & (r < 1.0)] = 900.0  # skull
    brain = r < 0.92
    return hu, brain, r


def _ball(shape, centre, radius_mm):
    z, y, x = np.indices(shape)
    d = np.sqrt(((z - centre[0]) * SP[0]) ** 2 + ((y - centre[1]) * SP[1]) ** 2 + ((x - centre[2]) * SP[2]) ** 2)
    return d <= radius_mm


def test_real_clot_kept_and_false_blood_rejected():
    hu, brain, r = _head()
    clot = _ball(hu.shape, (15, 60, 60), 10.0)
    hu[clot] = 65.0
    ribbon = brain & (r > 0.88) & (np.indices(hu.shape)[1] < 40)  # cortex against the inner table
    hu[ribbon] = 50.0
    faint = _ball(hu.shape, (15, 60, 90), 4.0)  # brain made 8 HU denser: no contrast
    hu[faint] = 40.0
    calc = _ball(hu.shape, (15, 85, 60), 2.0)
    hu[calc & _ball(hu.shape, (15, 85, 60), 1.0)] = 180.0  # dense core of a calcification
    hu[calc & ~_ball(hu.shape, (15, 85, 60), 1.0)] = 70.0
    labels = np.zeros(hu.shape, np.uint8)
    for m in (clot, ribbon, faint, calc):
        labels[m] = LABEL_IPH
    verdicts = {round(v["volume_ml"], 2): v["reject"] for v in A.component_verdicts(labels, hu, SP, brain)}
    assert sorted(verdicts.values(), key=str) == sorted([None, "ribbon", "contrast", "calcification"], key=str)
    out = A.refine_with_anatomy(labels, hu, SP, brain)
    assert (out[clot] == LABEL_IPH).all()
    assert not out[ribbon].any() and not out[faint].any() and not out[calc].any()


def test_trim_puts_the_border_at_half_maximum():
    hu, brain, _ = _head()
    clot = _ball(hu.shape, (15, 60, 60), 12.0)
    # partial volume: the clot blurred in-plane; true border = the 50 % level
    frac = ndi.gaussian_filter(clot.astype(np.float32), (0, 1.5, 1.5))
    hu = np.where(brain, 32.0 + frac * 33.0, hu).astype(np.float32)
    # a segmenter whose border runs 2 mm too far out in-plane
    grown = ndi.binary_dilation(clot, np.ones((1, 5, 5), bool)) & brain
    labels = np.where(grown, LABEL_IPH, 0).astype(np.uint8)
    out = A.refine_with_anatomy(labels, hu, SP, brain)
    half = (frac >= 0.5) & brain
    # much closer to the half-maximum border than the segmenter was (the core median sits a little
    # below the clot's density, so the trim stays slightly generous)
    assert abs(int((out > 0).sum()) - int(half.sum())) <= 0.25 * abs(int(grown.sum()) - int(half.sum()))
    assert (out > 0).sum() < (labels > 0).sum()
    untrimmed = A.refine_with_anatomy(labels, hu, SP, brain, trim=False)
    assert np.array_equal(untrimmed, labels)


def test_tiny_focus_is_not_judged_by_contrast():
    hu, brain, _ = _head()
    spot = _ball(hu.shape, (15, 60, 60), 1.2)
    hu[spot] = 44.0
    labels = np.where(spot, LABEL_IPH, 0).astype(np.uint8)
    (v,) = A.component_verdicts(labels, hu, SP, brain)
    assert v["contrast_hu"] is None and v["reject"] is None


@pytest.mark.parametrize("slice_mm,expected", [(0.5, 5), (0.625, 4), (1.0, 2), (1.5, 2), (2.0, 1), (5.0, 1)])
def test_slab_factor(slice_mm, expected):
    assert slabs.slab_factor(slice_mm) == expected


def test_slabs_round_trip_keeps_every_slice():
    rng = np.random.default_rng(0)
    z = np.linspace(0, 1, 37, dtype=np.float32)
    vol = (z[:, None, None] * 100 + rng.normal(0, 0.01, (37, 4, 4))).astype(np.float32)  # linear ramp in z
    n = 4
    s = slabs.to_slabs(vol, n)
    assert s.shape == (10, 4, 4)
    back = slabs.to_slices(s, 37, n)
    assert back.shape == vol.shape
    # a ramp survives slab averaging + linear interpolation (up to the clamped end slabs)
    assert np.abs(back[4:-4] - vol[4:-4]).max() < 0.5
    assert slabs.to_slabs(vol, 1) is vol and slabs.to_slices(vol, 37, 1) is vol
