"""Many scans, resumable: one folder of outputs per case plus a results table (CSV, JSON, HTML).

A case is done when its folder holds a result.json whose fingerprint (input size/mtime, mask,
model, definition, options) matches; re-running skips those and retries failures. A failing
case is recorded with its error and never stops the others.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import logging
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..core.errors import HematomaExpansionError, InputNotFoundError
from ..expansion.predictor import ExpansionPredictor
from ..io.ct_files import VOLUME_SUFFIXES, is_volume_file, read_ct
from ..outputs.case_outputs import write_case_outputs
from ..pipeline.run_case import run_pipeline

log = logging.getLogger(__name__)

CSV_COLUMNS = [
    "case_id", "input", "status", "error", "volume_ml", "iph_volume_ml", "ivh_volume_ml", "abc2_ml",
    "he_probability", "risk_band", "definition", "model_id", "model_version", "mask_source", "warnings", "seconds",
]


@dataclass
class BatchOptions:
    definition: str | None = None
    seg_method: str = "auto"
    models_dir: str | None = None
    clinical: dict[str, Any] = field(default_factory=dict)
    score: bool = True  # False: segment and measure only (no expansion model is loaded)

    def fingerprint(self) -> str:
        return json.dumps({"definition": self.definition, "seg_method": self.seg_method,
                           "models_dir": self.models_dir, "clinical": self.clinical, "score": self.score},
                          sort_keys=True)

    def model_key(self) -> tuple[str | None, str | None]:
        return self.definition, self.models_dir


def collect_inputs(items: list[str]) -> list[Path]:
    """Volume files, DICOM series folders, folders of volumes, or .txt/.csv lists of paths.

    Missing paths are kept: the batch records them as failed cases instead of stopping."""
    found: list[Path] = []
    for item in items:
        p = Path(item)
        if not p.exists():
            found.append(p)  # recorded as a failed case ("no such file"), never stops the batch
        elif p.is_file() and p.suffix.lower() in (".txt", ".csv", ".lst"):
            found += _paths_from_list(p)
        elif p.is_dir():
            found += _cases_in_folder(p)
        else:
            found.append(p)
    unique = list(dict.fromkeys(found))
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


def _paths_from_list(list_file: Path) -> list[Path]:
    text = list_file.read_text().splitlines()
    paths = []
    for line in text:
        first = line.split(",")[0].strip()
        if not first or first.startswith("#") or first.lower() in ("path", "ct", "input", "baseline_ct"):
            continue
        p = Path(first)
        paths.append(p if p.is_absolute() else (list_file.parent / p))
    return paths


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
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{stem}-{digest}"


def input_fingerprint(path: Path, options: BatchOptions) -> str:
    if path.is_dir():
        stats = sorted((f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in path.iterdir() if f.is_file())
    else:
        st = path.stat()
        stats = [(path.name, st.st_size, int(st.st_mtime))]
    return hashlib.sha256(json.dumps([str(path.resolve()), stats, options.fingerprint()]).encode()).hexdigest()


# one loaded expansion model per process (worker), reused for every case with the same options
_worker_predictors: dict[tuple[str | None, str | None], Any] = {}


def _predictor(options: BatchOptions) -> Any:
    if not options.score:
        return None
    key = options.model_key()
    if key not in _worker_predictors:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        _worker_predictors[key] = ExpansionPredictor.load(
            models_dir=Path(options.models_dir) if options.models_dir else None, definition=options.definition)
    return _worker_predictors[key]


def _row_values(doc: dict[str, Any]) -> dict[str, Any]:
    """The CSV columns of a case's result.json (warnings joined into one cell)."""
    row = {k: doc.get(k) for k in CSV_COLUMNS if k in doc}
    if isinstance(row.get("warnings"), list):
        row["warnings"] = "; ".join(row["warnings"])
    return row


