"""CLI commands for the per-scan pipeline: segment, predict, batch, demo."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from ..core.ct_image import CTImage
from ..core.errors import HematomaExpansionError
from ..expansion.labels import DEFINITIONS
from ..features import ct_cache
from ..features.clinical import parse_clinical
from ..features.measurement import measure, scan_edge_warnings
from ..io.ct_files import read_ct, write_labels
from ..io.masks import read_mask
from ..outputs.batch_summary import status_counts
from ..outputs.case_outputs import write_case_outputs
from ..pipeline.batch import BatchOptions, run_batch
from ..pipeline.batch_inputs import collect_cases
from ..pipeline.executors import EXECUTORS
from ..pipeline.run_case import run_pipeline
from ..segmentation.calibration import calibration_warnings
from ..segmentation.dispatch import METHODS, resolve_method, segment, start_loading
from ..simulation.sample import make_sample_case


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="segment the hemorrhage (1 = IPH, 2 = IVH) on a CT",
                       description="Write a label map on the CT's exact grid and print a one-line JSON summary.")
    p.add_argument("ct", help="CT: NIfTI/NRRD/MHA file or DICOM series folder")
    p.add_argument("--output", "-o", required=True, help="output label map (.nii.gz, .nrrd)")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="auto (network when bundled, else classic), net, or classic (default: auto)")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("predict", help="segment, measure and predict expansion for one CT",
                       description="Writes DIR/result.json, DIR/mask.nii.gz, DIR/gradcam.nii.gz and DIR/report.html.")
    p.add_argument("ct", help="CT: NIfTI/NRRD/MHA file or DICOM series folder")
    p.add_argument("--mask", help="use this hemorrhage label map (on the CT's grid) instead of segmenting")
    p.add_argument("--clinical", nargs="*", default=[], metavar="KEY=VALUE",
                   help="clinical inputs, e.g. onset_to_ct_hours=2 anticoagulation=warfarin (see README)")
    p.add_argument("--definition", choices=DEFINITIONS, default=None,
                   help="expansion definition of the model to use (default: the bundled default model's)")
    p.add_argument("--method", choices=METHODS, default="auto", help="segmentation method when no --mask")
    p.add_argument("--models-dir", help="folder with manifest.json and model files (default: bundled models/)")
    p.add_argument("--output-dir", "-o", required=True, help="folder for the outputs (created)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("batch", help="run predict over many scans (resumable, CSV/JSON/HTML)",
                       description="INPUTS: files, DICOM folders, folders of volumes, .txt/.csv lists of paths, or a "
                                   "case table (CSV with columns ct, and optionally mask, patient_id and clinical "
                                   "columns). Every scan gets a row with status ok, no_hemorrhage, too_small or error. "
                                   "Re-running skips every case whose input, options and models are unchanged "
                                   "(failures too, unless --retry-failed). Exit status 3 when some case errored.")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--output", "-o", required=True, help="results table (.csv); .json and .html are written beside it")
    p.add_argument("--cases-dir", help="per-case output folders (default: <output stem>_cases beside the table)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: this machine; dask: a Dask cluster (--scheduler ADDRESS, or a LocalCluster of --workers)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--retry-failed", action="store_true", help="redo cases that failed before (default: keep their error)")
    p.add_argument("--clinical", nargs="*", default=[], metavar="KEY=VALUE",
                   help="clinical inputs for every case (a case table's own columns take precedence)")
    p.add_argument("--dicom-seg", action="store_true",
                   help="also write seg.dcm, a DICOM Segmentation referencing the source series, for DICOM inputs")
    p.add_argument("--segment-only", action="store_true", help="segment and measure only; no expansion model")
    p.add_argument("--definition", choices=DEFINITIONS, default=None)
    p.add_argument("--method", choices=METHODS, default="auto")
    p.add_argument("--models-dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("demo", help="run the whole pipeline on a generated sample (needs nothing else)",
                       description="Generates a head CT with a known hematoma, runs predict on it and checks the volume.")
    p.add_argument("--output-dir", "-o", default="demo-output")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", choices=METHODS, default="auto")
    p.set_defaults(func=cmd_demo)


def _read_ct_loading_network(path: str | Path, method: str | None) -> CTImage:
    """``read_ct``, with ``method``'s segmentation network loading meanwhile (None: nothing is segmented).
    A read error comes first; a model error when the scan is read."""
    loading = start_loading(method) if method else None
    ct = read_ct(path)
    if loading is not None:
        loading.result()
    return ct


def cmd_segment(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    ct = _read_ct_loading_network(args.ct, args.method)
    labels = segment(ct, method=args.method)
    write_labels(ct, labels, args.output)
    m = measure(ct, labels)
    calibration = ct.metadata.get("density_calibration", {})
    print(json.dumps({
        "output": str(args.output), "method": resolve_method(args.method),
        "volume_ml": round(m.volume_ml, 3), "iph_volume_ml": round(m.iph_volume_ml, 3),
        "ivh_volume_ml": round(m.ivh_volume_ml, 3), "abc2_ml": round(m.abc2_ml, 3),
        "density_calibration": calibration,
        "warnings": calibration_warnings(calibration) + scan_edge_warnings(ct, labels),
        "seconds": round(time.perf_counter() - t0, 2),
    }))
    return 0


def run_predict(ct_path: str | Path, output_dir: str | Path, mask_path: str | None = None,
                clinical: dict[str, Any] | None = None, definition: str | None = None,
                method: str = "auto", models_dir: str | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    ct = _read_ct_loading_network(ct_path, None if mask_path else method)
    mask = read_mask(mask_path, ct) if mask_path else None
    prediction = run_pipeline(ct, mask=mask, clinical=clinical, seg_method=method, definition=definition,
                              models_dir=Path(models_dir) if models_dir else None)
    prediction.timings["total"] = time.perf_counter() - t0
    ct_cache.clear()  # nothing re-scores this CT: its cached copy (315 MB for a 512×512×300 scan) goes before the outputs
    paths = write_case_outputs(ct, prediction, output_dir)
    return json.loads(paths["result"].read_text())


def cmd_predict(args: argparse.Namespace) -> int:
    result = run_predict(args.ct, args.output_dir, args.mask, parse_clinical(args.clinical), args.definition,
                         args.method, args.models_dir)
    summary = {k: result.get(k) for k in ("volume_ml", "ivh_volume_ml", "abc2_ml", "he_probability",
                                          "risk_band", "definition", "model_id", "model_version")}
    # which classifier ran: image + clinical, or image-only because a clinical input was missing
    summary["model_variant"] = ((result.get("scores") or {}).get("model_variant") or {}).get("note")
    print(json.dumps(summary))
    for warning in result.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"results in {Path(args.output_dir).resolve()}", file=sys.stderr)
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise HematomaExpansionError("--workers must be at least 1")
    if args.scheduler and args.executor != "dask":
        raise HematomaExpansionError("--scheduler needs --executor dask")
    options = BatchOptions(definition=args.definition, seg_method=args.method, models_dir=args.models_dir,
                           clinical=parse_clinical(args.clinical), score=not args.segment_only, dicom_seg=args.dicom_seg)
    cases = collect_cases(args.inputs)
    rows = run_batch(cases, Path(args.output), options, workers=args.workers,
                     cases_dir=Path(args.cases_dir) if args.cases_dir else None, progress=not args.no_progress,
                     retry_failed=args.retry_failed, executor=args.executor, scheduler=args.scheduler)
    counts = status_counts(rows)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    print(f"{len(rows)} cases: {summary}; table: {Path(args.output).resolve()}", file=sys.stderr)
    for r in rows:
        if r.get("status") == "error":
            print(f"  error: {r['input']}: {r['error']}", file=sys.stderr)
    return 3 if counts["error"] else 0


# The demo patient's clinical inputs: every one the model reads, so the image + clinical model runs.
DEMO_CLINICAL = {"onset_to_ct_h": 2.0, "anticoagulation": False, "warfarin": False, "recurrent_ich": False}


def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ct, truth, info = make_sample_case(args.seed)
    ct_path = out / "sample_ct.nii.gz"

    sitk.WriteImage(ct.to_sitk(ct.array.astype("int16")), str(ct_path), True)
    write_labels(ct, truth, out / "sample_truth_mask.nii.gz")
    result = run_predict(ct_path, out, clinical=DEMO_CLINICAL,
                         method=args.method)
    error = abs(result["volume_ml"] - info["volume_ml"]) / info["volume_ml"]
    summary = {
        "sample": str(ct_path), "known_volume_ml": round(info["volume_ml"], 2),
        "measured_volume_ml": result["volume_ml"], "volume_error_percent": round(100 * error, 1),
        "abc2_ml": result["abc2_ml"], "he_probability": result["he_probability"],
        "risk_band": result.get("risk_band"), "definition": result.get("definition"),
        "model_id": result.get("model_id"), "model_version": result.get("model_version"),
        "model_variant": (result.get("scores") or {}).get("model_variant", {}).get("variant"),
        "clinical_inputs": DEMO_CLINICAL, "mask_source": result.get("mask_source"),
    }
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"\nDemo outputs in {out.resolve()}:\n  result.json, report.html (open in a browser), mask.nii.gz,"
          f" gradcam.nii.gz, sample_ct.nii.gz, sample_truth_mask.nii.gz")
    if error > 0.10:
        print(f"error: measured volume is {100 * error:.1f} % off the known volume (limit 10 %)", file=sys.stderr)
        return 4
    return 0
