"""anatomy/: brain and ventricle masks shared by inference, the classical baseline and the simulation.

The ventricle finder used to exist twice (``simulation.engine.ventricle_mask_canonical`` and
``segmentation_classic.ventricle_mask``, different thresholds). It is now one parameterised
function; the frozen copies of the two old implementations below pin that each parameter set
still gives bit-identical masks (so the classical benchmark and the simulated cases do not move).
Real-head inputs need the shared data and skip without it; the phantom inputs always run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from HematomaExpansionLib.anatomy.brain import brain_mask_canonical
from HematomaExpansionLib.anatomy.extent import bounding_box, margin_voxels
from HematomaExpansionLib.anatomy.ventricles import ventricle_mask_canonical
from HematomaExpansionLib.core.morphology import ball, distance_inside, inplane_disk, inplane_grey_closing
from HematomaExpansionLib.io.ct_files import read_ct
from HematomaExpansionLib.segmentation import classic
from HematomaExpansionLib.simulation.sample import make_sample_case


# --- frozen reference implementations (verbatim from before the merge; do not edit) -----------
def _ref_bbox(mask, margin_vox=(0, 0, 0)):
    idx = np.nonzero(mask.any(axis=(1, 2)))[0], np.nonzero(mask.any(axis=(0, 2)))[0], np.nonzero(mask.any(axis=(0, 1)))[0]
    if any(len(i) == 0 for i in idx):
        return tuple(slice(0, n) for n in mask.shape)
    return tuple(slice(max(0, int(i[0]) - m), min(n, int(i[-1]) + m + 1)) for i, m, n in zip(idx, margin_vox, mask.shape))


def _ref_margin_vox(mm, spacing):
    return tuple(int(math.ceil(mm / s)) + 1 for s in spacing)


def _ref_brain_mask_canonical(hu, spacing):  # simulation.engine, before the move
    out = np.zeros(hu.shape, bool)
    sl = _ref_bbox(hu > -300, (1, 1, 1))
    h = hu[sl]
    soft = (h > -20.0) & (h < 120.0)
    bone = h > 300.0
    if bone.sum() < 0.002 * h.size:
        brain = ndi.binary_opening(soft, ball(1.5, spacing))
    else:
        far = ndi.distance_transform_edt(~bone, sampling=spacing) > 2.0
        core = ndi.distance_transform_edt(soft & far, sampling=spacing) > 5.0
        lab, n = ndi.label(core)
        if n == 0:
            return out
        sizes = ndi.sum(core, lab, np.arange(1, n + 1))
        largest = lab == (1 + int(np.argmax(sizes)))
        sl2 = _ref_bbox(largest, _ref_margin_vox(5.0 + 2, spacing))
        grown = np.zeros_like(largest)
        grown[sl2] = ndi.distance_transform_edt(~largest[sl2], sampling=spacing) <= 5.0 + 1.0
        brain = grown & soft & ~bone
    for k in range(brain.shape[0]):
        brain[k] = ndi.binary_fill_holes(brain[k])
    out[sl] = brain & ~bone
    return out


def _ref_ventricle_mask_canonical(hu, brain, spacing):  # simulation.engine, before the merge
    out = np.zeros(hu.shape, bool)
    if not brain.any():
        return out
    sl = _ref_bbox(brain, (1, 1, 1))
    sm = ndi.median_filter(hu[sl], size=(1, 3, 3))
    brain = brain[sl]
    csf = (sm >= -15.0) & (sm <= 15.0) & brain
    csf = ndi.binary_opening(csf, ball(1.0, spacing))
    depth = ndi.distance_transform_edt(brain, sampling=spacing)
    csf &= depth >= 10.0
    lab, n = ndi.label(csf)
    if n == 0:
        return out
    idx = np.arange(1, n + 1)
    vml = float(np.prod(spacing)) / 1000.0
    sizes = ndi.sum(csf, lab, idx) * vml
    mdepth = ndi.mean(depth, lab, idx)
    keep = idx[(sizes >= 1.5) & (mdepth > 18.0)]
    out[sl] = np.isin(lab, keep)
    return out


def _ref_classic_ventricle_mask(hu, brain, spacing):  # segmentation_classic, before the merge
    csf = (hu >= -5) & (hu <= 18.0) & brain
    csf = ndi.binary_opening(csf, ball(1.0, spacing))
    depth = ndi.distance_transform_edt(brain, sampling=spacing)
    lab, n = ndi.label(csf)
    if n == 0:
        return csf
    idx = np.arange(1, n + 1)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    sizes = ndi.sum(csf, lab, idx) * voxel_ml
    mean_depth = ndi.mean(depth, lab, idx)
    keep = idx[(sizes >= 2.0) & (mean_depth > 15.0)]
    return np.isin(lab, keep)


# --- inputs -----------------------------------------------------------------------------------
def _coarse(hu, spacing):
    """The classical segmenter's anatomy grid (in-plane subsampling to about 1 mm)."""
    f = classic._coarse_factor(spacing)
    return hu[:, ::f, ::f], (spacing[0], spacing[1] * f, spacing[2] * f)


def _phantoms():
    out = {}
    for name, kw in {"sample": {}, "small": dict(seed=1, shape=(20, 128, 128), spacing=(8.0, 1.8, 1.8)),
                     "fine_0.45mm": dict(seed=2, shape=(24, 448, 448), spacing=(5.0, 0.45, 0.45)),
                     "no_bleed": dict(seed=3, shape=(20, 128, 128), spacing=(8.0, 1.8, 1.8), with_hemorrhage=False)}.items():
        ct, _, _ = make_sample_case(**kw)
        out[name] = (ct.to_canonical_array(), ct.canonical_spacing())
    hu, sp = out["sample"]
    out["skull_stripped"] = (np.where(hu > 300, -1000.0, hu).astype(np.float32), sp)
    return out


