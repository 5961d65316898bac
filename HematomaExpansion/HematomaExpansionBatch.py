"""Batch processing inside Slicer, with the core batch runner (the same one as ``hematoma-expansion batch``).

    Slicer --no-main-window --python-script HematomaExpansionBatch.py -- CT1.nii.gz CT_FOLDER ... --output-dir DIR

Per case, ``DIR/<case_id>/`` (the scan's name plus a hash of its path) gets the core outputs
(result.json, mask.nii.gz, gradcam.nii.gz when the model gives one, report.html; error.json for a
failed case) and, from the MRML scene, segmentation.seg.nrrd and results.tsv. ``DIR/results.csv``
(with .json and .html) summarises all cases in the core's schema. A failing case is recorded
(status "error" and the message) and the batch goes on; re-running skips finished cases.
Exit status: 0 all cases succeeded, 1 some failed, 2 bad arguments or no model.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import slicer

_MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
if _MODULE_DIR not in sys.path:
    sys.path.insert(0, _MODULE_DIR)

from HematomaExpansionLib.core.errors import HematomaExpansionError  # noqa: E402
from HematomaExpansionLib.features.clinical import parse_clinical  # noqa: E402
from HematomaExpansionLib.mrml.batch import SUMMARY_FILE, batch_options, run_batch_in_scene  # noqa: E402
from HematomaExpansionLib.mrml.definitions import NO_DEFINITION  # noqa: E402
from HematomaExpansionLib.mrml.logic import load_predictor  # noqa: E402

log = logging.getLogger("HematomaExpansionBatch")

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="Slicer --no-main-window --python-script HematomaExpansionBatch.py --",
        description="Segment intracerebral hemorrhage and predict hematoma expansion for many head CTs.",
    )
    parser.add_argument("inputs", nargs="+", help="CT files (NIfTI/NRRD/MHA) or folders (volume files, or DICOM series folders)")
    parser.add_argument("--output-dir", required=True, type=Path, help="folder for the per-case outputs and results.csv")
    parser.add_argument("--definition", default=NO_DEFINITION, help="hematoma expansion definition (default: the model's own)")
    parser.add_argument("--method", default="auto", choices=["auto", "net", "classic"], help="segmentation method")
    parser.add_argument("--clinical", nargs="*", default=[], metavar="KEY=VALUE", help="clinical inputs applied to every case")
    parser.add_argument("--segment-only", action="store_true", help="segment and measure, do not predict expansion")
    if argv and argv[0] == "--":  # Slicer passes the separator through
        argv = argv[1:]
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> tuple[list[dict], int]:
    """Process every case; returns (summary rows, exit status). Raises ``HematomaExpansionError``
    when nothing can run (bad clinical input, no input scans, no model)."""
    options = batch_options(args.definition, args.method, parse_clinical(args.clinical), segment_only=args.segment_only)
    if not args.segment_only:
        load_predictor(args.definition)  # a missing or broken model stops here, not once per case
    rows = run_batch_in_scene(args.inputs, args.output_dir, options, scene=slicer.mrmlScene)
    failed = sum(r["status"] == "error" for r in rows)  # a normal scan (no_hemorrhage) is an answer
    log.info("%d case(s) done, %d failed; summary: %s", len(rows), failed, args.output_dir / SUMMARY_FILE)
    return rows, EXIT_SOME_FAILED if failed else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        _, status = run(args)
    except HematomaExpansionError as exc:
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
