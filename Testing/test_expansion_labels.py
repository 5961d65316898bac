"""Expansion labels: every definition at its exact boundaries, masks/files, and the `label` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib.core.errors import HematomaExpansionError
from HematomaExpansionLib.expansion.labels import (
    IVH_PRESENT_MIN_ML,
    label_from_files,
    label_from_masks,
    label_from_volumes,
)


@pytest.mark.parametrize("v0,v1,expected", [
    (30.0, 36.0, False),      # exactly +6 mL (20 %): not expansion (strict >)
    (30.0, 36.01, True),      # just over 6 mL
    (10.0, 13.3, False),      # exactly +33 % (3.3 mL): not expansion
    (10.0, 13.31, True),      # just over 33 %
    (3.0, 3.99, False),       # 33 % computed in floating point (0.32999…) stays negative
    (50.0, 50.0, False),
    (50.0, 45.0, False),      # shrinkage
])
def test_conventional_boundaries(v0, v1, expected):
    assert label_from_volumes(v0, v1).labels["conventional"] is expected


@pytest.mark.parametrize("v0,v1,expected", [
    (50.0, 62.5, False),      # exactly +12.5 mL (25 %)
    (50.0, 62.51, True),
    (50.0, 58.0, False),      # +8 mL: conventional yes, large no
    (20.0, 26.61, True),      # +33.05 %: relative criterion
    (20.0, 26.6, False),      # exactly +33 %
])
def test_large_boundaries(v0, v1, expected):
    g = label_from_volumes(v0, v1)
    assert g.labels["large"] is expected
    if v1 - v0 == 8.0:
        assert g.labels["conventional"] is True


@pytest.mark.parametrize("ivh0,ivh1,expected", [
    (2.0, 3.0, True),     # IVH growth exactly 1 mL: expansion (≥)
    (2.0, 2.99, False),
    (0.0, 0.05, True),    # new IVH, however small
    (0.0, 0.0, False),
    (3.0, 2.0, False),
])
def test_revised_ivh_boundaries(ivh0, ivh1, expected):
    g = label_from_volumes(20.0, 21.0, ivh0, ivh1)  # IPH: +1 mL, 5 %: not conventional
    assert g.labels["conventional"] is False
    assert g.labels["revised"] is expected
    assert g.new_ivh is (ivh0 == 0 and ivh1 > 0)


@pytest.mark.parametrize("ivh0,ivh1,new", [
    (0.09, 2.0, True),    # a baseline speck below the minimum does not hide a new IVH
    (0.0, 0.09, False),   # nor does a follow-up speck make one
    (0.0, IVH_PRESENT_MIN_ML, True),
    (IVH_PRESENT_MIN_ML, 2.0, False),
])
def test_ivh_present_minimum_for_automatic_masks(ivh0, ivh1, new):
    g = label_from_volumes(20.0, 21.0, ivh0, ivh1, min_ivh_ml=IVH_PRESENT_MIN_ML)
    assert g.new_ivh is new and g.labels["revised1"] is new
    assert label_from_volumes(20.0, 21.0, ivh0, ivh1).new_ivh is (ivh0 == 0 and ivh1 > 0)  # drawn masks: any


def test_revised_includes_conventional_and_figures():
    g = label_from_volumes(10.0, 20.0, 1.0, 1.0)
    assert g.labels == {"conventional": True, "large": True, "revised1": True, "revised2": True, "revised": True}
    assert g.absolute_growth_ml == pytest.approx(10.0)
    assert g.relative_growth == pytest.approx(1.0)
    assert g.ivh_growth_ml == pytest.approx(0.0)


@pytest.mark.parametrize("v0,v1,ivh0,ivh1,rhe1,rhe2", [
    (30.0, 36.0, 0.0, 0.0, True, True),      # exactly +6 mL: revised uses ≥ (Yogendrakumar 2020)
    (30.0, 35.99, 0.0, 0.0, False, False),
    (10.0, 13.3, 0.0, 0.0, True, True),      # exactly +33 %
    (10.0, 13.29, 0.0, 0.0, False, False),
    (20.0, 21.0, 0.0, 0.05, True, False),    # a small new IVH: RHE1 yes, RHE2 needs ≥ 1 mL
    (20.0, 21.0, 0.0, 1.0, True, True),      # new IVH of exactly 1 mL: both
    (20.0, 21.0, 2.0, 3.0, False, True),     # existing IVH grows exactly 1 mL: RHE2 only
    (20.0, 21.0, 2.0, 2.99, False, False),
])
def test_revised1_and_revised2_boundaries(v0, v1, ivh0, ivh1, rhe1, rhe2):
    g = label_from_volumes(v0, v1, ivh0, ivh1)
    assert (g.labels["revised1"], g.labels["revised2"]) == (rhe1, rhe2)


def test_conventional_and_revised_differ_only_at_the_inequality():
    g = label_from_volumes(30.0, 36.0)  # +6 mL exactly, 20 %
    assert g.labels["conventional"] is False and g.labels["revised1"] is True
    assert g.labels["revised"] is False  # the legacy hybrid keeps the conventional > 6 mL


def test_zero_baseline_relative_undefined():
    g = label_from_volumes(0.0, 5.0)
    assert g.relative_growth is None
    assert g.labels["conventional"] is False  # 5 mL ≤ 6 mL, relative undefined
    assert label_from_volumes(0.0, 7.0).labels["conventional"] is True


def test_bad_inputs():
    with pytest.raises(HematomaExpansionError):
        label_from_volumes(-1.0, 2.0)
    with pytest.raises(HematomaExpansionError):
        label_from_volumes(10.0, 20.0).label("huge")


def test_masks_with_different_grids():
    base = np.zeros((10, 20, 20), np.uint8)
    base.reshape(-1)[:10_000] = 1          # 10 000 voxels × 1 mm³ = 10 mL IPH
    fu = np.zeros((10, 20, 20), np.uint8)
    fu.reshape(-1)[:1_700] = 1             # 1 700 voxels × 8 mm³ = 13.6 mL IPH (+36 %)
    fu.reshape(-1)[1_700:1_800] = 2        # 0.8 mL new IVH
    g = label_from_masks(base, (1, 1, 1), fu, (2, 2, 2))
    assert g.baseline_iph_ml == pytest.approx(4.0)  # only 4000 voxels fit the 10×20×20 grid
    base2 = np.zeros((20, 25, 20), np.uint8)
    base2.reshape(-1)[:10_000] = 1
    g = label_from_masks(base2, (1, 1, 1), fu, (2, 2, 2))
    assert g.baseline_iph_ml == pytest.approx(10.0)
    assert g.followup_iph_ml == pytest.approx(13.6)
    assert g.followup_ivh_ml == pytest.approx(0.8)
    assert g.labels == {"conventional": True, "large": True, "revised1": True, "revised2": True, "revised": True}


def _write(arr, spacing, path):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))
    return path


def test_label_cli_prints_one_json_line(tmp_path, capsys):
    from HematomaExpansionLib.cli.main import main

    base = np.zeros((40, 25, 20), np.uint8)
    base.reshape(-1)[:10_000] = 1
    fu = base.copy()
    fu.reshape(-1)[10_000:16_000] = 1      # +6 mL exactly, +60 %
    m0 = _write(base, (1.0, 1.0, 1.0), tmp_path / "m0.nii.gz")
    m1 = _write(fu, (1.0, 1.0, 1.0), tmp_path / "m1.nii.gz")
    assert main(["label", "--baseline", str(m0), "--followup", str(m1), "--definition", "large"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    d = json.loads(out[0])
    for key in ("absolute_growth_ml", "relative_growth", "ivh_growth_ml", "definition", "label"):
        assert key in d
    assert d["absolute_growth_ml"] == pytest.approx(6.0)
    assert d["relative_growth"] == pytest.approx(0.6)
    assert d["definition"] == "large" and d["label"] is True  # relative > 33 %
    assert label_from_files(m0, m1).labels["conventional"] is True


def test_label_cli_without_definition_prints_every_label(tmp_path, capsys):
    from HematomaExpansionLib.cli.main import main

    base = np.zeros((40, 25, 20), np.uint8)
    base.reshape(-1)[:10_000] = 1
    fu = base.copy()
    fu.reshape(-1)[10_000:16_000] = 1      # +6 mL exactly
    fu.reshape(-1)[16_000:16_100] = 2      # 0.1 mL new IVH
    m0 = _write(base, (1.0, 1.0, 1.0), tmp_path / "m0.nii.gz")
    m1 = _write(fu, (1.0, 1.0, 1.0), tmp_path / "m1.nii.gz")
    assert main(["label", "--baseline", str(m0), "--followup", str(m1)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert "label" not in d and "definition" not in d
    assert d["labels"] == {"conventional": True, "large": True, "revised1": True, "revised2": True, "revised": True}
    assert set(d["definitions"]) == set(d["labels"]) and "≥ 1 mL" in d["definitions"]["revised2"]


def test_label_cli_user_errors(tmp_path, capsys):
    from HematomaExpansionLib.cli.main import main

    rc = main(["label", "--baseline", str(tmp_path / "missing.nii.gz"), "--followup", str(tmp_path / "x.nii.gz")])
    assert rc != 0
    assert "not found" in capsys.readouterr().err
    (tmp_path / "text.nii.gz").write_text("not an image")
    rc = main(["label", "--baseline", str(tmp_path / "text.nii.gz"), "--followup", str(tmp_path / "text.nii.gz")])
    assert rc != 0
