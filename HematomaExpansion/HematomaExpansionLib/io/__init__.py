"""Reading and writing CT volumes and masks (NIfTI/NRRD/MHA/DICOM) and validating that a volume is a usable head CT."""
