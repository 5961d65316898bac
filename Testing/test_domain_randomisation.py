"""Domain randomisation of the data engine (simulation.domain, derive_background's elastic option)."""

from __future__ import annotations

import numpy as np
import pytest

from HematomaExpansionLib.core import config
from HematomaExpansionLib.simulation import domain
from HematomaExpansionLib.simulation.backgrounds import anatomy, shared_background_heads
from HematomaExpansionLib.simulation.cases import simulate_case


def _need_data():
    if not (config.shared_data_dir() / "realct" / "cranium_invesalius.nii.gz").exists():
        pytest.skip(f"shared data not found under {config.shared_data_dir()} (set HEMEXP_SHARED_DATA)")


def test_random_appearance_is_seeded_and_within_documented_ranges():
    a = domain.ScannerAppearance.random(np.random.default_rng(3))
    b = domain.ScannerAppearance.random(np.random.default_rng(3))
    assert a == b
    for seed in range(50):
        app = domain.ScannerAppearance.random(np.random.default_rng(seed))
        assert domain.HU_OFFSET[0] <= app.hu_offset <= domain.HU_OFFSET[1]
        assert domain.BRAIN_CONTRAST[0] <= app.brain_contrast <= domain.BRAIN_CONTRAST[1]
        assert -1.0 <= app.kernel <= 1.0 and domain.NOISE_SD_HU[0] <= app.noise_sd_hu <= domain.NOISE_SD_HU[1]
        assert set(app.hard_negatives) <= set(domain.HARD_NEGATIVES)


def test_default_appearance_changes_nothing():
    _need_data()
    head = shared_background_heads(str(config.shared_data_dir()))[0]
    labels = np.zeros(head.shape, np.uint8)
    rng = np.random.default_rng(0)
    same = domain.paint_scanner_anatomy(head, labels, anatomy(head), domain.ScannerAppearance(), rng)
    same = domain.apply_scanner_acquisition(same, domain.ScannerAppearance(), rng)
    assert np.allclose(same.array, head.array)


@pytest.mark.parametrize("name", domain.HARD_NEGATIVES)
def test_every_hard_negative_lands_in_the_brain(name):
    _need_data()
    head = shared_background_heads(str(config.shared_data_dir()))[0]
    an = anatomy(head)
    region, value = domain._hard_negative(name, an, np.random.default_rng(1))
    assert region is not None and region.any(), name
    assert (np.asarray(region, bool) <= an.brain).all()
    assert value >= 48.0  # every hard negative is at least as dense as blood can look


def test_domain_randomisation_keeps_the_case_and_its_labels():
    _need_data()
    plain = simulate_case(21, "val", "standard", domain=False)
    varied = simulate_case(21, "val", "standard")
    again = simulate_case(21, "val", "standard")
    assert np.array_equal(varied.ct.array, again.ct.array)  # deterministic
    assert varied.meta["lesion"] == plain.meta["lesion"]  # same draws of shape and placement
    assert "scanner" in varied.meta and "elastic_mm" in varied.meta["derived"]
    assert not np.allclose(varied.ct.array, plain.ct.array)
    blood = varied.labels > 0
    assert blood.any()
    # the blood stays acute blood: mean within the painted range after offset/noise/kernel
    assert 45.0 < float(varied.ct.array[blood].mean()) < 90.0


def test_real_hemorrhage_head_as_background_keeps_its_own_blood_labelled():
    if not (config.shared_data_dir() / "realct" / "mistie_0034.nii.gz").exists():
        pytest.skip(f"mistie_0034 not found under {config.shared_data_dir()} (set HEMEXP_SHARED_DATA)")
    from scipy import ndimage as ndi

    from HematomaExpansionLib.simulation.backgrounds import OWN_BLOOD_MARGIN_MM, delineated_head

    head, own = delineated_head(str(config.shared_data_dir()), "mistie_0034.nii.gz")
    assert 30.0 < float((own > 0).sum() * head.voxel_volume_ml) < 60.0  # the real ICH + IVH
    case = simulate_case(3, "train", "standard", derive=False, background="mistie_0034.nii.gz")
    assert case.meta["own_blood_ml"] > 30.0
    assert ((case.labels > 0) | ~(own > 0)).all()  # its own blood stays labelled
    new = (case.labels > 0) & ~(own > 0)
    assert new.any()
    # new lesions are placed away from the real hemorrhage
    dist = ndi.distance_transform_edt(~(head.to_canonical_array(own) > 0), sampling=head.canonical_spacing())
    assert float(np.median(dist[head.to_canonical_array(new.astype(np.uint8)) > 0])) > OWN_BLOOD_MARGIN_MM


