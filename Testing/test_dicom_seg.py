"""DICOM SEG output: written with highdicom against a generated CT series, read back exactly."""

from __future__ import annotations

import sys

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom_fixtures import write_dicom_series
from pydicom.sr.codedict import codes

from HematomaExpansionLib.core.errors import HematomaExpansionError
from HematomaExpansionLib.io.ct_files import read_ct
from HematomaExpansionLib.outputs.dicom_seg import SEGMENTS, read_dicom_seg_labels, series_files, write_dicom_seg

try:
    import highdicom  # noqa: F401

    HAVE_HIGHDICOM = True
except ImportError:
    HAVE_HIGHDICOM = False

needs_highdicom = pytest.mark.skipif(not HAVE_HIGHDICOM, reason="highdicom is not installed (pip install highdicom)")


@pytest.fixture(scope="module")
def series(tmp_path_factory, small_sample_case):
    ct, labels, _ = small_sample_case
    folder = write_dicom_series(tmp_path_factory.mktemp("seg") / "ct", ct, reverse_names=True)
    read = read_ct(folder)
    # read_ct's grid is the generator's grid here (slices stacked along +z, same rows/columns)
    assert read.shape == ct.shape
    np.testing.assert_allclose(read.array, ct.array.clip(-1024, 3071), atol=0.5)
    return folder, read, labels.astype(np.uint8)


@needs_highdicom
def test_seg_written_with_codes_and_references(series, tmp_path):
    folder, ct, labels = series
    assert set(np.unique(labels)) == {0, 1, 2}
    out = write_dicom_seg(folder, labels, tmp_path / "out" / "seg.dcm", "1.2.3", "test model: phantom")
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG"
    assert ds.SegmentationType == "BINARY"
    src = pydicom.dcmread(series_files(folder)[0], stop_before_pixels=True)
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == src.SeriesInstanceUID
    assert ds.StudyInstanceUID == src.StudyInstanceUID and ds.FrameOfReferenceUID == src.FrameOfReferenceUID
    assert ds.PatientID == "TEST"
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID
    assert len(ds.SegmentSequence) == 2
    for item, (number, label, prop, region, _colour) in zip(ds.SegmentSequence, SEGMENTS):
        assert item.SegmentNumber == number and item.SegmentLabel == label
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        assert item.SegmentAlgorithmName == "HematomaExpansion"
        cat = item.SegmentedPropertyCategoryCodeSequence[0]
        assert (cat.CodeValue, cat.CodingSchemeDesignator) == ("49755003", "SCT")
        typ = item.SegmentedPropertyTypeCodeSequence[0]
        assert (typ.CodeValue, typ.CodingSchemeDesignator, typ.CodeMeaning) == prop
        anat = item.AnatomicRegionSequence[0]
        assert (anat.CodeValue, anat.CodingSchemeDesignator) == region[:2]
    # both "Hemorrhage" (SCT 50960005), told apart by the region: Brain (IPH), Cerebral ventricle (IVH)
    codes_used = {i.SegmentedPropertyTypeCodeSequence[0].CodeValue for i in ds.SegmentSequence}
    assert codes_used == {"50960005"}
    regions = [i.AnatomicRegionSequence[0].CodeValue for i in ds.SegmentSequence]
    assert regions == ["12738006", "35764002"]
    # algorithm identification: name, version, family "Artificial Intelligence"
    algo = ds.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algo.AlgorithmName == "HematomaExpansion" and algo.AlgorithmVersion == "1.2.3"
    family = algo.AlgorithmFamilyCodeSequence[0]
    assert (family.CodeValue, family.CodingSchemeDesignator) == (codes.DCM.ArtificialIntelligence.value, "DCM")
    assert ds.SoftwareVersions == "1.2.3"
    assert ds.ContentDescription == "test model: phantom"
    # only slices containing a segment are stored: one frame per (slice, segment present)
    expected_frames = sum(int((labels[k] == s).any()) for k in range(labels.shape[0]) for s in (1, 2))
    assert int(ds.NumberOfFrames) == expected_frames


@needs_highdicom
def test_seg_reads_back_exactly(series, tmp_path):
    folder, ct, labels = series
    out = write_dicom_seg(folder, labels, tmp_path / "seg.dcm", "0.1.0", "x")
    back = read_dicom_seg_labels(out, folder)
    assert back.shape == ct.shape
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, labels)


