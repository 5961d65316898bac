"""Many scans, resumable: one folder of outputs per case plus a results table (CSV, JSON, HTML).

Every case gets a row and a status: ``ok`` (scored), ``no_hemorrhage`` (a normal scan: volume 0,
no probability, its outputs written), ``too_small`` (below the scorable volume) or ``error``
(with the message; one bad case never stops the others).

Resume: a case is done when its folder holds a result.json or error.json whose fingerprint
matches: the input's files (names, sizes, times), its mask and clinical values, the options and
the sha256 of every model in the manifest. Re-running redoes only what changed; failed cases are
redone only with ``retry_failed``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import SimpleITK as sitk
from tqdm import tqdm

from .. import __version__
from ..core import model_registry
from ..core.errors import HematomaExpansionError, ModelError
from ..core.hashing import sha256_text
from ..expansion.predictor import ExpansionPredictor
from ..features import ct_cache
from ..io.ct_files import read_ct
from ..io.masks import read_mask
from ..outputs.batch_summary import write_batch_summary, write_case_thumbnail
from ..outputs.case_outputs import write_case_outputs
from ..outputs.dicom_seg import write_dicom_seg
from ..segmentation.dispatch import describe_method
from .batch_inputs import BatchCase
from .executors import run_jobs
from .run_case import run_pipeline

log = logging.getLogger(__name__)

SUMMARY_EVERY_S = 30.0  # results.html (histograms, thumbnails) is rewritten at most this often during a run

CSV_COLUMNS = [
    "case_id", "input", "status", "error", "volume_ml", "iph_volume_ml", "ivh_volume_ml", "abc2_ml",
    "he_probability", "risk_band", "definition", "model_id", "model_version", "mask_source", "warnings", "seconds",
]


@dataclass
class BatchOptions:
    definition: str | None = None
    seg_method: str = "auto"
    models_dir: str | None = None
    clinical: dict[str, Any] = field(default_factory=dict)  # for every case; a case table's cells win
    score: bool = True  # False: segment and measure only (no expansion model is loaded)
    dicom_seg: bool = False  # also write seg.dcm (DICOM Segmentation) for DICOM-series inputs

    def fingerprint(self) -> str:
        return json.dumps({"definition": self.definition, "seg_method": self.seg_method, "models_dir": self.models_dir,
                           "clinical": self.clinical, "score": self.score, "dicom_seg": self.dicom_seg}, sort_keys=True)

    def model_key(self) -> tuple[str | None, str | None]:
        return self.definition, self.models_dir


def models_fingerprint(options: BatchOptions) -> str:
    """The models that can touch a result: every manifest entry's sha256 (and extra files') plus the
    segmentation method's description (version, threshold, post-processing)."""
    try:
        manifest = model_registry.read_manifest(options.models_dir, required=False)
    except ModelError:
        manifest = {"models": {}}
    shas = {mid: [e.get("sha256"), [x.get("sha256") for x in e.get("extra_files", [])]]
            for mid, e in sorted(manifest["models"].items())}
    return json.dumps({"models": shas, "segmentation": describe_method(options.seg_method)}, sort_keys=True)


def _file_stats(path: Path) -> list:
    if path.is_dir():
        return sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in path.iterdir() if f.is_file())
    st = path.stat()
    return [(path.name, st.st_size, st.st_mtime_ns)]


def case_fingerprint(case: BatchCase, options: BatchOptions, models: str) -> str:
    inputs = [str(case.path.resolve()), _file_stats(case.path) if case.path.exists() else "missing"]
    if case.mask is not None:
        inputs.append(_file_stats(case.mask) if case.mask.exists() else f"missing mask {case.mask}")
    return sha256_text(json.dumps([inputs, case.clinical, options.fingerprint(), models], sort_keys=True, default=str))


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


def _init_worker(options: BatchOptions, threads: int | None) -> None:
    """A worker process: share the cores between workers (``threads`` each), then load the model once."""
    if threads:
        import torch  # heavy; the segmenter and the CNN run on it

        torch.set_num_threads(threads)
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    _predictor(options)


def _row_values(doc: dict[str, Any]) -> dict[str, Any]:
    """The CSV columns of a case's result.json (warnings joined into one cell)."""
    row = {k: doc.get(k) for k in CSV_COLUMNS if k in doc}
    if isinstance(row.get("warnings"), list):
        row["warnings"] = "; ".join(row["warnings"])
    return row


def _write_dicom_seg(case: BatchCase, labels, case_dir: Path, mask_source: str) -> str | None:
    if not case.path.is_dir():
        return None  # DICOM SEG references a DICOM series; volume files get mask.nii.gz only
    write_dicom_seg(case.path, labels, case_dir / "seg.dcm", __version__, mask_source)
    return "seg.dcm"


