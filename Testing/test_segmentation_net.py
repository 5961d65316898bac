"""Segmentation network: geometry round trip, empty brain, IVH placement, weight integrity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from HematomaExpansionLib.core import config
from HematomaExpansionLib.core.ct_image import CTImage
from HematomaExpansionLib.core.errors import CohortError, ModelError
from HematomaExpansionLib.core.hashing import sha256_file
from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH
from HematomaExpansionLib.segmentation import net
from HematomaExpansionLib.simulation.backgrounds import load_background_heads
from HematomaExpansionLib.simulation.cases import simulate_case


def _need_weights():
    if not net.weights_available():
        pytest.skip("bundled segmentation weights not found (models/manifest.json)")


def _need_data():
    d = config.shared_data_dir()
    if not (d / "realct" / "cranium_invesalius.nii.gz").exists() or not (d / "lesion_masks" / "hemseg500").exists():
        pytest.skip(f"real data not available: {d} lacks realct/ and lesion_masks/ (set HEMEXP_SHARED_DATA)")


def _phantom(shape=(20, 96, 112), spacing=(0.9, 1.1, 5.0), direction=None, blood=True):
    """Small synthetic head [k,j,i]: skull ring, brain 30 HU, ventricles 5 HU, optional bleed 65 HU."""
    k, j, i = np.indices(shape, dtype=np.float32)
    sx, sy, sz = spacing
    x = (i - shape[2] / 2) * sx
    y = (j - shape[1] / 2) * sy
    z = (k - shape[0] / 2) * sz
    r = np.sqrt((x / 45) ** 2 + (y / 50) ** 2 + (z / 60) ** 2)
    arr = np.full(shape, -1000.0, np.float32)
    arr[r < 1.08] = 900.0
    arr[r < 1.0] = 30.0
    vent = (np.abs(x) < 6) & (np.abs(y) < 14) & (np.abs(z) < 12)
    arr[vent] = 5.0
    truth = np.zeros(shape, np.uint8)
    if blood:
        b = ((x - 18) ** 2 + (y + 8) ** 2 + (z / 1.2) ** 2) < 12 ** 2
        arr[b] = 65.0
        truth[b] = LABEL_IPH
    rng = np.random.default_rng(0)
    arr += rng.normal(0, 3, shape).astype(np.float32)
    d = np.eye(3) if direction is None else direction
    return CTImage(arr, spacing, (-50.0, -60.0, -40.0), d), truth


def _rot_x(deg):
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def _oblique():
    a = math.radians(20)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    return rz @ _rot_x(15) @ np.diag([1.0, -1.0, 1.0])


@pytest.fixture(scope="module")
def untrained_model():
    import torch

    torch.manual_seed(0)
    m = net.build_model()
    m.eval()
    return m


@pytest.mark.parametrize("direction,spacing", [
    (None, (0.9, 1.1, 5.0)),           # anisotropic
    (_rot_x(18), (1.0, 1.0, 3.0)),     # tilted
    (_oblique(), (0.8, 0.8, 2.5)),     # oblique and flipped axis
])
def test_output_on_exact_grid(untrained_model, direction, spacing):
    ct, _ = _phantom(spacing=spacing, direction=direction)
    labels = net.segment_net(ct, model=untrained_model)
    assert labels.shape == ct.shape and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, LABEL_IPH, LABEL_IVH}


def test_prepare_and_back_is_identity_on_geometry():
    hu = np.random.default_rng(1).normal(30, 5, (7, 301, 257)).astype(np.float32)
    planes, geom, _ = net.prepare_slices(hu, (5.0, 0.45, 0.7))
    assert planes.shape == (7, 3, net.NET_SIZE, net.NET_SIZE)
    prob = np.zeros((7, 3, net.NET_SIZE, net.NET_SIZE), np.float32)
    prob[:, 0] = 1
    back = net.probabilities_to_canonical(prob, geom)
    assert back.shape == (7, 3, 301, 257)


def test_blood_threshold_sums_iph_and_ivh_and_picks_the_likelier():
    # voxels: clear background; split blood (0.3 IPH + 0.25 IVH: argmax would say background);
    # below the threshold; just above it (IVH likelier); clear IPH
    p = np.array([[0.9, 0.05, 0.05], [0.45, 0.30, 0.25], [0.65, 0.2, 0.15], [0.55, 0.15, 0.3], [0.1, 0.8, 0.1]],
                 np.float32)
    prob = p.T.reshape(1, 3, 1, 5)
    labels = net.probabilities_to_labels(prob, threshold=0.4)
    assert labels.tolist() == [[[0, LABEL_IPH, 0, LABEL_IVH, LABEL_IPH]]]
    assert net.probabilities_to_labels(prob, threshold=0.5).tolist() == [[[0, LABEL_IPH, 0, 0, LABEL_IPH]]]


def test_postprocess_removes_bone_and_specks():
    hu = np.full((6, 40, 40), 30.0, np.float32)
    lab = np.zeros(hu.shape, np.uint8)
    hu[2:4, 5:10, 5:10] = 800.0  # bone labelled as blood
    lab[2:4, 5:10, 5:10] = 1
    lab[1, 30, 30] = 1  # a speck
    hu[1, 30, 30] = 65
    hu[2:5, 15:30, 15:30] = 65.0  # real blood
    lab[2:5, 15:30, 15:30] = 1
    out = net.postprocess(lab, hu, (5.0, 1.0, 1.0))
    assert out[2:4, 5:10, 5:10].sum() == 0
    assert out[1, 30, 30] == 0
    assert (out[2:5, 15:30, 15:30] == 1).all()


def test_postprocess_leaves_brain_enclosed_by_the_clot_out():
    """Brain wrapped by a C/ring-shaped hematoma stays outside the mask (the network labels real
    hypodense pockets itself; filling such holes corrupted the core-minimum density feature)."""
    hu = np.full((5, 40, 40), 30.0, np.float32)
    lab = np.zeros(hu.shape, np.uint8)
    hu[1:4, 10:30, 10:30] = 65.0
    lab[1:4, 10:30, 10:30] = 1
    hu[1:4, 16:24, 16:24] = 32.0  # brain enclosed in every slice, not labelled by the network
    lab[1:4, 16:24, 16:24] = 0
    out = net.postprocess(lab, hu, (5.0, 1.0, 1.0))
    assert out[1:4, 16:24, 16:24].sum() == 0
    assert np.array_equal(out > 0, lab > 0)


def test_sha256_mismatch_raises_model_error(tmp_path, monkeypatch, untrained_model):
    import torch

    seg = tmp_path / "segmentation"
    seg.mkdir()
    w = seg / "w.pt"
    torch.save(untrained_model.state_dict(), w)
    manifest = {"models": {net.MODEL_ID: {"file": "segmentation/w.pt", "sha256": "0" * 64, "kind": "segmentation"},
                           "other-model": {"file": "x"}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("HEMEXP_MODELS_DIR", str(tmp_path))
    net.clear_model_cache()
    with pytest.raises(ModelError, match="sha256"):
        net.load_model()
    manifest["models"][net.MODEL_ID]["sha256"] = sha256_file(w)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    net.clear_model_cache()
    assert net.load_model() is not None
    w.write_bytes(b"not a torch file")
    manifest["models"][net.MODEL_ID]["sha256"] = sha256_file(w)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    net.clear_model_cache()
    with pytest.raises(ModelError):
        net.load_model()
    net.clear_model_cache()


def test_network_loaded_in_the_background_is_the_one_segmentation_uses(tmp_path, monkeypatch, untrained_model):
    """`segment`/`predict` load the network while the scan is read; a corrupt model still fails with its own
    error, when the command waits for it, and the classic method loads nothing."""
    import torch

    from HematomaExpansionLib.segmentation.dispatch import start_loading

    assert start_loading("classic") is None
    net.clear_model_cache()
    loading = start_loading("net")
    assert loading.result(timeout=120) is net.load_model()  # the cached model, not a second copy
    seg = tmp_path / "segmentation"
    seg.mkdir()
    w = seg / "w.pt"
    torch.save(untrained_model.state_dict(), w)
    manifest = {"models": {net.MODEL_ID: {"file": "segmentation/w.pt", "sha256": "0" * 64, "kind": "segmentation"}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("HEMEXP_MODELS_DIR", str(tmp_path))
    net.clear_model_cache()
    with pytest.raises(ModelError, match="sha256"):
        start_loading("net").result(timeout=120)
    net.clear_model_cache()


def test_bundled_weights_match_manifest():
    _need_weights()
    entry = json.loads((config.models_dir() / "manifest.json").read_text())["models"][net.MODEL_ID]
    path = config.models_dir() / entry["file"]
    assert sha256_file(path) == entry["sha256"]
    assert path.stat().st_size < 10 * 2 ** 20
    import torch

    torch.load(path, weights_only=True)


def test_empty_brain_gives_empty_mask():
    _need_weights()
    ct, _ = _phantom(blood=False)
    assert not net.segment_net(ct).any()


def test_phantom_bleed_found():
    _need_weights()
    ct, truth = _phantom(spacing=(0.9, 0.9, 3.0), direction=_rot_x(12))
    pred = net.segment_net(ct)
    inter = ((pred > 0) & (truth > 0)).sum()
    assert 2 * inter / ((pred > 0).sum() + (truth > 0).sum()) > 0.7


def test_lesion_free_real_head_and_ivh_inside_ventricles():
    _need_weights()
    _need_data()
    from scipy import ndimage as ndi

    head = load_background_heads()[0]
    fp = net.segment_net(head)
    assert fp.sum() * head.voxel_volume_ml < 1.0
    case = None
    for seed in range(200000, 200040):
        c = simulate_case(seed, "val", "standard")
        if c.meta["ivh_ml"] > 2:
            case = c
            break
    assert case is not None
    pred = net.segment_net(case.ct)
    ivh = pred == LABEL_IVH
    assert ivh.sum() > 0
    truth_ivh = ndi.binary_dilation(case.labels == LABEL_IVH, iterations=2)
    assert (ivh & truth_ivh).sum() / ivh.sum() > 0.8


def test_low_density_augmentation_only_lowers_blood():
    """Same random stream with and without it: only pixels at the blood (+2 px) change, and only downwards."""
    import torch
    from scipy import ndimage as ndi

    from HematomaExpansionLib.training import segmentation as T

    n = 8
    x = np.full((n, 3, T.STORE, T.STORE), 30, np.int16)
    y = np.zeros((n, T.STORE, T.STORE), np.uint8)
    yy, xx = np.mgrid[0:T.STORE, 0:T.STORE]
    disc = (yy - 80) ** 2 + (xx - 80) ** 2 < 20 ** 2
    x[:, :, disc] = 65
    y[:, disc] = LABEL_IPH
    idx = np.arange(n)
    plain, plain_y = T._batch(x, y, idx, np.random.default_rng(3), torch, low_density=False)
    aug, aug_y = T._batch(x, y, idx, np.random.default_rng(3), torch, low_density=True)
    assert torch.equal(plain_y, aug_y)
    diff = (aug - plain).numpy()
    changed = np.abs(diff) > 1e-4
    assert changed.any() and (diff[changed] < 0).all()
    near_blood = np.stack([ndi.binary_dilation(lab > 0, iterations=2) for lab in aug_y.numpy()])
    assert not (changed & ~near_blood[:, None]).any()


def test_loss_ignores_the_ignore_label():
    """Logits inside an IGNORE region do not change the loss (real-negative scans' hemorrhage)."""
    import torch

    from HematomaExpansionLib.training import segmentation as T

    target = torch.zeros((2, 16, 16), dtype=torch.long)
    target[0, 2:6, 2:6] = LABEL_IPH
    target[1, 8:14, 8:14] = T.IGNORE
    logits = torch.randn((2, 3, 16, 16), generator=torch.Generator().manual_seed(0))
    changed = logits.clone()
    changed[1, :, 8:14, 8:14] = torch.tensor([-5.0, 9.0, 0.0])[:, None, None]  # "blood" where ignored
    assert torch.isclose(T.dice_ce_loss(logits, target, torch), T.dice_ce_loss(changed, target, torch))
    changed[1, :, 0:4, 0:4] = torch.tensor([-5.0, 9.0, 0.0])[:, None, None]  # "blood" where background
    assert T.dice_ce_loss(changed, target, torch) > T.dice_ce_loss(logits, target, torch)


def test_real_negatives_exclude_the_hemorrhage_and_train(tmp_path):
    """Crops of a scan with a bleed: background everywhere except an IGNORE zone covering the bleed;
    training with them mixes them into every batch."""
    _need_weights()
    from HematomaExpansionLib.training import segmentation as T

    ct, truth = _phantom(spacing=(0.9, 0.9, 3.0))
    x, y = T.real_negative_slices(ct, np.random.default_rng(0))
    assert len(x) and x.shape[1:] == (3, T.STORE, T.STORE) and set(np.unique(y)) <= {0, T.IGNORE}
    # every crop pixel inside the bleed (55–90 HU with its whole 5×5 neighbourhood, so not the
    # skull's partial-volume rim) is ignored
    from scipy import ndimage as ndi

    centre = x[:, 1].astype(np.float32)
    bleed = (ndi.minimum_filter(centre, size=(1, 5, 5)) > 55) & (ndi.maximum_filter(centre, size=(1, 5, 5)) < 90)
    assert bleed.any() and (y[bleed] == T.IGNORE).all()
    assert (y == 0).mean() > 0.5

    sim = np.zeros((4, 3, T.STORE, T.STORE), np.int16) + 30
    sim_y = np.zeros((4, T.STORE, T.STORE), np.uint8)
    sim[:, :, 60:90, 60:90] = 65
    sim_y[:, 60:90, 60:90] = LABEL_IPH
    np.savez_compressed(tmp_path / "case_000000.npz", x=sim, y=sim_y)
    (tmp_path / "real").mkdir()
    np.savez_compressed(tmp_path / "real" / "real_phantom.npz", x=x, y=y)
    info = T.train(tmp_path, tmp_path / "w.pt", steps=2, batch=8, threads=1, real_negatives=tmp_path / "real")
    assert info["real_negative_crops"] == len(x) and info["real_negatives_per_batch"] == 1
    assert (tmp_path / "w.pt").exists()


def test_blood_threshold_travels_with_the_weights(tmp_path, monkeypatch):
    """The manifest's operating point is used (and recorded); without one, the module default."""
    entry = {"file": "segmentation/w.pt", "sha256": "0" * 64, "version": "7.0.0"}
    (tmp_path / "manifest.json").write_text(json.dumps({"models": {net.MODEL_ID: entry}}))
    monkeypatch.setenv("HEMEXP_MODELS_DIR", str(tmp_path))
    assert net.blood_threshold() == net.BLOOD_PROBABILITY_THRESHOLD
    entry["blood_probability_threshold"] = 0.3
    (tmp_path / "manifest.json").write_text(json.dumps({"models": {net.MODEL_ID: entry}}))
    assert net.blood_threshold() == 0.3
    assert net.model_description() == f"{net.MODEL_ID} 7.0.0 {net.POSTPROCESS_VERSION}, P(blood) >= 0.3"
    prob = np.zeros((1, 3, 1, 2), np.float32)
    prob[0, :, 0, 0] = (0.65, 0.35, 0.0)  # P(blood) 0.35: blood at 0.3, not at the default
    prob[0, :, 0, 1] = (0.9, 0.1, 0.0)
    assert net.probabilities_to_labels(prob).tolist() == [[[LABEL_IPH, 0]]]


def test_installing_new_weights_drops_the_old_weights_figures(tmp_path, monkeypatch):
    """Metrics, training record and blood threshold describe one weight file: re-installing the same
    file keeps them, other weights start without them (until benchmarked/tuned)."""
    from HematomaExpansionLib.training.weights import install_weights

    monkeypatch.setenv("HEMEXP_MODELS_DIR", str(tmp_path / "models"))
    torch = pytest.importorskip("torch")
    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save({"w": torch.zeros(2)}, first)
    torch.save({"w": torch.ones(2)}, second)
    entry = install_weights(first, training={"steps": 5}, metrics={"median_dice": 0.9}, version="2.0.0",
                            blood_threshold=0.35)
    assert entry["blood_probability_threshold"] == 0.35 and entry["metrics"] == {"median_dice": 0.9}
    again = install_weights(first)  # same file: its figures stay
    assert again["metrics"] == {"median_dice": 0.9} and again["blood_probability_threshold"] == 0.35
    other = install_weights(second, version="2.1.0", brain_calibration_hu=(30, 40))
    assert other["version"] == "2.1.0" and other["metrics"] == {}
    assert "training" not in other and "blood_probability_threshold" not in other
    assert net.blood_threshold() == net.BLOOD_PROBABILITY_THRESHOLD
    assert other["brain_calibration_hu"] == [30.0, 40.0]
    assert "brain_calibration_hu" not in install_weights(first)  # the range belongs to the weights measured


def test_weights_carry_their_own_trained_density_range(tmp_path):
    """A network trained on a head whose brain reads 35 HU is given scans shifted into its own range, not
    the bundled weights': the range is read from ``train-seg``'s record beside the weights."""
    torch = pytest.importorskip("torch")
    from HematomaExpansionLib.segmentation import calibration
    from HematomaExpansionLib.training.segmentation import write_weights_record

    assert calibration.trained_range([35.4]) == (30.5, 40.5)
    assert calibration.trained_range([23.5, 26.1]) == (18.5, 31.0)
    with pytest.raises(ValueError):
        calibration.trained_range([])
    assert calibration.weights_calibration_hu(None) == calibration.BRAIN_CALIBRATION_HU
    with pytest.raises(ValueError):
        calibration.weights_calibration_hu({"brain_calibration_hu": [40, 30]})
    weights = tmp_path / "fold.pt"
    torch.manual_seed(0)
    torch.save(net.build_model().state_dict(), weights)
    assert net.load_model(weights).brain_calibration_hu == calibration.BRAIN_CALIBRATION_HU  # no record yet
    net.clear_model_cache()
    write_weights_record(weights, {"brain_calibration_hu": [30.5, 40.5], "training_parenchyma_hu": [35.4]})
    assert calibration.weights_record_path(weights) == tmp_path / "fold.json"
    write_weights_record(weights, {"brain_calibration_hu": [40.5, 30.5]})
    with pytest.raises(ModelError, match="brain_calibration_hu"):
        net.load_model(weights)
    write_weights_record(weights, {"brain_calibration_hu": [30.5, 40.5], "training_parenchyma_hu": [35.4]})
    model = net.load_model(weights)
    assert model.brain_calibration_hu == (30.5, 40.5)
    z, y, x = np.indices((6, 160, 160))
    head = ((y - 80) / 70.0) ** 2 + ((x - 80) / 60.0) ** 2
    hu = np.where(head < 0.8, 24.0, np.where(head < 1.0, 1000.0, -1000.0)).astype(np.float32)
    report: dict = {}
    net.segment_net_canonical(hu, (5.0, 1.0, 1.0), model=model, report=report)
    assert report["parenchyma_hu"] == pytest.approx(24.0, abs=0.5)
    assert report["calibration_range_hu"] == [30.5, 40.5] and report["density_shift_hu"] == pytest.approx(6.5, abs=0.5)
    net.clear_model_cache()
    if net.weights_available():  # the bundled weights: the manifest's range, which this head lies inside
        assert net.load_model().brain_calibration_hu == calibration.BRAIN_CALIBRATION_HU
        assert net.density_calibration(CTImage(hu, (1.0, 1.0, 5.0), (0.0, 0.0, 0.0)))["density_shift_hu"] == 0.0


def test_train_seg_records_the_training_heads_density_range():
    _need_data()
    from HematomaExpansionLib.training.segmentation import training_heads_calibration

    lesion_free = training_heads_calibration()
    (median,) = lesion_free["training_parenchyma_hu"]
    assert 21.0 < median < 26.0  # cranium_invesalius reads its brain low
    assert lesion_free["brain_calibration_hu"] == [round(2 * (median - 5)) / 2, round(2 * (median + 5)) / 2]
    (bright,) = training_heads_calibration("mistie_0034.nii.gz")["training_parenchyma_hu"]
    assert 33.0 < bright < 38.0
    both = training_heads_calibration([None, "mistie_0034.nii.gz"])  # train-seg --extra-cache of a fold's cases
    assert both["training_parenchyma_hu"] == [median, bright]
    assert both["brain_calibration_hu"] == [round(2 * (median - 5)) / 2, round(2 * (bright + 5)) / 2]


def test_train_seg_cache_only_simulates_without_training(tmp_path):
    _need_data()
    from HematomaExpansionLib.cli.main import main

    cache = tmp_path / "fold"
    assert main(["train-seg", "--cache-only", "--cases", "1", "--seed", "30000", "--cache-dir", str(cache),
                 "--background", "mistie_0034.nii.gz", "--output", str(tmp_path / "w.pt")]) == 0
    assert len(list(cache.glob("case_*.npz"))) == 1 and not (tmp_path / "w.pt").exists()
    assert json.loads((cache / "cache.json").read_text()) == {"background": "mistie_0034.nii.gz"}
    assert main(["train-seg", "--cache-only", "--skip-cache", "--cache-dir", str(cache)]) != 0
    assert main(["train-seg", "--cache-only", "--cases", "1", "--cache-dir", str(cache)]) != 0  # the lesion-free heads' cases


def test_training_caches_name_their_head_and_train_together(tmp_path):
    from HematomaExpansionLib.training import segmentation as seg_training

    fold = tmp_path / "fold"
    seg_training.build_cache(fold, 0, background="mistie_0034.nii.gz")  # no case: only the record
    assert seg_training.cache_background(fold) == "mistie_0034.nii.gz"
    assert seg_training.cache_background(tmp_path / "older") is None  # written before the record: lesion-free heads
    with pytest.raises(CohortError, match="holds cases simulated on mistie_0034.nii.gz"):
        seg_training.build_cache(fold, 0)  # the lesion-free heads' cases would be mixed in
    rng = np.random.default_rng(0)
    for folder, n in ((tmp_path / "a", 3), (fold, 2)):
        folder.mkdir(exist_ok=True)
        size = seg_training.STORE
        np.savez(folder / "case_000001.npz", x=rng.integers(0, 80, (n, 3, size, size)).astype(np.int16), y=np.zeros((n, size, size), np.uint8))
    x, y, source = seg_training.load_cache([tmp_path / "a", fold])
    assert len(x) == len(y) == 5 and source.tolist() == [0, 0, 0, 1, 1]
    info = seg_training.train([tmp_path / "a", fold], tmp_path / "w.pt", steps=2, batch=4, threads=1)
    assert info["slices"] == 5 and (tmp_path / "w.pt").exists()
    y[[0, 3]] = 1  # one slice with blood in each folder
    w = seg_training.sampling_weights(y, source)
    # each head half the draws whatever its number of slices, and 3/4 of a head's draws its slices with blood
    assert w[source == 0].sum() == pytest.approx(0.5) and w[3] == pytest.approx(0.5 * seg_training.BLOOD_SLICE_SHARE)
    assert w[0] == pytest.approx(0.5 * seg_training.BLOOD_SLICE_SHARE) and w[1] == pytest.approx(0.5 * 0.25 / 2)
    single = seg_training.sampling_weights(y[:3], source[:3])  # one folder: the class balance alone
    assert single.tolist() == pytest.approx([0.75, 0.125, 0.125])
    with pytest.raises(FileNotFoundError, match="no cached slices"):
        seg_training.load_cache([tmp_path / "a", tmp_path / "empty"])


def test_net_grid_brain_of_a_small_zero_filled_skull_stripped_scan():
    """A field of view under the network's 224 mm is padded with air on the network grid; the brain
    mask must still find a skull-stripped scan's 0 HU fill and leave it outside."""
    z, y, x = np.indices((12, 190, 190))
    brain = ((y - 95) / 80.0) ** 2 + ((x - 95) / 65.0) ** 2 < 1.0
    hu = np.where(brain, 32.0, 0.0).astype(np.float32)
    planes, geom, _ = net.prepare_slices(hu, (5.0, 1.0, 1.0))
    assert planes[0, 1, 0, 0] == net.AIR_HU  # padded
    got = net.net_grid_brain(planes, geom, 5.0)
    assert abs(int(got.sum()) - int(brain.sum())) < 0.03 * brain.sum()


def test_parenchyma_median_is_unbiased_on_a_scanner_reading_brain_bright():
    from HematomaExpansionLib.anatomy.brain import brain_reference_hu, parenchyma_median_hu

    rng = np.random.default_rng(0)
    brain = np.ones((4, 40, 40), bool)
    for centre in (24.0, 36.0, 44.0):
        hu = rng.normal(centre, 6.0, brain.shape).astype(np.float32)
        assert abs(parenchyma_median_hu(hu, brain) - centre) < 0.5
    # the fixed 15-50 HU window alone cuts the top of a bright brain off
    assert brain_reference_hu(hu, brain, step=1) < 43.0


def test_calibration_shift_moves_only_scans_outside_the_trained_range():
    from HematomaExpansionLib.segmentation import calibration

    lo, hi = calibration.BRAIN_CALIBRATION_HU
    assert calibration.calibration_shift_hu(hi + 7.0) == -7.0
    assert calibration.calibration_shift_hu((lo + hi) / 2) == 0.0
    assert calibration.calibration_shift_hu(lo - 5.0) == 5.0
    assert calibration.calibration_shift_hu(None) == 0.0
    note = calibration.calibration_warning({"parenchyma_hu": hi + 7.0, "density_shift_hu": -7.0, "feature_shift_hu": -8.5})
    assert note.startswith(f"brain parenchyma reads {hi + 7.0:.1f} HU, outside")
    assert "-7.0 HU for the segmentation network and -8.5 HU for the expansion model's features" in note
    assert calibration.calibration_shift_hu(30.0, (20.5, 26.5)) == -3.5
    assert calibration.calibration_warning({"parenchyma_hu": 22.0, "density_shift_hu": 0.0}) is None
    hu = np.array([-1000.0, 5.0, 65.0, 900.0], np.float32)
    assert calibration.shift_soft_tissue(hu, -7.0).tolist() == [-1000.0, -2.0, 58.0, 900.0]  # air and bone stay


def test_parenchyma_noise_estimate_and_its_warning():
    from HematomaExpansionLib.segmentation import calibration

    rng = np.random.default_rng(1)
    brain = np.zeros((6, 80, 80), bool)
    brain[:, 10:70, 10:70] = True
    for sd in (3.0, 6.0):
        hu = (30.0 + sd * rng.standard_normal(brain.shape)).astype(np.float32)
        hu[~brain] = -1000.0
        # a pixel's difference from its 3×3 mean has SD sqrt(8/9) of white noise's
        assert calibration.parenchyma_noise_hu(hu, brain, 30.0) == pytest.approx(sd * math.sqrt(8 / 9), rel=0.05)
    assert calibration.parenchyma_noise_hu(hu, brain, None) is None
    assert calibration.parenchyma_noise_hu(hu, np.zeros_like(brain), 30.0) is None
    quiet = {"parenchyma_hu": 22.0, "density_shift_hu": 0.0, "noise_hu": 2.5}
    assert calibration.calibration_warnings(quiet) == []
    (note,) = calibration.calibration_warnings(dict(quiet, noise_hu=5.6))
    assert note.startswith("image noise 5.6 HU") and "small isolated spots" in note
    assert len(calibration.calibration_warnings(dict(quiet, noise_hu=5.6, parenchyma_hu=35.0, density_shift_hu=-7.0))) == 2


def test_a_noisier_scanner_is_measured_and_flagged_in_the_segment_output():
    """Val seed 202001 (5 mm slices) with 14 HU of extra correlated noise: the segmentation reports the noise and
    every output carries the note (the stress test's false spots; the scan as simulated reads ~2 HU, no note)."""
    _need_weights()
    _need_data()
    from scipy import ndimage as ndi

    from HematomaExpansionLib.segmentation.calibration import calibration_warnings

    case = simulate_case(202001, split="val", domain=False)
    net.segment_net(case.ct)
    assert case.ct.metadata["density_calibration"]["noise_hu"] < 3.0
    assert calibration_warnings(case.ct.metadata["density_calibration"]) == []
    noise = ndi.gaussian_filter(np.random.default_rng(0).standard_normal(case.ct.shape).astype(np.float32), (0, 0.7, 0.7))
    hu = case.ct.array + np.where(case.ct.array > -300, 14.0 * noise / noise.std(), 0.0).astype(np.float32)
    noisy = CTImage(hu, case.ct.spacing, case.ct.origin, case.ct.direction.copy())
    net.segment_net(noisy)
    report = noisy.metadata["density_calibration"]
    assert report["noise_hu"] > 4.5
    assert any(w.startswith("image noise") for w in calibration_warnings(report))


def test_a_skull_stripped_head_read_12_hu_brighter_gains_no_false_blood():
    """Val seed 202005 (skull-stripped) on a scanner reading soft tissue 12 HU higher: without the density
    calibration the network labelled 35 mL for a 7.2 mL lesion."""
    _need_weights()
    _need_data()
    case = simulate_case(202005, split="val", domain=False)
    assert case.meta["variant"] == "skullstrip"
    hu = case.ct.array.copy()
    hu[(hu > -50) & (hu < 150)] += 12.0
    bright = CTImage(hu, case.ct.spacing, case.ct.origin, case.ct.direction.copy())
    truth_ml = float((case.labels > 0).sum() * case.ct.voxel_volume_ml)
    from HematomaExpansionLib.pipeline.run_case import run_pipeline

    result = run_pipeline(bright, seg_method="net", score=False)
    pred_ml = float((result.mask > 0).sum() * case.ct.voxel_volume_ml)
    assert abs(pred_ml - truth_ml) < 1.0, (pred_ml, truth_ml)
    assert bright.metadata["density_calibration"]["density_shift_hu"] < -3.0
    assert any("models were trained on" in w for w in result.warnings)  # every output carries it


def test_expansion_features_read_a_brighter_scanner_as_the_training_scanner():
    """A scanner reading soft tissue 10 HU higher: the expansion model's density features (and so its
    probability) are those of the same scan read at the training scanner's calibration, on a user mask too."""
    _need_weights()
    _need_data()
    from HematomaExpansionLib.expansion.predictor import ExpansionPredictor
    from HematomaExpansionLib.features import ct_cache
    from HematomaExpansionLib.features.density import calibrated_ct, density_report
    from HematomaExpansionLib.pipeline.run_case import run_pipeline
    from HematomaExpansionLib.simulation import cohort

    pair = cohort.simulate_pair(100002, "val")
    ct, mask = pair["ct"], pair["labels0"]
    hu = ct.array.copy()
    hu[(hu > -50) & (hu < 150)] += 10.0
    bright = CTImage(hu, ct.spacing, ct.origin, ct.direction.copy())
    report = density_report(bright)
    assert report["density_shift_hu"] < -5.0  # its brain reads above the range
    assert density_report(ct)["density_shift_hu"] == 0.0  # the cohort's heads lie inside it
    assert calibrated_ct(ct, density_report(ct)) is ct
    predictor = ExpansionPredictor.load(definition="conventional")
    ct_cache.clear()
    plain = run_pipeline(ct, mask=mask, clinical=pair["clinical"], predictor=predictor)
    read_bright = run_pipeline(bright, mask=mask, clinical=pair["clinical"], predictor=predictor)
    # uncalibrated, this patient's probability fell 0.84 -> 0.54; calibrated, the core's minimum differs only by
    # the part of the 10 HU the calibration does not take back (into the cohorts' range, 20.5-26.5 HU)
    residual = 10.0 + bright.metadata["density_calibration"]["feature_shift_hu"]
    assert 0.0 <= residual < 4.0
    assert read_bright.model.features["sign_core_min_hu"] == pytest.approx(plain.model.features["sign_core_min_hu"] + residual, abs=0.6)
    assert abs(read_bright.model.probability - plain.model.probability) < 0.15  # 0.12 here; 0.30 uncalibrated
    assert any("models were trained on" in w for w in read_bright.warnings)
    assert not any("models were trained on" in w for w in plain.warnings)


def test_features_read_a_whole_hu_scan_shifted_in_place_and_get_it_back_bit_for_bit():
    from HematomaExpansionLib.features.density import calibrated

    rng = np.random.default_rng(2)
    hu = np.rint(rng.uniform(-1100, 1500, (6, 20, 20))).astype(np.float32)
    hu[0, 0, :4] = [-49.0, -50.0, 149.0, 150.0]  # the soft-tissue window's edges
    ct = CTImage(hu, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    before = ct.array.copy()
    with calibrated(ct, {"parenchyma_hu": 33.7}) as read:
        assert read is ct  # no second copy of the scan
        soft = (before > -50) & (before < 150)
        np.testing.assert_array_equal(read.array[soft], before[soft] - 8.0)  # 33.7 -> 25.7: whole HU, inside
        np.testing.assert_array_equal(read.array[~soft], before[~soft])
    np.testing.assert_array_equal(ct.array, before)
    with pytest.raises(RuntimeError), calibrated(ct, {"parenchyma_hu": 40.0}):
        raise RuntimeError("a feature failed")
    np.testing.assert_array_equal(ct.array, before)  # restored on an error too
    ct.array[0, 0, 0] = 30.5  # not whole HU (a resampled scan): read on a copy
    with calibrated(ct, {"parenchyma_hu": 40.0}) as read:
        assert read is not ct and read.array[0, 0, 0] == 30.5 - 14.0  # 40 -> 26
    assert ct.array[0, 0, 0] == 30.5
