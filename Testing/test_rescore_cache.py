"""Re-scoring with the CT cache (issue 14): an edited mask on a CT seen before gives the results of
a fresh, full computation, and a changed CT (content or geometry) is never served from the cache.

The case is small and synthetic (5 mm slices of 0.9 mm pixels, a flipped axis, an IPH with a
hypodense pocket and an IVH focus), so the radiomics resampling interpolates along every axis and
the canonical views are exercised. The model is the bundled one.
"""

from __future__ import annotations

import numpy as np
import pytest
from expansion_fixtures import head
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull

from HematomaExpansionLib.core.ct_image import CTImage
from HematomaExpansionLib.expansion.predictor import ExpansionPredictor
from HematomaExpansionLib.features import ct_cache, location, radiomics, signs
from HematomaExpansionLib.features.case_features import volume_features
from HematomaExpansionLib.pipeline.run_case import run_pipeline

SPACING_ZYX = (5.0, 0.9, 0.9)
SHAPE = (16, 96, 96)


def synthetic_case(seed: int = 3) -> tuple[CTImage, np.ndarray]:
    ct = head(SHAPE, spacing_zyx=SPACING_ZYX, seed=seed, direction=np.diag([-1.0, 1.0, 1.0]))
    ct.origin = (40.0, -30.0, 12.5)
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(SHAPE) * np.array(SPACING_ZYX)[:, None, None, None]
    c = (40.0, 40.0, 48.0)
    iph = ((zz - c[0]) / 14.0) ** 2 + ((yy - c[1]) / 13.0) ** 2 + ((xx - c[2]) / 10.0) ** 2 <= 1.0
    pocket = ((zz - c[0]) / 6.0) ** 2 + ((yy - c[1] - 2) / 4.0) ** 2 + ((xx - c[2]) / 4.0) ** 2 <= 1.0
    ivh = ((zz - 45.0) / 6.0) ** 2 + ((yy - 50.0) / 4.0) ** 2 + ((xx - 28.0) / 4.0) ** 2 <= 1.0
    ct.array[iph] = 64.0 + rng.normal(0, 4.0, int(iph.sum()))
    ct.array[pocket & iph] -= 26.0
    ct.array[ivh] = 55.0
    labels = np.zeros(SHAPE, np.uint8)
    labels[iph] = 1
    labels[ivh & ~iph] = 2
    return ct, labels


def edit(labels: np.ndarray) -> np.ndarray:
    """What a user does in the Segment Editor: trim the IPH's border, paint a little onto one side."""
    iph = labels == 1
    out = labels.copy()
    out[iph & ~ndi.binary_erosion(iph, np.ones((1, 3, 3), bool))] = 0
    grown = ndi.binary_dilation(iph, np.ones((1, 5, 5), bool)) & (labels == 0)
    grown[:, :, :48] = False
    out[grown] = 1
    return out


@pytest.fixture(scope="module")
def predictor() -> ExpansionPredictor:
    return ExpansionPredictor.load()


@pytest.fixture(autouse=True)
def empty_cache():
    ct_cache.clear()
    yield
    ct_cache.clear()


def fresh(ct: CTImage, labels: np.ndarray, predictor: ExpansionPredictor):
    with ct_cache.disabled():
        return run_pipeline(ct, mask=labels, predictor=predictor)


def full_computation(ct: CTImage, labels: np.ndarray, predictor: ExpansionPredictor) -> tuple[dict, float]:
    """Every feature as the uncached code computes it (all of pyradiomics, on the density-calibrated scan),
    and the image-only probability."""
    from HematomaExpansionLib.features.density import calibrated_ct, density_report

    ct = calibrated_ct(ct, density_report(ct))
    feats = volume_features(ct, labels)
    feats.update(signs.measure_signs(ct, labels))
    feats.update(location.location_features(ct, labels))  # the ventricles found afresh, no CT cache
    feats.update(radiomics.extract(ct, labels))  # pyradiomics' execute, every feature class
    deep, _ = predictor.cnn.features(ct, labels, gradcam=False)
    feats.update(deep)
    return feats, float(predictor.variants["image_only"].predict_proba(feats)[0])


def assert_same_prediction(a, b) -> None:
    assert a.measurements == b.measurements
    assert a.model.probability == pytest.approx(b.model.probability, rel=1e-9, abs=1e-12)
    assert a.model.features.keys() == b.model.features.keys()
    for k, v in a.model.features.items():
        assert v == pytest.approx(b.model.features[k], rel=1e-7, abs=1e-9), k
    np.testing.assert_allclose(a.model.gradcam, b.model.gradcam, atol=1e-6)


def test_cached_rescore_equals_a_fresh_full_computation(predictor):
    ct, labels = synthetic_case()
    first = run_pipeline(ct, mask=labels, predictor=predictor)  # Predict: fills the cache
    assert ct_cache.stats() == {"entries": 1, "hits": 0, "misses": 1}
    edited = edit(labels)
    rescored = run_pipeline(ct, mask=edited, predictor=predictor)  # Re-score: from the cache
    assert ct_cache.stats()["hits"] == 1
    assert rescored.measurements.volume_ml != first.measurements.volume_ml
    assert_same_prediction(first, fresh(ct, labels, predictor))
    assert_same_prediction(rescored, fresh(ct, edited, predictor))

    feats, p_full = full_computation(ct, edited, predictor)
    assert rescored.model.scores["model_variant"]["variant"] == "image_only"
    assert rescored.model.probability == pytest.approx(p_full, rel=1e-9, abs=1e-12)
    for k, v in rescored.model.features.items():
        assert v == pytest.approx(feats[k], rel=1e-7, abs=1e-9), k
    # only the features the model weighs are computed, and each equals pyradiomics' full run
    cached = radiomics.extract(ct, edited, features=predictor.radiomics_features, cache=ct_cache.lookup(ct))
    assert set(cached) < set(feats)
    for k in predictor.radiomics_features:
        assert cached[k] == pytest.approx(feats[k], rel=1e-7, abs=1e-9), k


