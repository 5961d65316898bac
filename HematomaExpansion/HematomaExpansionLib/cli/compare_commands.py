"""CLI command `compare`: baseline vs follow-up CT, measured growth and expansion under every definition."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..anatomy.registration import METRICS
from ..expansion.labels import DEFINITIONS
from ..pipeline.compare import run_compare
from ..segmentation.dispatch import METHODS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="baseline vs follow-up CT: measured growth, expansion under every definition",
        description="Measures IPH/IVH on each scan (given masks, or segmented) on its own grid, labels expansion under "
                    "every definition, registers the follow-up rigidly to the baseline for matched pictures, and writes "
                    "DIR/compare.json, DIR/compare_report.html, DIR/baseline_mask.nii.gz, DIR/followup_mask.nii.gz and "
                    "DIR/followup_mask_on_baseline.nii.gz.")
    p.add_argument("baseline_ct", help="baseline CT: NIfTI/NRRD/MHA file or DICOM series folder")
    p.add_argument("followup_ct", help="follow-up CT of the same patient")
    p.add_argument("--output-dir", "-o", required=True, help="folder for the outputs (created)")
    p.add_argument("--baseline-mask", help="baseline label map (1 = IPH, 2 = IVH) on the baseline CT's grid")
    p.add_argument("--followup-mask", help="follow-up label map on the follow-up CT's grid")
    p.add_argument("--method", choices=METHODS, default="auto", help="segmentation method for a scan without a mask")
    p.add_argument("--metric", choices=METRICS, default="mattes", help="registration metric (default: mattes)")
    p.add_argument("--definition", choices=DEFINITIONS, default=None,
                   help="also print `label` under this definition (every definition is always reported)")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    doc = run_compare(args.baseline_ct, args.followup_ct, args.output_dir, args.baseline_mask, args.followup_mask,
                      args.method, args.metric, args.definition)
    reg = doc["registration"]
    summary = {k: doc.get(k) for k in ("baseline_iph_ml", "followup_iph_ml", "absolute_growth_ml", "relative_growth",
                                       "baseline_ivh_ml", "followup_ivh_ml", "ivh_growth_ml", "new_ivh", "labels")}
    if args.definition:
        summary["definition"], summary["label"] = doc["definition"], doc["label"]
    summary["registration"] = {k: reg[k] for k in ("brain_dice", "rotation_deg", "translation_norm_mm")}
    print(json.dumps(summary))
    for warning in doc["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"results in {Path(args.output_dir).resolve()}", file=sys.stderr)
    return 0
