"""A generated CT written as a DICOM series of single-frame files, for reader, batch and SEG tests."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from HematomaExpansionLib.core.ct_image import CTImage


def write_dicom_series(folder, ct: CTImage, modality: str = "CT", tilt_mm_per_slice: float = 0.0, skip: int | None = None,
                       reverse_names: bool = False):
    """``ct`` as a series in ``folder`` (created). ``tilt_mm_per_slice`` shears the slice positions
    (gantry tilt), ``skip`` leaves one slice out, ``reverse_names`` names the files in the opposite
    order to slice position (so the reader's sort is what counts). The patient, study and frame of
    reference attributes are those a DICOM SEG copies."""
    folder.mkdir()
    series_uid, study_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    n = ct.shape[0]
    for k in range(n):
        if skip is not None and k == skip:
            continue
        name = folder / f"{(n - 1 - k) if reverse_names else k:03d}.dcm"
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage if modality == "CT" else MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = modality, series_uid, study_uid
        ds.FrameOfReferenceUID, ds.SeriesNumber, ds.StudyID = frame_uid, 3, "1"
        ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = "TEST", "Test^Phantom", "", "O"
        ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.ReferringPhysicianName = "20240101", "120000", "", ""
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, k * tilt_mm_per_slice, k * ct.spacing[2]]
        ds.PixelSpacing = [ct.spacing[1], ct.spacing[0]]
        ds.SliceThickness = ct.spacing[2]
        ds.Rows, ds.Columns = ct.shape[1], ct.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = (ct.array[k] + 1024).clip(0, 4095).astype(np.uint16).tobytes()
        ds.save_as(str(name), enforce_file_format=True)
    return folder
