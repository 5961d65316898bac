"""Distance from the hematoma to the ventricles (features/location.py), on the generated phantom whose
lateral ventricles are ellipsoids of known place: centres (z 12, y −5, x ±11) mm, radii (18, 30, 6) mm."""

from __future__ import annotations

import numpy as np
import pytest

from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH
from HematomaExpansionLib.features import ct_cache, location
from HematomaExpansionLib.simulation.sample import make_sample_case


@pytest.fixture(scope="module")
def phantom():
    ct, labels, _ = make_sample_case(0)
    return ct, labels


def _ball(ct, centre_xyz_mm, radius_mm: float) -> np.ndarray:
    """A ball on the phantom's grid; coordinates as in ``make_sample_case`` (centred on the array)."""
    shape, (sz, sy, sx) = ct.canonical_view().shape, ct.canonical_spacing()
    z, y, x = np.meshgrid(*[(np.arange(n) - n / 2 + 0.5) * s for n, s in zip(shape, (sz, sy, sx))], indexing="ij")
    cx, cy, cz = centre_xyz_mm
    ball = ((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) <= radius_mm ** 2
    return ct.from_canonical_array(ball)


def test_distance_follows_the_clot_away_from_the_ventricle(phantom):
    ct, _ = phantom

    def features(x_mm: float) -> dict[str, float]:
        labels = np.where(_ball(ct, (x_mm, -5.0, 12.0), 5.0), LABEL_IPH, 0).astype(np.uint8)
        return location.location_features(ct, labels)

    # the left ventricle's lateral wall is at x = −17 mm (the CSF mask sits up to ~1.5 mm inside it);
    # a 5 mm ball centred at −30 mm comes within 8 mm of it, one at −38 mm within 16 mm
    at30, at38 = features(-30.0), features(-38.0)
    assert 6.0 <= at30["location_ventricle_distance_mm"] <= 12.0
    assert at38["location_ventricle_distance_mm"] - at30["location_ventricle_distance_mm"] == pytest.approx(8.0, abs=2.0)
    assert at30["location_periventricular_fraction"] == at38["location_periventricular_fraction"] == 0.0
    against = features(-21.0)  # its nearest point at −16 mm: on the wall
    assert against["location_ventricle_distance_mm"] <= 2.0
    assert 0.2 < against["location_periventricular_fraction"] < 1.0


def test_ivh_means_distance_zero_and_no_iph_reads_as_far(phantom):
    ct, labels = phantom
    assert (labels == LABEL_IVH).any()
    assert location.location_features(ct, labels)["location_ventricle_distance_mm"] == 0.0
    empty = location.location_features(ct, np.zeros_like(labels))
    assert empty == {"location_ventricle_distance_mm": location.DISTANCE_CAP_MM,
                     "location_periventricular_fraction": 0.0}


def test_cached_ventricles_give_the_same_features(phantom):
    ct, labels = phantom
    entry = ct_cache.CTCache(ct_cache.ct_key(ct))
    first = location.location_features(ct, labels, entry)
    assert any(k[0] == "ventricles" for k in entry.memo)
    assert location.location_features(ct, labels, entry) == first == location.location_features(ct, labels)
