"""Baseline vs follow-up CT: measured growth and the expansion label under every definition.

Each scan gets its hemorrhage mask (given, or segmented), and its IPH/IVH volumes are measured on
its **own** grid (``expansion.labels.label_from_masks``); resampling never enters the volumes.
The follow-up is registered rigidly to the baseline (``anatomy.registration``) only to show
matched slices side by side and to check that the two masks describe the same lesion (overlap
after registration); the registration quality is reported with the result.

Automatic masks only (a given mask is measured as it is): follow-up blood that the segmenter
labelled IPH inside the baseline's ventricular space (its IVH and ventricular CSF, carried over by
the registration) becomes IVH. Ventricles do not move in a day, and blood in them is
intraventricular; a single-scan segmenter tends to call a new occipital-horn cast, or IVH that
a grown clot now touches, parenchymal, which would count IVH as IPH growth. The mL relabelled
are reported (``ivh_relabelled_ml``). With an automatic mask on either side, IVH is present from
``IVH_PRESENT_MIN_ML`` (``expansion.labels``), so a speck does not decide "new IVH".

Outputs (``write_comparison``): ``compare.json``, ``baseline_mask.nii.gz`` (baseline grid),
``followup_mask.nii.gz`` (follow-up grid), ``followup_mask_on_baseline.nii.gz`` (nearest
neighbour) and ``compare_report.html``.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..anatomy.registration import RigidRegistration, brain_mask, register_rigid, resample_onto
from ..anatomy.ventricles import ventricle_mask
from ..core.ct_image import CTImage
from ..core.errors import HematomaExpansionError
from ..core.results import LABEL_IPH, LABEL_IVH
from ..expansion.labels import IVH_PRESENT_MIN_ML, VOL_TOL_ML, GrowthFigures, check_definition, label_from_masks
from ..features.measurement import scan_edge_warnings
from ..io.ct_files import read_ct, write_labels
from ..io.masks import read_mask
from ..outputs.compare_report import compare_html, side_by_side_png
from ..segmentation.dispatch import describe_method, segment

SLICE_RATIO_WARN = 1.5
POOR_OVERLAP_DICE = 0.2


@dataclass
class Scan:
    ct: CTImage
    labels: np.ndarray
    path: str
    mask_path: str | None
    mask_source: str

    def info(self) -> dict[str, Any]:
        return {"ct": self.path, "mask": self.mask_path, "mask_source": self.mask_source,
                "spacing_mm": [round(s, 4) for s in self.ct.spacing], "shape": list(self.ct.shape)}


@dataclass
class Comparison:
    baseline: Scan
    followup: Scan
    figures: GrowthFigures
    registration: RigidRegistration
    followup_labels_on_baseline: np.ndarray
    followup_hu_on_baseline: np.ndarray
    overlap: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    ivh_relabelled_ml: float = 0.0


def load_scans(baseline_ct: str | Path, followup_ct: str | Path, baseline_mask: str | Path | None = None,
               followup_mask: str | Path | None = None, method: str = "auto") -> tuple[Scan, Scan]:
    """Read both CTs and the given masks (each on its CT's grid) first, so a bad input fails before any
    segmentation; then segment, with ``method``, each scan without a mask."""
    cts = [read_ct(baseline_ct), read_ct(followup_ct)]
    given = [read_mask(m, ct) if m else None for m, ct in zip((baseline_mask, followup_mask), cts)]
    scans = []
    for ct, labels, path, mask_path in zip(cts, given, (baseline_ct, followup_ct), (baseline_mask, followup_mask)):
        if labels is None:
            labels, source = segment(ct, method=method), describe_method(method)
        else:
            source = f"given ({Path(mask_path).name})"
        scans.append(Scan(ct, np.asarray(labels), str(path), str(mask_path) if mask_path else None, source))
    return scans[0], scans[1]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else 1.0


def ventricular_iph(baseline: Scan, followup: Scan, transform, baseline_brain: np.ndarray | None = None) -> np.ndarray:
    """Follow-up voxels labelled IPH that lie in the baseline's ventricular space (its IVH and ventricles)."""
    space = (baseline.labels == LABEL_IVH) | ventricle_mask(baseline.ct, baseline_brain)
    on1 = resample_onto(followup.ct, baseline.ct, transform.GetInverse(), space.astype(np.int32), nearest=True, default=0)
    return (followup.labels == LABEL_IPH) & (on1 > 0)


def consistent_followup(baseline: Scan, followup: Scan, transform,
                        baseline_brain: np.ndarray | None = None) -> tuple[Scan, float]:
    """(the follow-up with its IPH inside the baseline's ventricular space labelled IVH, mL relabelled);
    a given follow-up mask (``mask_path`` set) is returned as it is."""
    if followup.mask_path is not None:
        return followup, 0.0
    moved = ventricular_iph(baseline, followup, transform, baseline_brain)
    if not moved.any():
        return followup, 0.0
    labels = followup.labels.copy()
    labels[moved] = LABEL_IVH
    return replace(followup, labels=labels), float(moved.sum()) * followup.ct.voxel_volume_ml


def register_consistent(baseline: Scan, followup: Scan, metric: str = "mattes") -> tuple[RigidRegistration, Scan, float]:
    """The follow-up registered to the baseline and made consistent with it (``consistent_followup``);
    the baseline's intracranial mask is computed once for both."""
    brain0 = brain_mask(baseline.ct)
    reg = register_rigid(baseline.ct, followup.ct, metric=metric, fixed_brain=brain0)
    followup, relabelled_ml = consistent_followup(baseline, followup, reg.transform, brain0)
    return reg, followup, relabelled_ml


def compare_scans(baseline: Scan, followup: Scan, metric: str = "mattes") -> Comparison:
    reg, followup, relabelled_ml = register_consistent(baseline, followup, metric)
    automatic = baseline.mask_path is None or followup.mask_path is None
    figures = label_from_masks(baseline.labels, baseline.ct.spacing, followup.labels, followup.ct.spacing,
                               min_ivh_ml=IVH_PRESENT_MIN_ML if automatic else VOL_TOL_ML)
    lab1_on0 = resample_onto(baseline.ct, followup.ct, reg.transform, followup.labels.astype(np.int32),
                             nearest=True, default=0).astype(np.uint8)
    hu1_on0 = resample_onto(baseline.ct, followup.ct, reg.transform, default=-1024.0)
    iph0, iph1 = baseline.labels == LABEL_IPH, lab1_on0 == LABEL_IPH
    overlap = {"iph_dice": _dice(iph0, iph1),
               "baseline_iph_covered_fraction": float((iph0 & iph1).sum() / iph0.sum()) if iph0.any() else 0.0}
    warnings = list(reg.warnings)
    for name, scan in (("baseline", baseline), ("follow-up", followup)):
        warnings += [f"{name}: {w}" for w in scan_edge_warnings(scan.ct, scan.labels)]
    if figures.baseline_iph_ml <= 0:
        warnings.append("no intraparenchymal hemorrhage on the baseline: relative growth is undefined, "
                        "only the absolute criteria apply")
    if not (followup.labels > 0).any():
        warnings.append("no hemorrhage on the follow-up mask")
    if (baseline.mask_path is None) != (followup.mask_path is None):
        warnings.append("one mask was given and the other segmented automatically: the growth mixes two mask sources")
    thick0, thick1 = baseline.ct.canonical_spacing()[0], followup.ct.canonical_spacing()[0]
    if max(thick0, thick1) > SLICE_RATIO_WARN * min(thick0, thick1):
        warnings.append(f"slice spacing differs ({thick0:.1f} mm vs {thick1:.1f} mm): partial-volume effects "
                        "differ between the two volumes")
    if Path(baseline.path).resolve() == Path(followup.path).resolve():
        warnings.append("the baseline and the follow-up are the same file")
    if figures.baseline_iph_ml > 1.0 and figures.followup_iph_ml > 1.0 and overlap["iph_dice"] < POOR_OVERLAP_DICE:
        warnings.append(f"the baseline and the registered follow-up hematomas hardly overlap (Dice "
                        f"{overlap['iph_dice']:.2f}): check the registration and the masks")
    return Comparison(baseline, followup, figures, reg, lab1_on0, hu1_on0, overlap, warnings, relabelled_ml)


OUTPUT_NAMES = {"json": "compare.json", "report": "compare_report.html", "baseline_mask": "baseline_mask.nii.gz",
                "followup_mask": "followup_mask.nii.gz", "followup_mask_on_baseline": "followup_mask_on_baseline.nii.gz"}


def comparison_document(cmp: Comparison, definition: str | None = None) -> dict[str, Any]:
    """The ``compare.json`` content: growth figures (flat), labels, scans, registration, overlap, warnings."""
    doc: dict[str, Any] = cmp.figures.to_dict(definition)
    rel = cmp.figures.relative_growth
    doc["relative_growth_percent"] = None if rel is None else round(100.0 * rel, 3)
    doc["volumes_measured_on"] = "each scan's own grid (the registration is for the pictures and the overlap only)"
    doc["baseline"] = cmp.baseline.info()
    doc["followup"] = cmp.followup.info()
    doc["registration"] = cmp.registration.to_dict()
    doc["overlap"] = {k: round(v, 4) for k, v in cmp.overlap.items()}
    doc["ivh_relabelled_ml"] = round(cmp.ivh_relabelled_ml, 3)
    doc["warnings"] = list(cmp.warnings)
    doc["outputs"] = dict(OUTPUT_NAMES)
    doc["software"] = {"name": "hematoma-expansion", "version": __version__, "python": platform.python_version()}
    doc["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return doc


def write_comparison(cmp: Comparison, output_dir: str | Path, definition: str | None = None) -> dict[str, Any]:
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise HematomaExpansionError(f"--output-dir {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    doc = comparison_document(cmp, definition)
    write_labels(cmp.baseline.ct, cmp.baseline.labels, out / OUTPUT_NAMES["baseline_mask"])
    write_labels(cmp.followup.ct, cmp.followup.labels, out / OUTPUT_NAMES["followup_mask"])
    write_labels(cmp.baseline.ct, cmp.followup_labels_on_baseline, out / OUTPUT_NAMES["followup_mask_on_baseline"])
    png = side_by_side_png(cmp.baseline.ct, cmp.baseline.labels, cmp.followup_hu_on_baseline,
                           cmp.followup_labels_on_baseline)
    (out / OUTPUT_NAMES["report"]).write_text(compare_html(doc, png))
    (out / OUTPUT_NAMES["json"]).write_text(json.dumps(doc, indent=2))
    return doc


def run_compare(baseline_ct: str | Path, followup_ct: str | Path, output_dir: str | Path,
                baseline_mask: str | Path | None = None, followup_mask: str | Path | None = None,
                method: str = "auto", metric: str = "mattes", definition: str | None = None) -> dict[str, Any]:
    """Read, mask, measure, register and write; returns the ``compare.json`` document."""
    if definition is not None:
        check_definition(definition)
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise HematomaExpansionError(f"--output-dir {out} exists and is not a folder")
    baseline, followup = load_scans(baseline_ct, followup_ct, baseline_mask, followup_mask, method)
    return write_comparison(compare_scans(baseline, followup, metric), out, definition)
