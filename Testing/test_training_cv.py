"""Patient-level cross-validation and cohort-table checks."""

from __future__ import annotations

import numpy as np
import pytest

from HematomaExpansionLib.core.errors import CohortError
from HematomaExpansionLib.training.cohort import read_cohort
from HematomaExpansionLib.training.cv import patient_folds


def test_folds_never_split_a_patient():
    rng = np.random.default_rng(0)
    patients, y = [], []
    for p in range(60):
        n = int(rng.integers(1, 4))  # 1–3 scans per patient
        lab = int(rng.random() < 0.35)
        patients += [f"P{p}"] * n
        y += [lab] * n
    y = np.array(y)
    folds = patient_folds(patients, y, 5, seed=1)
    assert len(folds) == 5
    seen = np.zeros(len(y), int)
    pa = np.array(patients)
    for tr, te in folds:
        assert not set(pa[tr]) & set(pa[te])
        assert y[te].sum() > 0 and (1 - y[te]).sum() > 0  # stratified: both classes in each test fold
        seen[te] += 1
    assert np.all(seen == 1)  # every row tested exactly once


def test_folds_need_both_classes():
    with pytest.raises(CohortError):
        patient_folds(["a", "b", "c"], np.array([1, 0, 0]), 5)


def test_cohort_table_errors(tmp_path):
    with pytest.raises(CohortError, match="not found"):
        read_cohort(tmp_path / "none.csv")
    p = tmp_path / "c.csv"
    p.write_text("foo,bar\n1,2\n")
    with pytest.raises(CohortError, match="baseline_ct"):
        read_cohort(p)
    p.write_text("baseline_ct,label\nmissing.nii.gz,1\n")
    with pytest.raises(CohortError, match="not found"):
        read_cohort(p)
    (tmp_path / "ct.nii.gz").write_bytes(b"x")
    p.write_text("baseline_ct,label,patient_id,onset_to_ct_h\nct.nii.gz,maybe,P1,2\n")
    with pytest.raises(CohortError, match="0/1"):
        read_cohort(p)
    p.write_text("baseline_ct,label,patient_id,onset_to_ct_h,other\nct.nii.gz,1,P1,2,z\n")
    c = read_cohort(p)[0]
    assert c.patient_id == "P1" and c.label == 1 and c.clinical == {"onset_to_ct_h": "2"}


def test_parallel_feature_extraction_matches_serial_in_cohort_order(tmp_path, monkeypatch):
    import SimpleITK as sitk
    from expansion_fixtures import hematoma_case

    from HematomaExpansionLib.training.feature_cache import extract_features

    rows = ["case_id,baseline_ct,baseline_mask,label"]
    for i, radius in enumerate((7.0, 9.0, 11.0)):
        ct, labels = hematoma_case(seed=i, radius_mm=radius)
        sitk.WriteImage(ct.to_sitk(), str(tmp_path / f"ct{i}.nii.gz"))
        sitk.WriteImage(ct.to_sitk(labels), str(tmp_path / f"m{i}.nii.gz"))
        rows.append(f"c{i},ct{i}.nii.gz,m{i}.nii.gz,{i % 2}")
    (tmp_path / "cohort.csv").write_text("\n".join(rows) + "\n")
    cases = read_cohort(tmp_path / "cohort.csv")
    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    parallel = extract_features(cases, progress=False, use_cache=False, workers=2)
    serial = extract_features(cases, progress=False, use_cache=False, workers=1)
    assert [round(f["volume_iph_ml"], 6) for f in parallel] == [round(f["volume_iph_ml"], 6) for f in serial]
    assert parallel[0]["volume_iph_ml"] < parallel[1]["volume_iph_ml"] < parallel[2]["volume_iph_ml"]
    for p, s in zip(parallel, serial):
        assert p.keys() == s.keys()
        np.testing.assert_allclose([p[k] for k in sorted(p)], [s[k] for k in sorted(s)], rtol=1e-6, atol=1e-9)


