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