def test_real_hemorrhage_head_derived_moves_its_own_blood_with_the_head():
    """A delineated head gets the same geometric augmentation as the lesion-free heads (mirror,
    rotation, scale, elastic): its own blood's labels move with the image, and the zone around them
    stays out of lesion placement."""
    if not (config.shared_data_dir() / "realct" / "mistie_0034.nii.gz").exists():
        pytest.skip(f"mistie_0034 not found under {config.shared_data_dir()} (set HEMEXP_SHARED_DATA)")
    from scipy import ndimage as ndi

    from HematomaExpansionLib.simulation.backgrounds import OWN_BLOOD_MARGIN_MM, anatomy, delineated_head, derive_background

    head, own = delineated_head(str(config.shared_data_dir()), "mistie_0034.nii.gz")
    bg = derive_background(head, np.random.default_rng(5), elastic_rng=np.random.default_rng(6), own_blood=own)
    moved = bg.metadata["own_blood"] > 0
    assert not np.array_equal(moved, own > 0)  # the geometry did change
    v0, v1 = (own > 0).sum() * head.voxel_volume_ml, moved.sum() * bg.voxel_volume_ml
    assert 0.7 * v0 < v1 < 1.4 * v0  # scale ±8 %, anisotropy ±6 % a side
    def blood_like(region):
        return float(((bg.array[region] > 35.0) & (bg.array[region] < 100.0)).mean())

    assert blood_like(moved) > 0.8  # the labels sit on the moved clot ...
    assert blood_like((own > 0) & ~moved) < 0.5  # ... not where it was before
    an = anatomy(bg)
    dist = ndi.distance_transform_edt(~bg.to_canonical_array(moved), sampling=an.spacing)
    assert an.parenchyma.any()
    # the kept-out zone moved too (nearest-neighbour resampling: within a slice of the margin)
    assert float(dist[an.parenchyma].min()) > OWN_BLOOD_MARGIN_MM - max(an.spacing)
    case = simulate_case(3, "train", "standard", background="mistie_0034.nii.gz")
    assert case.meta["derived"] is not None and case.meta["own_blood_ml"] > 30.0


def test_midline_structures_follow_a_turned_head():
    """The falx and the sagittal sinus are painted on the head's own midline, not the image's column:
    a head turned by 12° gets them turned by 12°."""
    from scipy import ndimage as ndi

    from HematomaExpansionLib.simulation.backgrounds import Anatomy

    sp = (2.0, 1.0, 1.0)
    z, y, x = np.indices((40, 180, 160))
    turn = np.deg2rad(12.0)
    u = (x - 80) * np.cos(turn) - (y - 90) * np.sin(turn)  # left-right in the head's own frame
    v = (x - 80) * np.sin(turn) + (y - 90) * np.cos(turn)
    brain = (u / 60.0) ** 2 + (v / 75.0) ** 2 + ((z - 20) / 22.0) ** 2 < 1.0
    hu = np.where(brain, 30.0, -1000.0).astype(np.float32)
    an = Anatomy(hu, sp, brain, brain.copy(), np.zeros_like(brain), ndi.distance_transform_edt(brain, sampling=sp))
    for name in ("sagittal_sinus", "dense_falx"):
        region, _ = domain._hard_negative(name, an, np.random.default_rng(0))
        lateral = np.abs(u[np.asarray(region, bool)])
        assert region.any() and np.percentile(lateral, 95) <= 6.0, name
