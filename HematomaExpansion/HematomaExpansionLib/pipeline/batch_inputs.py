"""What a batch runs on: scans from files, DICOM folders, folders of volumes, path lists, or a
case table (CSV with a header) that gives each scan its own mask, patient id and clinical values.

Case table columns (case-insensitive): ``ct`` (aliases ``baseline_ct``, ``path``, ``input``,
``image``; required), ``mask`` (optional: labels 1 = IPH, 2 = IVH on the CT's grid; empty =
segment), ``patient_id``, ``case_id`` (optional) and any clinical columns, named as
``predict --clinical`` accepts them (``onset_to_ct_h``, ``anticoagulation``, ...). Empty cells
are "not given" (never imputed). Relative paths are read from the table's folder. A CSV without
one of the ``ct`` headers is a plain list of paths (first column).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import HematomaExpansionError, InputNotFoundError
from ..features.clinical import parse_clinical
from ..io.ct_files import VOLUME_SUFFIXES, is_volume_file

LIST_SUFFIXES = (".txt", ".csv", ".lst")
CT_COLUMNS = ("ct", "baseline_ct", "path", "input", "image")
MASK_COLUMNS = ("mask", "baseline_mask")
ID_COLUMNS = ("patient_id", "case_id")


@dataclass
class BatchCase:
    """One scan of a batch and what the user gave with it."""

    path: Path
    mask: Path | None = None
    patient_id: str | None = None
    clinical: dict[str, Any] = field(default_factory=dict)
    table_values: dict[str, str] = field(default_factory=dict)  # the table's own cells, carried to the results

    @property
    def case_id(self) -> str:
        return case_id_for(self.path)


def case_stem(path: str | os.PathLike) -> str:
    """The scan's name without its image suffix (``case1.nii.gz`` → ``case1``; folders keep their name)."""
    name = Path(path).name
    for suffix in VOLUME_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def case_id_for(path: Path) -> str:
    """A unique, file-system-safe folder name for a case: its stem plus a hash of its full path."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", case_stem(path)) or "case"
    digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]
    return f"{stem}-{digest}"


def collect_inputs(items: list[str]) -> list[Path]:
    """The scan paths of ``items`` (see ``collect_cases``)."""
    return [case.path for case in collect_cases(items)]


def collect_cases(items: list[str]) -> list[BatchCase]:
    """Volume files, DICOM series folders, folders of volumes, .txt/.csv lists of paths, or case tables.

    Missing paths are kept: the batch records them as failed cases instead of stopping."""
    found: list[BatchCase] = []
    for item in items:
        p = Path(item)
        if not p.exists():
            found.append(BatchCase(p))  # recorded as a failed case ("no such file"), never stops the batch
        elif p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
            found += _cases_from_table(p) if _is_case_table(p) else [BatchCase(q) for q in _paths_from_list(p)]
        elif p.is_dir():
            found += [BatchCase(q) for q in _cases_in_folder(p)]
        else:
            found.append(BatchCase(p))
    unique = list({case.path: case for case in reversed(found)}.values())[::-1]  # first mention wins
    if not unique:
        raise InputNotFoundError("no input scans found")
    return unique


def _cases_in_folder(folder: Path) -> list[Path]:
    """Volume files in ``folder``, or ``folder`` itself when it holds other files (a DICOM series),
    then the same for each sub-folder."""
    files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
    volumes = [f for f in files if is_volume_file(f)]
    cases = volumes if volumes else ([folder] if files else [])
    for sub in sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")):
        cases += _cases_in_folder(sub)
    return cases


def _resolve(list_file: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else (list_file.parent / p)


def _paths_from_list(list_file: Path) -> list[Path]:
    paths = []
    for line in list_file.read_text().splitlines():
        first = line.split(",")[0].strip()
        if not first or first.startswith("#") or first.lower() in CT_COLUMNS:
            continue
        paths.append(_resolve(list_file, first))
    return paths


def _is_case_table(path: Path) -> bool:
    if path.suffix.lower() != ".csv":
        return False
    with path.open(newline="") as f:
        header = next(csv.reader(f), [])
    names = {h.strip().lower() for h in header}
    return bool(names & set(CT_COLUMNS)) and len(header) > 1


def _cases_from_table(table: Path) -> list[BatchCase]:
    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    cases = []
    for line, raw in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        ct = next((row[c] for c in CT_COLUMNS if row.get(c)), "")
        if not ct:
            raise HematomaExpansionError(f"{table}, line {line}: no CT path (column 'ct')")
        mask = next((row[c] for c in MASK_COLUMNS if row.get(c)), "")
        used = set(CT_COLUMNS) | set(MASK_COLUMNS) | set(ID_COLUMNS)
        clinical_cells = [f"{k}={v}" for k, v in row.items() if k and k not in used and v]
        try:
            clinical = parse_clinical(clinical_cells)
        except HematomaExpansionError as exc:
            raise HematomaExpansionError(f"{table}, line {line}: {exc}") from None
        cases.append(BatchCase(_resolve(table, ct), _resolve(table, mask) if mask else None,
                               row.get("patient_id") or None, clinical,
                               {k: v for k, v in row.items() if k and k not in CT_COLUMNS}))
    return cases
