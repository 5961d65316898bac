"""Reading and validating CT input: every bad input gets its own specific error."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from dicom_fixtures import write_dicom_series

from HematomaExpansionLib.core.ct_image import CTImage
from HematomaExpansionLib.core.errors import (
    GeometryError,
    InputNotFoundError,
    NotACTError,
    SegmentationError,
    UnreadableImageError,
)
from HematomaExpansionLib.io.ct_files import read_ct, write_labels
from HematomaExpansionLib.io.masks import read_mask


def _write(arr, path, spacing=(0.9, 0.9, 5.0)):
    img = sitk.GetImageFromArray(arr)
    if img.GetDimension() == 3:
        img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))
    return path


def test_reads_sample_and_keeps_geometry(sample_case, tmp_path):
    ct, _, _ = sample_case
    path = tmp_path / "ct.nrrd"
    sitk.WriteImage(ct.to_sitk(), str(path))
    back = read_ct(path)
    assert back.same_geometry(ct)
    np.testing.assert_array_equal(back.array, ct.array)


def test_missing_path():
    with pytest.raises(InputNotFoundError, match="no such file"):
        read_ct("/definitely/not/here.nii.gz")


def test_text_file(tmp_path):
    p = tmp_path / "notes.nii.gz"
    p.write_text("this is not an image")
    with pytest.raises(UnreadableImageError, match="not a readable image"):
        read_ct(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.nii.gz"
    p.write_bytes(b"")
    with pytest.raises(UnreadableImageError, match="empty"):
        read_ct(p)


def test_empty_folder(tmp_path):
    with pytest.raises(InputNotFoundError, match="empty"):
        read_ct(tmp_path)


def test_folder_without_dicom(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(UnreadableImageError, match="no DICOM series"):
        read_ct(tmp_path)


def test_2d_image(tmp_path):
    p = _write(np.zeros((64, 64), np.int16), tmp_path / "slice.nii.gz")
    with pytest.raises(GeometryError, match="2D"):
        read_ct(p)


def test_single_slice_volume(tmp_path, sample_case):
    ct, _, _ = sample_case
    p = _write(ct.array[10:11].astype(np.int16), tmp_path / "one.nii.gz")
    with pytest.raises(GeometryError, match="single slice"):
        read_ct(p)


def test_4d_image(tmp_path):
    img = sitk.JoinSeries([sitk.GetImageFromArray(np.zeros((10, 32, 32), np.int16))] * 3)
    p = tmp_path / "perfusion.nii.gz"
    sitk.WriteImage(img, str(p))
    with pytest.raises(GeometryError, match="4D image with 3 volumes"):
        read_ct(p)


def test_mr_like_image(tmp_path, rng):
    arr = (rng.random((24, 64, 64)) * 800 + 100).astype(np.int16)
    arr[:, :8] = 0
    p = _write(arr, tmp_path / "t1.nii.gz")
    with pytest.raises(NotACTError, match="MR"):
        read_ct(p)


def test_raw_ct_numbers_without_rescale(tmp_path, sample_case):
    ct, _, _ = sample_case
    p = _write((ct.array + 1024).astype(np.uint16), tmp_path / "raw.nii.gz")
    with pytest.raises(NotACTError, match="rescale intercept"):
        read_ct(p)


def test_normalised_image(tmp_path, sample_case):
    ct, _, _ = sample_case
    p = _write((ct.array / 3000).astype(np.float32), tmp_path / "norm.nii.gz")
    with pytest.raises(NotACTError, match="normalised"):
        read_ct(p)


def test_huge_spacing(tmp_path, sample_case):
    ct, _, _ = sample_case
    p = _write(ct.array.astype(np.int16), tmp_path / "cm.nii.gz", spacing=(9.0, 9.0, 50.0))
    with pytest.raises(GeometryError, match="too coarse"):
        read_ct(p)


def test_skull_stripped_ct_is_accepted(tmp_path, sample_case):
    ct, labels, _ = sample_case
    stripped = np.where((ct.array > -20) & (ct.array < 120), ct.array, 0).astype(np.int16)
    p = _write(stripped, tmp_path / "stripped.nii.gz")
    assert read_ct(p).metadata.get("skull_stripped") is True


def test_dicom_series_reads_in_hu(tmp_path, small_sample_case):
    ct, _, _ = small_sample_case
    back = read_ct(write_dicom_series(tmp_path / "dcm", ct))
    assert back.shape == ct.shape
    np.testing.assert_allclose(back.array, ct.array.clip(-1024, 3071), atol=0.5)
    assert back.metadata["modality"] == "CT"


def test_dicom_mr_modality_refused(tmp_path, small_sample_case):
    ct, _, _ = small_sample_case
    with pytest.raises(NotACTError, match="Modality is 'MR'"):
        read_ct(write_dicom_series(tmp_path / "dcm", ct, modality="MR"))


def _sphere_phantom(shape=(24, 96, 96), spacing=(1.0, 1.0, 4.0), center_mm=(48.0, 30.0, 52.0), radius_mm=10.0,
                    shift_y_per_slice_mm=0.0):
    """Brain-density head (skull-stripped) with a blood sphere at a known physical centre (LPS mm), sampled on the grid
    a tilted gantry acquires: slice k lies at (0, k·shift, k·spacing_z), rows along +y, columns along +x."""
    nz, ny, nx = shape
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    x, y, z = i * spacing[0], j * spacing[1] + k * shift_y_per_slice_mm, k * spacing[2]
    head = ((x - 48) / 44) ** 2 + ((y - 48) / 44) ** 2 < 1
    sphere = (x - center_mm[0]) ** 2 + (y - center_mm[1]) ** 2 + (z - center_mm[2]) ** 2 < radius_mm ** 2
    hu = np.where(head, 35.0, -1000.0)
    hu[sphere] = 70.0
    return CTImage(hu.astype(np.float32), spacing, (0.0, 0.0, 0.0))


def _blood_centroid_mm(ct: CTImage) -> np.ndarray:
    k, j, i = np.nonzero(ct.array > 60)  # the sphere (brain is 35 HU, air −1000)
    ijk = np.stack([i, j, k, np.ones_like(i)]).astype(float)
    return (ct.ijk_to_lps() @ ijk)[:3].mean(axis=1)


def test_dicom_gantry_tilt_is_corrected_onto_a_regular_grid(tmp_path):
    center = np.array([48.0, 30.0, 52.0])
    shift = 1.5  # mm per 4 mm slice: 20.6° of tilt
    tilted = _sphere_phantom(shift_y_per_slice_mm=shift)
    ct = read_ct(write_dicom_series(tmp_path / "dcm", tilted, tilt_mm_per_slice=shift))
    assert ct.metadata["gantry_tilt_corrected"] and ct.metadata["gantry_tilt_deg"] == pytest.approx(20.56, abs=0.05)
    assert ct.tilt_degrees() < 1e-6 and ct.spacing == pytest.approx((1.0, 1.0, 4.0))
    # the blood is where the scanner put it (the uncorrected stack puts it ~20 mm off along y)
    assert np.linalg.norm(_blood_centroid_mm(ct) - center) < 1.0
    naive = CTImage(tilted.array, (1.0, 1.0, 4.0), (0.0, 0.0, 0.0))
    assert np.linalg.norm(_blood_centroid_mm(naive) - center) > 15.0


def test_tilted_series_mask_lies_on_the_corrected_grid_and_the_outputs_say_so(tmp_path):
    from HematomaExpansionLib.outputs.case_outputs import write_case_outputs
    from HematomaExpansionLib.pipeline.run_case import run_pipeline

    shift = 1.5
    ct = read_ct(write_dicom_series(tmp_path / "dcm", _sphere_phantom(shift_y_per_slice_mm=shift), tilt_mm_per_slice=shift))
    blood = (ct.array > 60).astype(np.uint8)
    prediction = run_pipeline(ct, mask=blood, score=False)
    assert any("gantry tilt of 20.6° corrected" in w for w in prediction.warnings)
    paths = write_case_outputs(ct, prediction, tmp_path / "out")
    mask = sitk.ReadImage(str(paths["mask"]))
    assert np.allclose(mask.GetOrigin(), ct.origin) and np.allclose(mask.GetSpacing(), ct.spacing)
    assert "gantry tilt" in paths["result"].read_text()


def test_dicom_tilt_beyond_a_gantry_refused(tmp_path, small_sample_case):
    ct, _, _ = small_sample_case
    with pytest.raises(GeometryError, match="sheared by"):
        read_ct(write_dicom_series(tmp_path / "dcm", ct, tilt_mm_per_slice=8.0))  # 45° with 8 mm slices


def test_dicom_missing_slice_refused(tmp_path, small_sample_case):
    ct, _, _ = small_sample_case
    with pytest.raises(GeometryError, match="unequal slice spacing"):
        read_ct(write_dicom_series(tmp_path / "dcm", ct, skip=5))


def test_mask_round_trip_and_wrong_grid(tmp_path, small_sample_case):
    ct, labels, _ = small_sample_case
    p = write_labels(ct, labels, tmp_path / "mask.nii.gz")
    np.testing.assert_array_equal(read_mask(p, ct), labels)
    other = CTImage(np.zeros((20, 128, 128)), ct.spacing, (500.0, 500.0, 500.0))
    far = write_labels(other, labels, tmp_path / "far.nii.gz")
    from HematomaExpansionLib.core.errors import GeometryError as GE

    with pytest.raises(GE, match="does not overlap"):
        read_mask(far, ct)
    from HematomaExpansionLib.pipeline.run_case import validate_mask

    with pytest.raises(SegmentationError, match="does not match the CT grid"):
        validate_mask(ct, labels[:-1])


def test_real_ct_reads(mistie_ct_path):
    ct = read_ct(mistie_ct_path)
    assert ct.shape == (24, 512, 512)
    assert ct.canonical_spacing()[0] == pytest.approx(6.0)


# --- NIfTI data the reader would silently zero-fill ----------------------------------------------
def _nifti(ct, path, array=None, compress=True):
    img = sitk.GetImageFromArray((ct.array if array is None else array).astype(np.float32))
    img.CopyInformation(ct.to_sitk())
    sitk.WriteImage(img, str(path), compress)
    return path


def test_truncated_gzip_nifti_refused(tmp_path, small_sample_case):
    ct = small_sample_case[0]
    whole = _nifti(ct, tmp_path / "whole.nii.gz").read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(UnreadableImageError, match="ends early"):
        read_ct(cut)
    assert read_ct(tmp_path / "whole.nii.gz").same_geometry(ct)


def test_truncated_plain_nifti_refused_with_the_voxel_count(tmp_path, small_sample_case):
    ct = small_sample_case[0]
    whole = _nifti(ct, tmp_path / "whole.nii", compress=False).read_bytes()
    cut = tmp_path / "cut.nii"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UnreadableImageError, match=r"holds [\d,]+ of the [\d,]+ voxels"):
        read_ct(cut)


def test_nan_slice_refused(tmp_path, small_sample_case):
    ct = small_sample_case[0]
    array = ct.array.astype(np.float32).copy()
    array[array.shape[0] // 2] = np.nan
    with pytest.raises(UnreadableImageError, match=f"{array.shape[1] * array.shape[2]:,} voxels are NaN"):
        read_ct(_nifti(ct, tmp_path / "nan.nii.gz", array))
    array[array.shape[0] // 2] = np.inf
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "inf.nrrd"))
    with pytest.raises(NotACTError, match="NaN or infinite"):
        read_ct(tmp_path / "inf.nrrd")


def test_truncated_mask_refused(tmp_path, small_sample_case):
    ct, labels = small_sample_case[0], small_sample_case[1]
    path = write_labels(ct, labels, tmp_path / "mask.nii.gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImageError, match="ends early"):
        read_mask(path, ct)


def test_predict_refuses_a_truncated_scan_with_exit_status_2(tmp_path, small_sample_case, capsys):
    from HematomaExpansionLib.cli.main import main

    ct = small_sample_case[0]
    whole = _nifti(ct, tmp_path / "whole.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(whole[: len(whole) // 3])
    assert main(["predict", str(tmp_path / "cut.nii.gz"), "--output-dir", str(tmp_path / "out")]) == 2
    assert "ends early" in capsys.readouterr().err
    assert not (tmp_path / "out" / "result.json").exists()