def test_edit_beyond_the_cached_region_grows_it(predictor):
    ct, labels = synthetic_case()
    run_pipeline(ct, mask=labels, predictor=predictor)
    far = labels.copy()
    far[6:9, 80:86, 42:50] = 1  # a second clot ~25 mm away: outside the resampled region kept so far
    assert_same_prediction(run_pipeline(ct, mask=far, predictor=predictor), fresh(ct, far, predictor))
    assert_same_prediction(run_pipeline(ct, mask=edit(labels), predictor=predictor), fresh(ct, edit(labels), predictor))


def test_principal_axis_shape_features_without_the_mesh_match_pyradiomics():
    ct, labels = synthetic_case()
    names = [f"original_shape_{n}" for n in sorted(radiomics.PRINCIPAL_AXES_FEATURES)]
    quick = radiomics.extract(ct, labels, features=names, cache=ct_cache.lookup(ct))
    full = radiomics.extract(ct, labels)
    assert "original_shape_MeshVolume" not in quick
    for n in names:
        assert quick[n] == pytest.approx(full[n], rel=1e-9), n


def test_cache_is_invalidated_when_the_ct_changes(predictor):
    ct, labels = synthetic_case()
    entry = ct_cache.lookup(ct)
    same = CTImage(ct.array.copy(), ct.spacing, ct.origin, ct.direction)  # Slicer builds a new CTImage each time
    assert ct_cache.lookup(same) is entry
    changed = CTImage(ct.array.copy(), ct.spacing, ct.origin, ct.direction)
    changed.array[8, 40, 40] += 1.0
    moved = CTImage(ct.array, ct.spacing, (ct.origin[0] + 1.0, *ct.origin[1:]), ct.direction)
    resized = CTImage(ct.array, (0.8, 0.9, 5.0), ct.origin, ct.direction)
    turned = CTImage(ct.array, ct.spacing, ct.origin, np.eye(3))
    for other in (changed, moved, resized, turned):
        assert ct_cache.lookup(other) is not entry
    assert ct_cache.stats()["entries"] == ct_cache.CAPACITY  # the oldest were let go

    ct_cache.clear()
    before = run_pipeline(ct, mask=labels, predictor=predictor)
    ct.array[labels == 1] += 15.0  # the same CTImage object, edited in place
    after = run_pipeline(ct, mask=labels, predictor=predictor)
    assert ct_cache.stats()["misses"] == 2
    assert after.model.features["sign_core_min_hu"] == pytest.approx(before.model.features["sign_core_min_hu"] + 15.0,
                                                                     abs=0.5)
    assert_same_prediction(after, fresh(ct, labels, predictor))


def test_solidity_matches_the_unique_corner_reference(rng):
    def reference(mask, spacing):  # the former implementation: every voxel's 8 corners, np.unique
        border = mask & ~ndi.binary_erosion(mask)
        pts = np.argwhere(border).astype(np.float64)
        offs = np.array([[a, b, c] for a in (-0.5, 0.5) for b in (-0.5, 0.5) for c in (-0.5, 0.5)])
        corners = (pts[:, None, :] + offs[None]).reshape(-1, 3) * np.asarray(spacing)
        corners = np.unique(np.round(corners, 4), axis=0)
        return float(min(1.0, mask.sum() * float(np.prod(spacing)) / ConvexHull(corners).volume))

    for _ in range(3):
        blob = ndi.gaussian_filter(rng.normal(size=(12, 40, 40)), 2.0) > 0.05
        blob = ndi.label(blob)[0] == 1 + int(np.argmax(np.bincount(ndi.label(blob)[0].ravel())[1:]))
        assert signs.solidity(blob, (5.0, 0.45, 0.45)) == reference(blob, (5.0, 0.45, 0.45))


@pytest.mark.parametrize("direction", [np.diag([-1.0, 1.0, 1.0]), np.eye(3)])
def test_canonical_view_is_the_canonical_array_read_only(direction):
    ct, labels = synthetic_case()
    ct.direction = direction
    view = ct.canonical_view(labels)
    np.testing.assert_array_equal(view, ct.to_canonical_array(labels))
    assert not view.flags.writeable and labels.flags.writeable
    assert ct.to_canonical_array(labels).flags.writeable and ct.to_canonical_array(labels).flags.c_contiguous


def test_cached_radiomics_with_filters_equal_pyradiomics():
    ct, labels = synthetic_case()
    entry = ct_cache.lookup(ct)
    for mask in (labels, edit(labels)):
        cached = radiomics.extract(ct, mask, filters=("Original", "LoG"), cache=entry)
        plain = radiomics.extract(ct, mask, filters=("Original", "LoG"))
        assert cached.keys() == plain.keys() and any(k.startswith("log-sigma-") for k in cached)
        for k, v in plain.items():
            assert cached[k] == pytest.approx(v, rel=1e-7, abs=1e-9), k
