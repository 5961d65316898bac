"""Batch processing inside Slicer, through the same MRML code path as the module panel.

    Slicer --no-main-window --python-script HematomaExpansionBatch.py -- CT1.nii.gz CT_FOLDER ... --output-dir DIR

Per case, ``DIR/<case>/`` gets result.json, mask.nii.gz, segmentation.seg.nrrd, results.tsv and
gradcam.nii.gz (when the model gives one); ``DIR/results.csv`` summarises all cases. A failing case
is recorded (status "error" and the message) and the batch goes on. Exit status: 0 all cases
succeeded, 1 some failed, 2 bad arguments or no model.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import slicer

_MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
if _MODULE_DIR not in sys.path:
    sys.path.insert(0, _MODULE_DIR)

from HematomaExpansionLib import mrml_bridge  # noqa: E402
from HematomaExpansionLib.batch import case_stem, collect_inputs  # noqa: E402
from HematomaExpansionLib.clinical_inputs import parse_clinical  # noqa: E402
from HematomaExpansionLib.errors import HematomaExpansionError  # noqa: E402

log = logging.getLogger("HematomaExpansionBatch")

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
SUMMARY_FIELDS = ["case", "input", "status", "error", "volume_ml", "iph_volume_ml", "ivh_volume_ml", "abc2_ml",
                  "he_probability", "risk_band", "definition", "model_id", "seconds"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="Slicer --no-main-window --python-script HematomaExpansionBatch.py --",
        description="Segment intracerebral hemorrhage and predict hematoma expansion for many head CTs.",
    )
    parser.add_argument("inputs", nargs="+", help="CT files (NIfTI/NRRD/MHA) or folders (volume files, or DICOM series folders)")
    parser.add_argument("--output-dir", required=True, type=Path, help="folder for the per-case outputs and results.csv")
    parser.add_argument("--definition", default=mrml_bridge.NO_DEFINITION, help="hematoma expansion definition (default: the model's own)")
    parser.add_argument("--method", default="auto", choices=["auto", "net", "classic"], help="segmentation method")
    parser.add_argument("--clinical", nargs="*", default=[], metavar="KEY=VALUE", help="clinical inputs applied to every case")
    parser.add_argument("--segment-only", action="store_true", help="segment and measure, do not predict expansion")
    if argv and argv[0] == "--":  # Slicer passes the separator through
        argv = argv[1:]
    return parser.parse_args(argv)


def _unique_name(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}_{n}", n + 1
    used.add(candidate)
    return candidate


def _write_case_outputs(case_dir: Path, ct: Any, prediction: Any, segmentation: Any, table: Any) -> None:
    from HematomaExpansionLib.ct_io import write_float_volume, write_labels

    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / "result.json").write_text(json.dumps(prediction.to_json_dict(), indent=2))
    write_labels(ct, prediction.mask, case_dir / "mask.nii.gz")
    if prediction.model is not None and prediction.model.gradcam is not None:
        write_float_volume(ct, prediction.model.gradcam, case_dir / "gradcam.nii.gz")
    _write_node(segmentation, case_dir / "segmentation.seg.nrrd")
    _write_node(table, case_dir / "results.tsv")


def _write_node(node: Any, path: Path) -> None:
    storage = node.GetStorageNode() or node.CreateDefaultStorageNode()
    if storage.GetScene() is None:
        node.GetScene().AddNode(storage)
        node.SetAndObserveStorageNodeID(storage.GetID())
    storage.SetFileName(str(path))
    if not storage.WriteData(node):
        raise HematomaExpansionError(f"could not write {path}")


def run_case(path: str, case_dir: Path, options: argparse.Namespace, predictor: Any, clinical: dict) -> dict:
    """Process one case in a cleared scene; returns its summary row (never raises for a bad case)."""
    from HematomaExpansionLib.ct_io import read_ct

    row: dict[str, Any] = {"case": case_dir.name, "input": path, "status": "ok", "error": ""}
    start = time.perf_counter()
    scene = slicer.mrmlScene
    try:
        scene.Clear(0)
        ct = read_ct(path)
        volume = mrml_bridge.volume_node_from_ct(ct, case_dir.name, scene=scene)
        if options.segment_only:
            prediction, segmentation = mrml_bridge.segment_on_nodes(volume, seg_method=options.method)
            table = mrml_bridge.prediction_to_table_node(prediction, scene=scene)
        else:
            prediction, segmentation, table, _ = mrml_bridge.run_on_nodes(
                volume, clinical=clinical, definition=options.definition, seg_method=options.method, predictor=predictor)
        _write_case_outputs(case_dir, ct, prediction, segmentation, table)
        values = prediction.to_json_dict()
        row.update({k: values.get(k) for k in SUMMARY_FIELDS if k in values})
    except HematomaExpansionError as exc:
        row.update(status="error", error=str(exc))
        log.error("%s: %s", path, exc)
    except Exception as exc:  # an unexpected failure of one case must not stop the batch
        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
        log.error("%s: unexpected error\n%s", path, traceback.format_exc())
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def run_batch(options: argparse.Namespace, predictor: Any = None) -> tuple[list[dict], int]:
    """Process every case; returns (summary rows, exit status)."""
    clinical = parse_clinical(options.clinical)
    try:
        cases = [str(p) for p in collect_inputs(options.inputs)]
    except HematomaExpansionError as exc:
        log.error("%s", exc)
        return [], EXIT_USAGE
    if predictor is None and not options.segment_only:
        predictor = mrml_bridge.load_predictor(options.definition)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    rows = []
    for n, path in enumerate(cases, 1):
        case_dir = options.output_dir / _unique_name(case_stem(path), used)
        log.info("[%d/%d] %s", n, len(cases), path)
        rows.append(run_case(path, case_dir, options, predictor, clinical))
        _write_summary(options.output_dir / "results.csv", rows)  # after each case: partial results survive a crash
    failed = sum(r["status"] != "ok" for r in rows)
    log.info("%d case(s) done, %d failed; summary: %s", len(rows), failed, options.output_dir / "results.csv")
    return rows, EXIT_SOME_FAILED if failed else EXIT_OK


def _write_summary(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in SUMMARY_FIELDS})


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        _, status = run_batch(options)
    except HematomaExpansionError as exc:  # bad clinical input, model missing: nothing can run
        log.error("%s", exc)
        return EXIT_USAGE
    return status


def _exit(status: int) -> None:
    if getattr(slicer, "app", None) is not None:
        slicer.util.exit(status)
    else:
        sys.exit(status)


if __name__ == "__main__":
    _exit(main())
