"""Cases from Slicer's DICOM database (patients → studies → CT series) and where a loaded volume's DICOM
files are, for the DICOM SEG export.

``database`` is ``slicer.dicomDatabase`` (a ctkDICOMDatabase) in Slicer; any object with the same
methods works (``patients``, ``studiesForPatient``, ``seriesForStudy``, ``filesForSeries``,
``fieldForPatient``/``fieldForStudy``/``fieldForSeries``, ``fileValue``, ``fileForInstance``), so this is
tested without Slicer. A series is loaded with the core reader (the same checks and gantry-tilt
handling as the CLI) from a folder of links to its files, so its grid is the grid a DICOM SEG of it
is written on.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import HematomaExpansionError
from ..outputs.dicom_seg import series_files
from .logic import load_case

log = logging.getLogger(__name__)

SERIES_UID_ATTRIBUTE = "HematomaExpansion.DICOMSeriesUID"
SOURCE_PATH_ATTRIBUTE = "HematomaExpansion.SourcePath"
SLICER_INSTANCE_UIDS_ATTRIBUTE = "DICOM.instanceUIDs"  # set by Slicer's own DICOM loader
CASE_KEY_PREFIX = "dicom-series:"
TAGS = {"Modality": "0008,0060", "SeriesDescription": "0008,103e", "PatientName": "0010,0010", "PatientID": "0010,0020",
        "StudyDate": "0008,0020", "StudyDescription": "0008,1030", "SeriesNumber": "0020,0011"}


@dataclass(frozen=True)
class DicomSeries:
    """One series of the database, as the case list shows it."""

    series_uid: str
    patient_id: str
    patient_name: str
    study_uid: str
    study_date: str
    study_description: str
    series_description: str
    series_number: str
    modality: str
    files: tuple[str, ...]

    @property
    def case_key(self) -> str:
        """The case list's key of this series (case paths are file paths; series keys are prefixed)."""
        return CASE_KEY_PREFIX + self.series_uid

    @property
    def name(self) -> str:
        """A node name: patient and series, no UIDs."""
        who = self.patient_name.replace("^", " ").strip() or self.patient_id or "patient"
        what = self.series_description or f"series {self.series_number or '?'}"
        return f"{who} - {what}"

    @property
    def label(self) -> str:
        date = self.study_date
        if len(date) == 8 and date.isdigit():
            date = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        parts = [self.name, date, f"{len(self.files)} images"]
        return " | ".join(p for p in parts if p)


def _text(value: Any) -> str:
    return str(value or "").strip()


def _series_field(database: Any, series_uid: str, files: list[str], field: str) -> str:
    value = ""
    try:
        value = _text(database.fieldForSeries(field, series_uid))
    except Exception:  # noqa: BLE001 - older databases lack a column: read the first file instead
        value = ""
    if not value and files:
        value = _text(database.fileValue(files[0], TAGS[field]))
    return value


def list_series(database: Any, modalities: tuple[str, ...] | None = ("CT",)) -> list[DicomSeries]:
    """Every series of the database (only ``modalities``, when given), by patient, study date, series number."""
    if database is None or not getattr(database, "isOpen", True):
        raise HematomaExpansionError("the DICOM database is not open; import the scans in the DICOM module first")
    found = []
    for patient in database.patients():
        for study in database.studiesForPatient(patient):
            for series in database.seriesForStudy(study):
                files = [f for f in database.filesForSeries(series) if f]
                modality = _series_field(database, series, files, "Modality").upper()
                if modalities is not None and modality not in modalities:
                    continue
                first = files[0] if files else ""
                found.append(DicomSeries(
                    series_uid=str(series),
                    patient_id=_text(database.fileValue(first, TAGS["PatientID"])) if first else "",
                    patient_name=_text(database.fileValue(first, TAGS["PatientName"])) if first else "",
                    study_uid=str(study),
                    study_date=_text(database.fileValue(first, TAGS["StudyDate"])) if first else "",
                    study_description=_text(database.fileValue(first, TAGS["StudyDescription"])) if first else "",
                    series_description=_series_field(database, series, files, "SeriesDescription"),
                    series_number=_series_field(database, series, files, "SeriesNumber"),
                    modality=modality, files=tuple(files)))
    return sorted(found, key=lambda s: (s.patient_name, s.patient_id, s.study_date, s.study_uid, _number(s.series_number)))


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")


def link_series_files(files: list[str] | tuple[str, ...], folder: Path) -> Path:
    """A folder holding only these files (symbolic links; copies where links are not allowed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, source in enumerate(files):
        target = folder / f"{i:05d}_{Path(source).name}"
        if target.exists():
            continue
        try:
            os.symlink(os.path.abspath(source), target)
        except OSError:  # e.g. Windows without the privilege
            shutil.copy2(source, target)
    return folder


def load_series(series: DicomSeries, work_dir: Path, scene: Any = None) -> Any:
    """Load a database series into a volume node (core reader), tagged with its series UID."""
    if not series.files:
        raise HematomaExpansionError(f"{series.label}: the database lists no files for this series")
    folder = link_series_files(series.files, Path(work_dir) / series.series_uid)
    node = load_case(folder, scene)
    node.SetName(series.name)
    node.SetAttribute(SERIES_UID_ATTRIBUTE, series.series_uid)
    node.SetAttribute(SOURCE_PATH_ATTRIBUTE, str(folder))
    return node


def load_path(path: str | Path, scene: Any = None) -> Any:
    """Load a CT file or DICOM folder (``logic.load_case``), remembering where it came from."""
    node = load_case(path, scene)
    node.SetAttribute(SOURCE_PATH_ATTRIBUTE, str(Path(path).resolve()))
    return node


def dicom_files_of(volume_node: Any, database: Any = None) -> list[str] | None:
    """The DICOM files a volume was read from, in any order; None when it was not read from DICOM.

    Looks at, in turn: the series UID this module recorded (files from ``database``), the instance UIDs
    Slicer's DICOM loader records, and the source folder when it holds a DICOM series.
    """
    if volume_node is None:
        return None
    series_uid = volume_node.GetAttribute(SERIES_UID_ATTRIBUTE)
    if series_uid and database is not None:
        files = [f for f in database.filesForSeries(series_uid) if f]
        if files:
            return files
    instance_uids = (volume_node.GetAttribute(SLICER_INSTANCE_UIDS_ATTRIBUTE) or "").split()
    if instance_uids and database is not None:
        files = [database.fileForInstance(uid) for uid in instance_uids]
        if all(files):
            return files
    source = volume_node.GetAttribute(SOURCE_PATH_ATTRIBUTE)
    if source and Path(source).is_dir():
        try:
            return series_files(Path(source))
        except HematomaExpansionError:
            return None
    return None
