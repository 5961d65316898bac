"""Codes that name the segments (SNOMED CT, as ``(scheme, value, meaning)``), shared by the Slicer
segment terminology and the DICOM Segmentation export.

Both segments are "Hemorrhage" (SCT 50960005, the code DICOM's segmentation context groups and
3D Slicer's General Anatomy terminology list for blood) in the category "Morphologically Altered
Structure" (SCT 49755003; current DICOM spells it "Morphologically Abnormal Structure"); the
anatomic region tells them apart: Brain (SCT 12738006) for intraparenchymal and Cerebral ventricle
(SCT 35764002) for intraventricular hemorrhage. All four codes are in DICOM's code tables (PS3.16).
"""

from __future__ import annotations

from .results import LABEL_IPH, LABEL_IVH

HEMORRHAGE_CATEGORY = ("SCT", "49755003", "Morphologically Altered Structure")
HEMORRHAGE_TYPE = ("SCT", "50960005", "Hemorrhage")
ANATOMIC_REGIONS = {LABEL_IPH: ("SCT", "12738006", "Brain"), LABEL_IVH: ("SCT", "35764002", "Cerebral ventricle")}
