"""Anatomical post-processing (segmentation.anatomy_filter) and slab inference (segmentation.slabs).

Phantoms: a skull (ring of bone) around 32 HU brain; each rule is shown rejecting the false blood
it targets and keeping a real clot.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH
from HematomaExpansionLib.segmentation import anatomy_filter as A
from HematomaExpansionLib.segmentation import slabs

SP = (2.0, 1.0, 1.0)


def _head(shape=(30, 120, 120), length=50.0, width=50.0):
    """(HU, intracranial mask, normalised radius); ``length`` front-to-back and ``width`` side-to-side
    semi-axes in voxels (a real head is longer than wide)."""
    z, y, x = np.indices(shape)
    r = np.sqrt(((y - 60) / length) ** 2 + ((x - 60) / width) ** 2 + ((z - 15) / 40.0) ** 2)
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
    calc = _ball(hu.shape, (15, 85, 72), 2.0)  # off the midline (a choroid plexus; midline ones: falx rule)
    hu[calc & _ball(hu.shape, (15, 85, 72), 1.0)] = 180.0  # dense core of a calcification
    hu[calc & ~_ball(hu.shape, (15, 85, 72), 1.0)] = 70.0
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
    untrimmed = A.refine_with_anatomy(labels, hu, SP, brain, border=False)
    assert np.array_equal(untrimmed, labels)


def test_border_grows_out_to_half_maximum_and_not_into_bone():
    hu, brain, _ = _head()
    clot = _ball(hu.shape, (15, 60, 60), 12.0)
    frac = ndi.gaussian_filter(clot.astype(np.float32), (0, 1.5, 1.5))
    hu = np.where(brain, 32.0 + frac * 33.0, hu).astype(np.float32)
    hu[:, 60:, 75:] = np.where(brain[:, 60:, 75:], 400.0, hu[:, 60:, 75:])  # bone-dense block the clot touches
    half = (frac >= 0.5) & brain & (hu < 100)
    # a segmenter that stops 2 mm short in-plane; its lower half labelled IVH (a clot with ventricular extension)
    short = ndi.binary_erosion(half, np.ones((1, 5, 5), bool))
    labels = np.where(short, LABEL_IPH, 0).astype(np.uint8)
    labels[short & (np.indices(hu.shape)[1] > 60)] = LABEL_IVH
    out = A.refine_with_anatomy(labels, hu, SP, brain)
    # more than half of the missing rim recovered (the ring around a short mask holds some of the clot's own
    # partial volume, so the measured contrast and the threshold sit a little high); nothing below half maximum
    assert (out > 0).sum() - short.sum() > 0.5 * (half.sum() - short.sum())
    assert not ((out > 0) & ~half).any()
    assert not out[hu >= 400].any()
    rows = np.indices(hu.shape)[1]
    added = (out > 0) & ~short
    assert (out[added & (rows > 63)] == LABEL_IVH).all() and (out[added & (rows < 57)] == LABEL_IPH).all()
    assert np.array_equal(A.refine_with_anatomy(labels, hu, SP, brain, border=False), labels)


def test_noisy_small_clot_is_not_a_calcification():
    hu, brain, _ = _head()
    rng = np.random.default_rng(3)
    hu = np.where(brain, hu + rng.normal(0, 8, hu.shape), hu).astype(np.float32)
    clot = _ball(hu.shape, (15, 60, 40), 4.0)  # 0.27 mL
    hu[clot] = 79.0 + rng.normal(0, 8, int(clot.sum()))
    hu[15, 60, 40] = hu[16, 60, 41] = hu[14, 62, 40] = 106.0  # single voxels above the calcification density
    labels = np.where(clot, LABEL_IPH, 0).astype(np.uint8)
    (v,) = A.component_verdicts(labels, hu, SP, brain)
    assert v["reject"] is None and v["dense_core_hu"] < A.CALCIFICATION_CORE_HU


def test_tiny_focus_is_not_judged_by_contrast():
    hu, brain, _ = _head()
    spot = _ball(hu.shape, (15, 60, 48), 1.2)  # 12 mm off the midline
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
    # a few slices at a time give the same maps as all at once
    assert np.array_equal(np.concatenate([slabs.to_slices(s, 37, n, slice(k, k + 8)) for k in range(0, 37, 8)]), back)


def test_midsagittal_plane_follows_a_turned_head():
    from HematomaExpansionLib.anatomy.midline import fit_midsagittal_plane

    shape = (20, 140, 140)
    z, y, x = np.indices(shape)
    turn = np.deg2rad(10.0)
    # an ellipsoidal head whose midline is turned 10° in the axial plane, centred on column 72
    u = (x - 72) * np.cos(turn) - (y - 70) * np.sin(turn)
    v = (x - 72) * np.sin(turn) + (y - 70) * np.cos(turn)
    brain = (u / 55.0) ** 2 + (v / 62.0) ** 2 + ((z - 10) / 30.0) ** 2 < 1.0
    plane = fit_midsagittal_plane(brain, SP)
    # true midline: u = 0, i.e. x = 72 + (y − 70)·tan(10°)
    ys = np.array([40.0, 70.0, 100.0])
    want = 72 + (ys - 70) * np.tan(turn)
    got = np.array([plane.column_at(10, yy) for yy in ys])
    assert np.abs(got - want).max() < 1.5
    assert fit_midsagittal_plane(np.zeros(shape, bool), SP) is None
    # a round head has no long axis to follow: the image's columns
    _, round_brain, _ = _head()
    flat = fit_midsagittal_plane(round_brain, SP)
    assert abs(flat.column_at(15, 20) - flat.column_at(15, 100)) < 0.5


def test_midsagittal_plane_of_a_near_round_head_is_its_mirror_axis():
    """A head almost as wide as long (egg-shaped: wider at the back) turned 20°: its long axis says
    nothing (the second-moment fit returned the image's columns), its mirror axis is the midline."""
    from HematomaExpansionLib.anatomy.midline import fit_midsagittal_plane

    shape = (20, 140, 140)
    z, y, x = np.indices(shape)
    turn = np.deg2rad(20.0)
    u = (x - 70) * np.cos(turn) - (y - 70) * np.sin(turn)  # left-right
    v = (x - 70) * np.sin(turn) + (y - 70) * np.cos(turn)  # front-back
    brain = (u / (54.0 * (1.0 + 0.12 * v / 56.0))) ** 2 + (v / 56.0) ** 2 + ((z - 10) / 30.0) ** 2 < 1.0
    plane = fit_midsagittal_plane(brain, SP)
    ys = np.array([40.0, 70.0, 100.0])
    want = 70 + (ys - 70) * np.tan(turn)
    got = np.array([plane.column_at(10, yy) for yy in ys])
    assert np.abs(got - want).max() < 1.5


def test_dense_sinus_on_the_midline_rejected_parasagittal_clot_kept():
    hu, brain, _ = _head(length=55.0, width=45.0)
    z, y, x = np.indices(hu.shape)
    # superior sagittal sinus: a 8 mm wide band on the midline, in the outer 6 mm under the table
    depth = ndi.distance_transform_edt(brain, sampling=SP)
    sinus = brain & (np.abs(x - 60) <= 4) & (depth > 3.0) & (depth <= 8.0) & (y < 45)
    hu[sinus] = 68.0
    # a clot 12 mm off the midline in one hemisphere, as deep under the cortex as the sinus
    clot = _ball(hu.shape, (15, 28, 72), 5.0) & brain
    hu[clot] = 66.0
    labels = np.zeros(hu.shape, np.uint8)
    labels[sinus | clot] = LABEL_IPH
    verdicts = A.component_verdicts(labels, hu, SP, brain)
    by_size = sorted(verdicts, key=lambda v: v["volume_ml"])
    assert {v["reject"] for v in verdicts} == {None, "falx_sinus"}
    sinus_v = next(v for v in verdicts if v["reject"] == "falx_sinus")
    assert sinus_v["midline_fraction"] >= 0.9 and sinus_v["width_mm"] <= 9.0
    assert len(by_size) == 2
    out = A.refine_with_anatomy(labels, hu, SP, brain, border=False)
    assert not out[sinus].any() and (out[clot] == LABEL_IPH).all()


def test_sinus_width_is_measured_across_a_turned_heads_midline():
    theta = np.radians(17.0)
    z, y, x = np.indices((30, 120, 120))
    along = (y - 60) * np.cos(theta) - (x - 60) * np.sin(theta)  # front-back of the turned head
    across = (y - 60) * np.sin(theta) + (x - 60) * np.cos(theta)
    r = np.sqrt((along / 55.0) ** 2 + (across / 45.0) ** 2 + ((z - 15) / 40.0) ** 2)
    hu = np.where(r < 1.0, 32.0, -1000.0).astype(np.float32)
    hu[(r >= 0.92) & (r < 1.0)] = 900.0
    brain = r < 0.92
    # a 10 mm wide dense band on the midline from the frontal inner table 30 mm backwards
    sinus = brain & (np.abs(across) <= 5.0) & (along < -20.0)
    hu[sinus] = 68.0
    cols = np.nonzero(sinus)[2]
    assert (cols.max() - cols.min() + 1) * SP[2] > A.FALX_MAX_WIDTH_MM  # in image columns it looks too wide
    (v,) = A.component_verdicts(np.where(sinus, LABEL_IPH, 0).astype(np.uint8), hu, SP, brain)
    assert v["width_mm"] <= 12.0 and v["midline_fraction"] >= 0.9 and v["reject"] == "falx_sinus"


def test_density_floor_follows_the_scanners_brain():
    from HematomaExpansionLib.segmentation import density_filter as net

    hu = np.full((6, 60, 60), 21.0, np.float32)  # a scanner reading brain ~10 HU low
    brain = np.ones(hu.shape, bool)
    lab = np.zeros(hu.shape, np.uint8)
    hu[1:5, 15:40, 15:40] = 40.0  # a low-density clot: 19 HU above this brain, below the fixed 42 HU
    lab[1:5, 15:40, 15:40] = LABEL_IPH
    assert net.min_mean_blood_hu(hu, brain) == pytest.approx(21.0 + net.MIN_BLOOD_EXCESS_HU)
    assert (net.postprocess(lab, hu, (5.0, 1.0, 1.0), brain)[1:5, 15:40, 15:40] == LABEL_IPH).all()
    # on a normal brain (32 HU) the fixed floor holds: the same 40 HU is not acute blood
    hu2 = np.where(lab > 0, 40.0, 32.0).astype(np.float32)
    assert net.min_mean_blood_hu(hu2, brain) == net.MIN_MEAN_BLOOD_HU
    assert not net.postprocess(lab, hu2, (5.0, 1.0, 1.0), brain).any()
    assert net.min_mean_blood_hu(hu, None) == net.MIN_MEAN_BLOOD_HU


def test_deep_falx_sheet_rejected_unless_labelled_intraventricular():
    hu, brain, _ = _head(length=55.0, width=45.0)
    z, y, x = np.indices(hu.shape)
    depth = ndi.distance_transform_edt(brain, sampling=SP)
    falx = brain & (np.abs(x - 60) <= 2) & (depth > 15.0) & (depth <= 25.0) & (y < 60) & (z >= 15)  # 5 mm sheet, deep
    hu[falx] = 66.0
    for label, expected in ((LABEL_IPH, "falx_sinus"), (LABEL_IVH, None)):
        labels = np.where(falx, label, 0).astype(np.uint8)
        (v,) = A.component_verdicts(labels, hu, SP, brain)
        assert v["depth_min_mm"] > A.SINUS_MAX_DEPTH_MM and v["reject"] == expected
    # the same small midline focus low in the head (the pons, below the tentorium) is kept
    pons = _ball(hu.shape, (4, 70, 60), 2.5) & brain
    (v,) = A.component_verdicts(np.where(pons, LABEL_IPH, 0).astype(np.uint8), np.where(pons, 66.0, hu), SP, brain)
    assert v["midline_fraction"] == 1.0 and v["height_fraction"] < A.FALX_LOWEST_HEIGHT and v["reject"] != "falx_sinus"


def test_dense_band_along_the_posterior_fossa_rejected_thick_cerebellar_clot_kept():
    hu, brain, _ = _head(shape=(40, 120, 120), length=55.0, width=45.0)
    z, y, x = np.indices(hu.shape)
    depth = ndi.distance_transform_edt(brain, sampling=SP)
    # a transverse sinus: a 6 mm band against the back of the skull, across both sides, low in the head
    band = brain & (depth <= 6.0) & (y > 75) & (z >= 2) & (z <= 7)
    hu[band] = 70.0
    # a cerebellar clot reaching the same inner table, 16 mm across
    clot = _ball(hu.shape, (6, 60, 96), 8.0) & brain & (depth > 0.5)
    hu[clot] = 66.0
    labels = np.zeros(hu.shape, np.uint8)
    labels[band | clot] = LABEL_IPH
    verdicts = sorted(A.component_verdicts(labels, hu, SP, brain), key=lambda v: v["volume_ml"])
    assert len(verdicts) == 2
    band_v, clot_v = (v for v in verdicts if v["reject"] is not None), (v for v in verdicts if v["reject"] is None)
    band_v, clot_v = next(band_v), next(clot_v)
    assert band_v["reject"] == "dural_band" and band_v["depth_p90_mm"] > A.RIBBON_MAX_DEPTH_MM
    assert band_v["midline_fraction"] < A.FALX_MIDLINE_FRACTION
    assert clot_v["depth_min_mm"] <= A.DURAL_BAND_TOUCH_MM and clot_v["thickness_mm"] > A.DURAL_BAND_MAX_THICKNESS_MM
    out = A.refine_with_anatomy(labels, hu, SP, brain, border=False)
    assert not out[band].any() and (out[clot] == LABEL_IPH).all()
    # the same band at the convexity (upper two thirds) is not this rule's to judge
    high = np.roll(band, 26, axis=0)
    (v,) = A.component_verdicts(np.where(high, LABEL_IPH, 0).astype(np.uint8), np.where(high, 70.0, hu), SP, brain)
    assert v["height_fraction"] > A.DURAL_BAND_HIGHEST and v["reject"] != "dural_band"


def test_ivh_specks_and_lobes_on_a_clot_become_iph_real_extension_and_lone_ivh_stay():
    from HematomaExpansionLib.core.results import IVH_PRESENT_MIN_ML
    from HematomaExpansionLib.segmentation.compartments import CLOT_CONTACT_MIN_FRACTION, absorb_ivh_on_clot

    shape = (30, 120, 120)
    labels = np.zeros(shape, np.uint8)
    clot = _ball(shape, (15, 60, 40), 12.0)
    labels[clot] = LABEL_IPH
    speck = _ball(shape, (15, 60, 30), 2.0) & clot  # a few voxels of "IVH" on the clot's edge
    labels[speck] = LABEL_IVH
    lobe = _ball(shape, (15, 48, 40), 5.0) & clot  # a lobe of the clot's rim called IVH
    labels[lobe] = LABEL_IVH
    # blood run into a ventricle: a cast along the horn, meeting the clot where it broke through
    extension = np.zeros(shape, bool)
    extension[12:19, 56:65, 53:100] = True
    extension &= ~clot
    labels[extension] = LABEL_IVH
    lone = _ball(shape, (15, 20, 90), 2.0)  # a small cast in another horn, touching no clot
    labels[lone] = LABEL_IVH
    vml = float(np.prod(SP)) / 1000.0
    assert speck.sum() * vml < IVH_PRESENT_MIN_ML <= min(extension.sum(), lobe.sum()) * vml
    assert lone.sum() * vml < IVH_PRESENT_MIN_ML
    out = absorb_ivh_on_clot(labels, SP)
    assert (out[speck] == LABEL_IPH).all() and (out[lobe] == LABEL_IPH).all()
    assert (out[extension] == LABEL_IVH).all() and (out[lone] == LABEL_IVH).all()
    assert ((out > 0) == (labels > 0)).all()  # only the compartment changes, never the blood

    def clot_share(piece):
        shell = ndi.binary_dilation(piece, np.ones((3, 3, 3), bool)) & ~piece
        return (labels[shell] == LABEL_IPH).mean()

    assert clot_share(lobe) >= CLOT_CONTACT_MIN_FRACTION > clot_share(extension) > 0


def test_calcification_margin_is_the_exact_euclidean_margin_computed_near_blood_only():
    """``core.morphology.within_margin`` gives what a distance transform over the whole box gives, for every
    candidate voxel, on anisotropic grids (thin and thick slices)."""
    from HematomaExpansionLib.core.morphology import within_margin

    rng = np.random.default_rng(3)
    for spacing, margin in (((0.6, 0.45, 0.45), 1.5), ((5.0, 0.5, 0.5), 1.5), ((1.0, 1.0, 1.0), 2.2)):
        dense = rng.random((30, 60, 60)) > 0.998
        candidates = ndi.binary_dilation(rng.random((30, 60, 60)) > 0.995, iterations=2)
        full = ndi.distance_transform_edt(~dense, sampling=spacing) <= margin
        assert np.array_equal(within_margin(dense, candidates, spacing, margin), candidates & full)
    none = np.zeros((5, 8, 8), bool)
    assert not within_margin(none, ~none, (1, 1, 1), 1.5).any()
    assert not within_margin(~none, none, (1, 1, 1), 1.5).any()
