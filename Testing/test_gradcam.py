"""2.5D CNN input/Grad-CAM geometry: the heatmap lands on the hematoma, on the CT's own grid."""

from __future__ import annotations

import numpy as np
import pytest
from expansion_fixtures import hematoma_case

from HematomaExpansionLib.core.ct_image import CTImage
from HematomaExpansionLib.features import deep as dfe
from HematomaExpansionLib.training import cnn


def _reoriented(ct, lab):
    """Same anatomy stored with permuted + flipped axes and the matching direction matrix."""
    arr = np.flip(np.transpose(ct.array, (2, 1, 0)), axis=1).copy()   # [i, j, k] order, j flipped
    labr = np.flip(np.transpose(lab, (2, 1, 0)), axis=1).copy()
    # new numpy axes (a0, a1, a2) = (i, -j, k) → ITK axes (x, y, z) = (k, -j, i)
    direction = np.zeros((3, 3))
    direction[:, 0] = [0, 0, 1]     # new i-axis (numpy axis 2) = old k = superior
    direction[:, 1] = [0, -1, 0]    # new j-axis = old -j
    direction[:, 2] = [1, 0, 0]     # new k-axis (numpy axis 0) = old i
    sp = (ct.spacing[2], ct.spacing[1], ct.spacing[0])
    return CTImage(arr, sp, (0, 0, 0), direction), labr


@pytest.mark.parametrize("reorient", [False, True])
def test_gradcam_mapping_hits_hematoma(reorient):
    ct, lab = hematoma_case(seed=7, radius_mm=8.0)
    lab = lab.copy()
    # move the hematoma off-centre so a wrong mapping cannot land on it by symmetry
    lab = np.roll(lab, (0, 10, -12), axis=(0, 1, 2))
    ct.array = np.where(lab > 0, 66.0, np.where(np.roll(ct.array, 0) > 60, 32.0, ct.array)).astype(np.float32)
    if reorient:
        ct, lab = _reoriented(ct, lab)
    x, g = dfe.stack_input(ct, lab)
    assert x.shape == (2 * dfe.K_SLICES + 2, dfe.INPUT_PX, dfe.INPUT_PX)
    cam = np.zeros((8, 8), np.float32)
    cam[3:5, 3:5] = 1.0  # centre of the input window = the hematoma centroid on the max-area slice
    vol = dfe.map_to_ct_grid(ct, cam, g)
    assert vol.shape == ct.shape and vol.dtype == np.float32
    assert 0.0 <= vol.min() and vol.max() == pytest.approx(1.0)
    hot = vol >= 0.99 * vol.max()
    peak = np.argwhere(hot).mean(0)  # centre of the hottest region
    centroid = np.argwhere(lab > 0).mean(0)
    spacing_np = np.array(ct.spacing[::-1])
    assert np.linalg.norm((peak - centroid) * spacing_np) < 8.0  # mm
    # heat only on the 2k+1 input slices (canonical axial axis)
    can = ct.to_canonical_array(vol)
    hot_slices = np.flatnonzero(can.reshape(can.shape[0], -1).max(1) > 0)
    assert len(hot_slices) <= 2 * dfe.K_SLICES + 1
    assert g["z0"] in hot_slices


def test_extractor_gradcam_volume_and_npz_roundtrip(tmp_path):
    import torch

    torch.manual_seed(0)
    ct, lab = hematoma_case(seed=8)
    net = dfe.build_net()
    net.eval()
    ex = dfe.DeepFeatureExtractor(net)
    feats, vol = ex.features(ct, lab, gradcam=True)
    assert list(feats) == dfe.deep_names()
    assert vol.shape == ct.shape and vol.dtype == np.float32
    assert vol.min() >= 0 and vol.max() <= 1 + 1e-6
    path = tmp_path / "cnn.npz"
    dfe.net_to_npz(net, path)
    ex2 = dfe.DeepFeatureExtractor.load(path)
    feats2, _ = ex2.features(ct, lab, gradcam=False)
    np.testing.assert_allclose([feats[k] for k in feats], [feats2[k] for k in feats], atol=1e-5)
    with np.load(path, allow_pickle=False) as z:  # plain arrays, no pickle
        assert "stem.0.weight" in z.files


def test_cnn_learns_a_trivial_signal():
    rng = np.random.default_rng(0)
    X = rng.random((48, 2 * dfe.K_SLICES + 2, dfe.INPUT_PX, dfe.INPUT_PX)).astype(np.float32) * 0.2
    y = (np.arange(48) % 2).astype(int)
    X[y == 1, :, 20:44, 20:44] += 0.6
    net = cnn.train_net(X, y, epochs=6, seed=0)
    import torch

    with torch.no_grad():
        logit = net(torch.from_numpy(X)).numpy()
    assert logit[y == 1].mean() > logit[y == 0].mean()