def run_case(job: tuple[BatchCase, Path, str], options: BatchOptions) -> dict[str, Any]:
    """Process one case; never raises (errors are returned as a row)."""
    case, case_dir, fingerprint = job
    t0 = time.perf_counter()
    row: dict[str, Any] = {"case_id": case_dir.name, "input": str(case.path)}
    try:
        predictor = _predictor(options)
        ct = read_ct(case.path)
        mask = read_mask(case.mask, ct) if case.mask is not None else None
        prediction = run_pipeline(ct, mask=mask, clinical={**options.clinical, **case.clinical},
                                  seg_method=options.seg_method, definition=options.definition, predictor=predictor,
                                  score=options.score, require_hemorrhage=False)
        ct_cache.clear()  # every case is a new CT: its cached copy would only hold memory (315 MB per thin-slice scan)
        paths = write_case_outputs(ct, prediction, case_dir)
        write_case_thumbnail(ct, prediction.mask, case_dir)
        doc = json.loads(paths["result"].read_text())
        if options.dicom_seg:
            seg = _write_dicom_seg(case, prediction.mask, case_dir, prediction.mask_source)
            if seg:
                doc.setdefault("outputs", {})["dicom_seg"] = seg
        doc["fingerprint"] = fingerprint
        paths["result"].write_text(json.dumps(doc, indent=2))
        (case_dir / "error.json").unlink(missing_ok=True)
        row.update(_row_values(doc), error="")
    except HematomaExpansionError as exc:
        row.update(status="error", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a batch must survive any single case
        log.exception("case %s failed", case.path)
        row.update(status="error", error=f"internal error: {type(exc).__name__}: {exc}")
    row["seconds"] = round(time.perf_counter() - t0, 2)
    if row["status"] == "error":
        case_dir.mkdir(parents=True, exist_ok=True)
        (case_dir / "result.json").unlink(missing_ok=True)
        (case_dir / "error.json").write_text(json.dumps(row | {"fingerprint": fingerprint}, indent=2))
    return row


def finished_row(case_dir: Path, fingerprint: str, retry_failed: bool = False) -> dict[str, Any] | None:
    """The row of a case already done with this fingerprint (a failure too, unless ``retry_failed``)."""
    for name in ("result.json", "error.json"):
        path = case_dir / name
        if not path.exists() or (name == "error.json" and retry_failed):
            continue
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if doc.get("fingerprint") != fingerprint:
            continue
        if name == "error.json":
            return {k: doc.get(k) for k in CSV_COLUMNS if k in doc} | {"seconds": 0.0}
        return _row_values(doc) | {"case_id": case_dir.name, "input": doc.get("source"), "error": "", "seconds": 0.0,
                                   "status": doc.get("status", "ok")}
    return None


def run_batch(inputs: list[Path | BatchCase], output_csv: Path, options: BatchOptions, workers: int = 1,
              cases_dir: Path | None = None, progress: bool = True, retry_failed: bool = False,
              executor: str = "local", scheduler: str | None = None) -> list[dict[str, Any]]:
    """Run every case not already done; write results.csv/.json/.html; return the rows in input order."""
    cases = [c if isinstance(c, BatchCase) else BatchCase(Path(c)) for c in inputs]
    output_csv = Path(output_csv)
    cases_dir = cases_dir or output_csv.with_name(output_csv.stem + "_cases")
    cases_dir.mkdir(parents=True, exist_ok=True)
    models = models_fingerprint(options)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[tuple[BatchCase, Path, str]] = []
    for case in cases:
        case_dir = cases_dir / case.case_id
        fp = case_fingerprint(case, options, models)
        done = finished_row(case_dir, fp, retry_failed)
        if done is not None:
            rows[case_dir.name] = done
        else:
            todo.append((case, case_dir, fp))
    if rows:
        log.warning("resuming: %d of %d cases already done", len(rows), len(cases))
    if todo and options.score:
        _predictor(options)  # a missing or corrupt model stops the batch before any case runs
    bar = tqdm(total=len(todo), desc="cases", unit="scan", disable=not progress)
    # parallel workers on this machine share its cores; a remote cluster's workers keep their own settings
    threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 and scheduler is None else None
    last_summary = time.monotonic()
    for row in run_jobs(partial(run_case, options=options), todo, workers, executor, scheduler,
                        initializer=_init_worker, initargs=(options, threads)):
        rows[row["case_id"]] = row
        bar.update(1)
        # the tables after every case (progress survives an interruption); the HTML summary now and then
        summary_due = time.monotonic() - last_summary > SUMMARY_EVERY_S
        _write_tables(output_csv, cases, rows, cases_dir, summary=summary_due)
        last_summary = time.monotonic() if summary_due else last_summary
    bar.close()
    return _write_tables(output_csv, cases, rows, cases_dir)


def _table_columns(cases: list[BatchCase]) -> list[str]:
    extra = [k for c in cases for k in c.table_values if k not in CSV_COLUMNS]
    return CSV_COLUMNS + list(dict.fromkeys(extra))


def _write_tables(output_csv: Path, cases: list[BatchCase], rows: dict[str, dict[str, Any]],
                  cases_dir: Path, summary: bool = True) -> list[dict[str, Any]]:
    ordered = [rows[c.case_id] | c.table_values for c in cases if c.case_id in rows]
    columns = _table_columns(cases)
    output_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_csv.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in ordered:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    tmp.replace(output_csv)
    output_csv.with_suffix(".json").write_text(json.dumps(ordered, indent=2, default=str))
    if summary:
        write_batch_summary(ordered, cases_dir, output_csv.with_suffix(".html"), columns)
    return ordered