def test_feature_cache_of_unmasked_cases_follows_the_segmentation_model(tmp_path, monkeypatch):
    """Cases without a baseline mask are segmented by the bundled model: a new model (other version,
    threshold or weights) must not reuse features computed with the old one."""
    from HematomaExpansionLib.training import feature_cache
    from HematomaExpansionLib.training.cohort import Case
    from HematomaExpansionLib.training.feature_cache import feature_cache_key

    (tmp_path / "ct.nii.gz").write_bytes(b"ct")
    (tmp_path / "m.nii.gz").write_bytes(b"mask")
    unmasked = Case("c1", "P1", tmp_path / "ct.nii.gz", None, None, 1)
    masked = Case("c1", "P1", tmp_path / "ct.nii.gz", tmp_path / "m.nii.gz", None, 1)
    before = feature_cache_key(unmasked, ("Original",)), feature_cache_key(masked, ("Original",))
    monkeypatch.setattr(feature_cache, "describe_method", lambda method: "net (seg-attn-unet25d 9.9.9, P(blood) >= 0.7)")
    after = feature_cache_key(unmasked, ("Original",)), feature_cache_key(masked, ("Original",))
    assert before[0] != after[0]
    assert before[1] == after[1]  # a given mask does not depend on the segmenter


def test_a_post_processing_constant_changed_in_the_source_invalidates_cached_auto_masks(tmp_path):
    """Tuning a threshold without bumping POSTPROCESS_VERSION must not reuse masks cached with the old value."""
    import shutil
    from pathlib import Path

    from HematomaExpansionLib.training import feature_cache

    lib = Path(feature_cache.__file__).resolve().parents[1]
    for pkg in feature_cache.SEGMENTATION_CODE_PACKAGES:
        shutil.copytree(lib / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    assert feature_cache.segmentation_code_fingerprint(tmp_path) == feature_cache.segmentation_code_fingerprint()
    path = tmp_path / "segmentation" / "compartments.py"
    source = path.read_text()
    assert "CLOT_CONTACT_MIN_FRACTION = 0.2" in source
    path.write_text(source.replace("CLOT_CONTACT_MIN_FRACTION = 0.2", "CLOT_CONTACT_MIN_FRACTION = 0.15"))
    assert feature_cache.segmentation_code_fingerprint(tmp_path) != feature_cache.segmentation_code_fingerprint()
    assert feature_cache.segmentation_code_fingerprint() in feature_cache.auto_segmentation_identity()


def test_parallel_extraction_with_auto_segmentation_after_torch_started(tmp_path):
    """The evaluate/train path: the parent has already run torch (a model was loaded) when the worker
    pool starts, and the workers segment with torch. With forked workers this hung forever."""
    import subprocess
    import sys

    import SimpleITK as sitk
    from expansion_fixtures import hematoma_case

    from HematomaExpansionLib.segmentation import net as segmentation_net

    if not segmentation_net.weights_available():
        pytest.skip("bundled segmentation weights not found (models/manifest.json)")
    rows = ["case_id,baseline_ct,label"]
    for i, radius in enumerate((10.0, 12.0)):
        ct, _ = hematoma_case(seed=i, radius_mm=radius)
        sitk.WriteImage(ct.to_sitk(), str(tmp_path / f"ct{i}.nii.gz"))
        rows.append(f"c{i},ct{i}.nii.gz,{i % 2}")
    (tmp_path / "cohort.csv").write_text("\n".join(rows) + "\n")
    script = (
        "import sys, json\n"
        "from HematomaExpansionLib.segmentation import net\n"
        "from HematomaExpansionLib.training.cohort import read_cohort\n"
        "from HematomaExpansionLib.training.feature_cache import extract_features\n"
        "cases = read_cohort(sys.argv[1])\n"
        "from HematomaExpansionLib.training.feature_cache import load_case\n"
        "net.segment_net(load_case(cases[0])[0])  # torch's thread pool is running in this process now\n"
        "feats = extract_features(cases, progress=False, use_cache=False, workers=2)\n"
        "print(json.dumps([f['volume_iph_ml'] for f in feats]))\n"
    )
    env = {**__import__("os").environ, "HEMEXP_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "cohort.csv")], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    volumes = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert len(volumes) == 2 and 0 < volumes[0] < volumes[1]


def test_auto_segmentation_of_an_unmasked_case_is_cached(tmp_path, monkeypatch):
    """Features and the CNN both load an unmasked case; the segmenter runs once per CT and model."""
    import SimpleITK as sitk
    from expansion_fixtures import hematoma_case

    from HematomaExpansionLib.training import feature_cache
    from HematomaExpansionLib.training.cohort import Case
    from HematomaExpansionLib.training.feature_cache import load_case

    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    ct, truth = hematoma_case(seed=0, radius_mm=9.0)
    sitk.WriteImage(ct.to_sitk(), str(tmp_path / "ct.nii.gz"))
    calls = []
    real_segment = feature_cache.segment

    def counting_segment(image, method="auto"):  # the real segmenter, counted
        calls.append(method)
        return real_segment(image, method)

    monkeypatch.setattr(feature_cache, "segment", counting_segment)
    case = Case("c1", "P1", tmp_path / "ct.nii.gz", None, None, 1)
    first = load_case(case)[1]
    second = load_case(case)[1]
    assert calls == ["auto"] and (first > 0).sum() > 0.5 * (truth > 0).sum()
    assert np.array_equal(first, second) and first.dtype == second.dtype
    monkeypatch.setattr(feature_cache, "describe_method", lambda method: "net (another model)")
    load_case(case)
    assert len(calls) == 2  # another segmentation model: segmented again


def test_mask_source_auto_measures_features_on_the_segmenters_mask(tmp_path, monkeypatch):
    """--mask-source auto: features (and the CNN) see the bundled segmenter's mask, as the one-button
    pipeline does; the cohort's baseline mask still defines the expansion label."""
    import SimpleITK as sitk
    from expansion_fixtures import hematoma_case

    from HematomaExpansionLib.segmentation import net as segmentation_net
    from HematomaExpansionLib.training.cohort import case_label
    from HematomaExpansionLib.training.feature_cache import feature_cache_key, load_case

    if not segmentation_net.weights_available():
        pytest.skip("bundled segmentation weights not found (models/manifest.json)")
    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    ct, truth = hematoma_case(seed=0, radius_mm=10.0)
    given = np.zeros_like(truth)
    given[truth > 0] = 1
    given[:, :, : truth.shape[2] // 2] = 0  # a deliberately partial "manual" baseline mask: half the clot
    followup = truth.copy()
    for name, arr in (("ct", None), ("m0", given), ("m1", followup)):
        sitk.WriteImage(ct.to_sitk(arr) if arr is not None else ct.to_sitk(), str(tmp_path / f"{name}.nii.gz"))
    (tmp_path / "cohort.csv").write_text("case_id,baseline_ct,baseline_mask,followup_mask\nc1,ct.nii.gz,m0.nii.gz,m1.nii.gz\n")
    given_case = read_cohort(tmp_path / "cohort.csv")[0]
    auto_case = read_cohort(tmp_path / "cohort.csv", mask_source="auto")[0]
    assert given_case.feature_mask == given_case.mask and auto_case.feature_mask is None
    assert np.array_equal(load_case(given_case)[1], given)
    auto = load_case(auto_case)[1]
    dice = 2 * np.sum((auto > 0) & (truth > 0)) / (np.sum(auto > 0) + np.sum(truth > 0))
    assert dice > 0.8  # the segmenter's whole clot, not the given half
    # the label still comes from the given baseline and the follow-up (half → whole: > 33 % growth)
    assert case_label(auto_case, "conventional") == case_label(given_case, "conventional") == 1
    assert feature_cache_key(auto_case, ("Original",)) != feature_cache_key(given_case, ("Original",))
    with pytest.raises(CohortError, match="mask source"):
        read_cohort(tmp_path / "cohort.csv", mask_source="manual")


def test_mask_source_cv_prefers_training_on_the_masks_it_is_scored_on():
    """A feature that predicts on manual masks but is scrambled on automatic ones (like the lowest core
    density under a border one voxel into brain) misleads a model trained on manual masks; trained on
    automatic masks, the model leans on the feature that survives segmentation instead."""
    from HematomaExpansionLib.training.mask_source import ARMS, mask_source_cv

    rng = np.random.default_rng(3)
    n = 400
    fragile = rng.normal(size=n)  # strongly predictive, measured exactly on manual masks only
    robust = rng.normal(size=n)  # weaker, but the same on both masks
    y = (1.6 * fragile + 1.2 * robust + rng.normal(0, 0.6, n) > 0.6).astype(int)
    X_given = np.c_[fragile, robust]
    X_auto = np.c_[np.where(rng.random(n) < 0.85, rng.normal(size=n), fragile), robust]
    params = {"selection": "none", "k": 2, "model": "logistic", "C": 1.0, "calibration": "sigmoid"}
    auc = mask_source_cv(X_given, X_auto, y, [f"P{i // 2}" for i in range(n)], ["fragile", "robust"], params)
    assert set(auc) == set(ARMS)
    assert auc["auto"] > auc["given"] + 0.03
    assert auc["given"] < auc["both"] < auc["auto"]
    assert auc["auto"] < 0.95  # scored on the scrambled feature: no model can be near-perfect here

    with pytest.raises(ValueError, match="same cases"):
        mask_source_cv(X_given, X_auto[:-1], y, ["p"] * n, ["fragile", "robust"], params)


def test_mask_source_heldout_scores_each_arm_on_new_patients_automatic_masks():
    """Fitted on every training case, each arm scores a held-out cohort's automatic-mask features: the arm
    trained on automatic masks wins where the fragile feature is scrambled there, and each figure comes
    with its calibration slope (a gain the training CV promised is checked on new patients before a build)."""
    from HematomaExpansionLib.training.mask_source import ARMS, mask_source_heldout

    rng = np.random.default_rng(5)

    def cohort(n):
        fragile, robust = rng.normal(size=n), rng.normal(size=n)
        y = (1.6 * fragile + 1.2 * robust + rng.normal(0, 0.6, n) > 0.6).astype(int)
        auto = np.c_[np.where(rng.random(n) < 0.85, rng.normal(size=n), fragile), robust]
        return np.c_[fragile, robust], auto, y

    X_given, X_auto, y = cohort(400)
    _, X_test_auto, y_test = cohort(300)
    params = {"selection": "none", "k": 2, "model": "logistic", "C": 1.0, "calibration": "sigmoid"}
    got = mask_source_heldout(X_given, X_auto, y, X_test_auto, y_test, ["fragile", "robust"], params)
    assert set(got) == set(ARMS)
    assert got["auto"]["auc"] > got["given"]["auc"] + 0.03
    assert 0.5 < got["auto"]["auc"] < 0.95
    # the model trained on exact values of the fragile feature is far overconfident on scrambled ones
    assert got["given"]["calibration_slope"] < 0.3 < 0.5 < got["auto"]["calibration_slope"] < 1.5
    assert all(np.isfinite(r["calibration_intercept"]) for r in got.values())
    with pytest.raises(ValueError, match="one row per held-out case"):
        mask_source_heldout(X_given, X_auto, y, X_test_auto[:, :1], y_test, ["fragile", "robust"], params)


def test_mask_pair_labels_read_each_mask_file_once(tmp_path, monkeypatch):
    """Labelling from mask pairs measures each file once (volumes cached by content) and gives exactly
    the labels of reading both masks; an edited mask is measured again."""
    import SimpleITK as sitk

    from HematomaExpansionLib.expansion.labels import label_from_files
    from HematomaExpansionLib.training import mask_volumes
    from HematomaExpansionLib.training.cohort import case_label

    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))

    def write(name: str, iph_slices: int, ivh_slices: int) -> None:
        a = np.zeros((12, 20, 20), np.uint8)
        a[:iph_slices, 5:15, 5:15] = 1
        a[10:10 + ivh_slices, 2:6, 2:6] = 2
        img = sitk.GetImageFromArray(a)
        img.SetSpacing((0.5, 0.5, 2.0))
        sitk.WriteImage(img, str(tmp_path / name))

    write("m0.nii.gz", 4, 0)  # IPH 400 voxels of 0.5 mm³: 0.2 mL
    write("m1.nii.gz", 6, 2)  # IPH 0.3 mL (+50 %), new IVH 0.016 mL
    write("ct.nii.gz", 0, 0)  # the table needs a baseline CT file; labelling never reads it
    (tmp_path / "cohort.csv").write_text("case_id,baseline_ct,baseline_mask,followup_mask\nc1,ct.nii.gz,m0.nii.gz,m1.nii.gz\n")
    case = read_cohort(tmp_path / "cohort.csv")[0]
    expected = {d: int(label_from_files(case.mask, case.followup).label(d)) for d in ("conventional", "revised1")}
    assert {d: case_label(case, d) for d in expected} == expected == {"conventional": 1, "revised1": 1}
    assert mask_volumes.mask_file_volumes(case.followup) == pytest.approx((0.3, 0.016))

    def unread(*_a, **_k):
        raise AssertionError("a cached mask was read again")

    monkeypatch.setattr(mask_volumes, "read_mask_file", unread)
    assert {d: case_label(case, d) for d in expected} == expected
    monkeypatch.undo()
    monkeypatch.setenv("HEMEXP_CACHE_DIR", str(tmp_path / "cache"))
    write("m1.nii.gz", 4, 0)  # the follow-up mask edited: no growth any more
    assert case_label(case, "revised1") == 0