def run_case(path: Path, case_dir: Path, options: BatchOptions, fingerprint: str) -> dict[str, Any]:
    """Process one case; never raises (errors are returned as a row)."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"case_id": case_dir.name, "input": str(path)}
    try:
        predictor = _predictor(options)
        ct = read_ct(path)
        prediction = run_pipeline(ct, clinical=options.clinical, seg_method=options.seg_method,
                                  definition=options.definition, predictor=predictor, score=options.score)
        paths = write_case_outputs(ct, prediction, case_dir)
        doc = json.loads(paths["result"].read_text())
        doc["fingerprint"] = fingerprint
        paths["result"].write_text(json.dumps(doc, indent=2))
        row.update(_row_values(doc), status="ok", error="")
    except HematomaExpansionError as exc:
        row.update(status="error", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a batch must survive any single case
        log.exception("case %s failed", path)
        row.update(status="error", error=f"internal error: {type(exc).__name__}: {exc}")
    row["seconds"] = round(time.perf_counter() - t0, 2)
    if row["status"] == "error":
        case_dir.mkdir(parents=True, exist_ok=True)
        (case_dir / "error.json").write_text(json.dumps(row | {"fingerprint": fingerprint}, indent=2))
    return row


def finished_row(case_dir: Path, fingerprint: str) -> dict[str, Any] | None:
    result = case_dir / "result.json"
    if not result.exists():
        return None
    try:
        doc = json.loads(result.read_text())
    except json.JSONDecodeError:
        return None
    if doc.get("fingerprint") != fingerprint:
        return None
    row = _row_values(doc)
    row.update(case_id=case_dir.name, input=doc.get("source"), status="ok", error="", seconds=0.0)
    return row


def run_batch(inputs: list[Path], output_csv: Path, options: BatchOptions, workers: int = 1,
              cases_dir: Path | None = None, progress: bool = True) -> list[dict[str, Any]]:
    output_csv = Path(output_csv)
    cases_dir = cases_dir or output_csv.with_name(output_csv.stem + "_cases")
    cases_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[tuple[Path, Path, str]] = []
    for path in inputs:
        case_dir = cases_dir / case_id_for(path)
        fp = input_fingerprint(path, options) if path.exists() else "missing"
        done = finished_row(case_dir, fp)
        if done is not None:
            rows[case_dir.name] = done
        else:
            todo.append((path, case_dir, fp))
    if rows:
        log.warning("resuming: %d of %d cases already done", len(rows), len(inputs))
    bar = tqdm(total=len(todo), desc="cases", unit="scan", disable=not progress)
    if workers <= 1:
        for path, case_dir, fp in todo:
            row = run_case(path, case_dir, options, fp)
            rows[case_dir.name] = row
            bar.update(1)
            _write_tables(output_csv, inputs, rows, cases_dir)  # progress survives an interruption
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_predictor, initargs=(options,)) as pool:
            futures = {pool.submit(run_case, p, d, options, fp): d for p, d, fp in todo}
            for fut in as_completed(futures):
                row = fut.result()
                rows[futures[fut].name] = row
                bar.update(1)
                _write_tables(output_csv, inputs, rows, cases_dir)
    bar.close()
    return _write_tables(output_csv, inputs, rows, cases_dir)


def _write_tables(output_csv: Path, inputs: list[Path], rows: dict[str, dict[str, Any]], cases_dir: Path) -> list[dict[str, Any]]:
    ordered = [rows[c] for c in (case_id_for(p) for p in inputs) if c in rows]
    output_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_csv.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in ordered:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    tmp.replace(output_csv)
    output_csv.with_suffix(".json").write_text(json.dumps(ordered, indent=2, default=str))
    output_csv.with_suffix(".html").write_text(_summary_html(ordered, cases_dir, output_csv.parent))
    return ordered


def _summary_html(rows: list[dict[str, Any]], cases_dir: Path, base: Path) -> str:
    def cell(row: dict[str, Any], key: str) -> str:
        v = row.get(key)
        if key == "case_id" and row.get("status") == "ok":
            rel = os.path.relpath(cases_dir / str(v) / "report.html", base)
            return f'<a href="{html.escape(rel)}">{html.escape(str(v))}</a>'
        return html.escape("" if v is None else str(v))

    head = "".join(f"<th>{c}</th>" for c in CSV_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{cell(r, c)}</td>" for c in CSV_COLUMNS) + "</tr>" for r in rows)
    n_ok = sum(r.get("status") == "ok" for r in rows)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Batch results</title></head><body>"
            f"<h1>Batch results</h1><p>{n_ok} of {len(rows)} cases succeeded.</p>"
            f"<table border='1' cellpadding='3'><tr>{head}</tr>{body}</table></body></html>")