@pytest.fixture(scope="module")
def inputs():
    return _phantoms()


@pytest.fixture(scope="module")
def real_inputs(normal_ct_path, mistie_ct_path):
    out = {}
    for name, path in (("cranium_invesalius", normal_ct_path), ("mistie_0034", mistie_ct_path)):
        ct = read_ct(path)
        out[name] = (ct.to_canonical_array(), ct.canonical_spacing())
    return out


def _check_all(cases):
    nonempty = {"sim": 0, "classic": 0}
    for name, (hu, sp) in cases.items():
        brain = brain_mask_canonical(hu, sp)
        assert np.array_equal(brain, _ref_brain_mask_canonical(hu, sp)), name
        sim = ventricle_mask_canonical(hu, brain, sp)
        ref = _ref_ventricle_mask_canonical(hu, brain, sp)
        assert sim.dtype == ref.dtype == bool and np.array_equal(sim, ref), f"{name}: simulation parameters"
        nonempty["sim"] += int(sim.any())
        hu_c, sp_c = _coarse(hu, sp)
        brain_c = classic.intracranial_mask(hu_c, sp_c)
        for b in (brain_c, brain[:, ::classic._coarse_factor(sp), ::classic._coarse_factor(sp)]):
            ref_c = _ref_classic_ventricle_mask(hu_c, b, sp_c)
            new_c = ventricle_mask_canonical(hu_c, b, sp_c, **classic.VENTRICLE_PARAMS)
            assert new_c.dtype == bool and np.array_equal(new_c, ref_c), f"{name}: classic parameters"
            assert np.array_equal(classic.ventricle_mask(hu_c, b, sp_c), ref_c), name
            nonempty["classic"] += int(new_c.any())
    return nonempty


def test_merged_ventricle_finder_bit_identical_on_phantoms(inputs):
    nonempty = _check_all(inputs)
    assert nonempty["classic"] > 0  # the pin compares real masks, not two empty arrays


def test_merged_ventricle_finder_bit_identical_on_real_heads(real_inputs):
    nonempty = _check_all(real_inputs)
    assert nonempty["sim"] == nonempty["classic"] // 2 == len(real_inputs)


def test_empty_brain_gives_empty_ventricles():
    hu = np.zeros((4, 8, 8), np.float32)
    brain = np.zeros(hu.shape, bool)
    for kw in ({}, classic.VENTRICLE_PARAMS):
        v = ventricle_mask_canonical(hu, brain, (1.0, 1.0, 1.0), **kw)
        assert v.shape == hu.shape and v.dtype == bool and not v.any()


def test_bounding_box_and_margins():
    m = np.zeros((5, 6, 7), bool)
    assert bounding_box(m) == (slice(0, 5), slice(0, 6), slice(0, 7))
    m[2, 3, 4] = True
    assert bounding_box(m, (1, 1, 10)) == (slice(1, 4), slice(2, 5), slice(0, 7))
    assert margin_voxels(5.0, (5.0, 0.5, 2.0)) == (2, 11, 4)


@pytest.mark.parametrize("shape, spacing, radius", [
    ((5, 40, 50), (5.0, 0.45, 0.45), 8.0),  # thin pixels: a 37 × 37 disk
    ((4, 30, 30), (2.0, 0.9, 1.3), 3.0),  # anisotropic pixels: rows of unequal run lengths
    ((2, 3, 2), (1.0, 1.0, 1.0), 4.0),  # the disk larger than the image: reflected more than once
])
def test_inplane_grey_closing_equals_scipys(shape, spacing, radius):
    """The row-decomposed closing the NCCT pocket top-hat uses gives scipy's grey closing exactly."""
    image = np.random.default_rng(len(shape) + shape[1]).normal(50.0, 12.0, shape)
    disk = inplane_disk(radius, spacing)
    assert np.array_equal(inplane_grey_closing(image, disk), ndi.grey_closing(image, footprint=disk))


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.4, 1.0, 1.0), (0.6, 0.45, 0.45), (5.0, 0.43, 0.51)])
def test_distance_inside_is_scipys_euclidean_distance_transform(spacing):
    """The fast transform the segmentation uses gives scipy's distances (to float32 precision), a view
    or an all-inside mask included (the latter is scipy's own answer)."""
    mask = ndi.binary_opening(np.random.default_rng(7).random((12, 40, 36)) > 0.2)
    for m in (mask, mask[:, ::2, 1:], np.ones((3, 4, 5), bool), np.zeros((3, 4, 5), bool)):
        expected = ndi.distance_transform_edt(m, sampling=spacing)
        np.testing.assert_allclose(distance_inside(m, spacing), expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("mask_fn", [brain_mask_canonical, classic.intracranial_mask])
def test_skull_stripped_with_a_soft_tissue_fill_is_masked_like_air_filled(inputs, mask_fn):
    """A stripping tool that writes 0 HU around the brain: that fill reads as soft tissue, and used to
    make the whole image intracranial (every depth rule then measured to the image's edge)."""
    hu, sp = inputs["skull_stripped"]
    air = mask_fn(hu, sp)
    zero = np.where(hu < -300, 0.0, hu).astype(np.float32)
    got = mask_fn(zero, sp)
    assert air.sum() > 0.05 * air.size
    assert 2 * (got & air).sum() / (got.sum() + air.sum()) > 0.98
    assert not got[:, 0, :].any() and not got[:, :, 0].any()