@needs_highdicom
def test_seg_frames_sit_at_the_right_slice_positions(series, tmp_path):
    """Each stored frame's position (and pixels) must match the CT slice it segments."""
    folder, ct, labels = series
    ds = pydicom.dcmread(write_dicom_seg(folder, labels, tmp_path / "seg.dcm", "1", "x"))
    frames = ds.pixel_array.reshape(int(ds.NumberOfFrames), ds.Rows, ds.Columns)
    uid_to_k = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): k for k, f in enumerate(series_files(folder))}
    seen = np.zeros_like(labels)
    for frame, item in zip(frames, ds.PerFrameFunctionalGroupsSequence):
        z = float(item.PlanePositionSequence[0].ImagePositionPatient[2])
        k = int(round((z - ct.origin[2]) / ct.spacing[2]))
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        source_uid = str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        assert uid_to_k[source_uid] == k
        np.testing.assert_array_equal(frame.astype(bool), labels[k] == number)
        seen[k][frame.astype(bool)] = number
    np.testing.assert_array_equal(seen, labels)


@needs_highdicom
@pytest.mark.parametrize("keep", [1, 2])
def test_one_segment_only_round_trips(series, tmp_path, keep):
    folder, _, labels = series
    one = np.where(labels == keep, keep, 0).astype(np.uint8)
    out = write_dicom_seg(folder, one, tmp_path / "seg.dcm", "1", "x")
    assert len(pydicom.dcmread(out).SegmentSequence) == 2  # both segments are always described
    np.testing.assert_array_equal(read_dicom_seg_labels(out, folder), one)


@needs_highdicom
def test_empty_mask_round_trips(series, tmp_path):
    folder, ct, _ = series
    empty = np.zeros(ct.shape, np.uint8)
    out = write_dicom_seg(folder, empty, tmp_path / "empty.dcm", "0.1.0", "x")
    np.testing.assert_array_equal(read_dicom_seg_labels(out, folder), empty)


@needs_highdicom
def test_wrong_grid_and_values_refused(series, tmp_path):
    folder, ct, labels = series
    with pytest.raises(HematomaExpansionError, match="shape"):
        write_dicom_seg(folder, labels[:-1], tmp_path / "s.dcm", "1", "x")
    bad = labels.copy()
    bad[0, 0, 0] = 7
    with pytest.raises(HematomaExpansionError, match="7"):
        write_dicom_seg(folder, bad, tmp_path / "s.dcm", "1", "x")


def test_not_a_dicom_series_refused(tmp_path, small_sample_case):
    _, labels, _ = small_sample_case
    nifti = tmp_path / "ct.nii.gz"
    nifti.write_bytes(b"not really")
    with pytest.raises(HematomaExpansionError, match="DICOM"):
        write_dicom_seg(nifti, labels, tmp_path / "s.dcm", "1", "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HematomaExpansionError, match="no DICOM series"):
        write_dicom_seg(tmp_path / "empty", labels, tmp_path / "s.dcm", "1", "x")


@needs_highdicom
def test_seg_of_another_series_refused(series, tmp_path, small_sample_case):
    folder, ct, labels = series
    out = write_dicom_seg(folder, labels, tmp_path / "seg.dcm", "1", "x")
    other = write_dicom_series(tmp_path / "other", small_sample_case[0])
    with pytest.raises(HematomaExpansionError, match="reference"):
        read_dicom_seg_labels(out, other)


def test_missing_highdicom_is_a_clear_error(series, tmp_path, monkeypatch):
    folder, _, labels = series
    monkeypatch.setitem(sys.modules, "highdicom", None)  # makes `import highdicom` fail
    with pytest.raises(HematomaExpansionError, match="pip install highdicom"):
        write_dicom_seg(folder, labels, tmp_path / "s.dcm", "1", "x")
    with pytest.raises(HematomaExpansionError, match="pip install highdicom"):
        read_dicom_seg_labels(tmp_path / "s.dcm", folder)


@needs_highdicom
def test_batch_dicom_seg_for_a_dicom_series(series, tmp_path):
    """`batch --dicom-seg`: the series' case folder gets seg.dcm, on the series grid, named in result.json."""
    import json

    from HematomaExpansionLib.cli.main import main

    folder = series[0]
    out = tmp_path / "results.csv"
    assert main(["batch", str(folder), "--output", str(out), "--dicom-seg", "--method", "classic", "--no-progress"]) == 0
    (case_dir,) = [d for d in (tmp_path / "results_cases").iterdir() if d.is_dir()]
    result = json.loads((case_dir / "result.json").read_text())
    assert result["outputs"]["dicom_seg"] == "seg.dcm"
    seg_labels = read_dicom_seg_labels(case_dir / "seg.dcm", folder)
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(case_dir / "mask.nii.gz")))
    np.testing.assert_array_equal(seg_labels, mask)
