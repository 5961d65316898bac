"""Per-case outputs: result.json, mask.nii.gz, gradcam.nii.gz and a self-contained HTML report."""

from __future__ import annotations

import base64
import html
import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..core.ct_image import CTImage
from ..core.dependencies import package_versions
from ..core.results import Prediction, describe_scores
from ..io.ct_files import write_float_volume, write_labels
from .figures import draw_axial_slice, png_bytes, pyplot

DISCLAIMER = (
    "Research use only. Not a medical device; not clinically validated. The bundled expansion model "
    "was trained on a simulated cohort (see models/expansion/MODEL_CARD.md); retrain on your own data."
)


def write_case_outputs(ct: CTImage, prediction: Prediction, output_dir: str | Path) -> dict[str, Path]:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"mask": write_labels(ct, prediction.mask, out / "mask.nii.gz")}
    if prediction.model is not None and prediction.model.gradcam is not None:
        paths["gradcam"] = write_float_volume(ct, prediction.model.gradcam, out / "gradcam.nii.gz")
    result = result_document(prediction)
    result["outputs"] = {k: p.name for k, p in paths.items()} | {"report": "report.html"}
    paths["result"] = out / "result.json"
    paths["result"].write_text(json.dumps(result, indent=2, default=_json_default))
    paths["report"] = out / "report.html"
    paths["report"].write_text(html_report(ct, prediction, result))
    return paths


def result_document(prediction: Prediction) -> dict[str, Any]:
    doc = prediction.to_json_dict()
    doc["software"] = software_record()
    doc["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return doc


def software_record() -> dict[str, Any]:
    """What made a result: this package's version, Python's, and the versions of torch, pyradiomics and
    the other packages that change the numbers (``core.dependencies.RECORDED_PACKAGES``)."""
    return {"name": "hematoma-expansion", "version": __version__, "python": platform.python_version(),
            "packages": package_versions()}


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def overlay_png(ct: CTImage, labels: np.ndarray, heat: np.ndarray | None, center_slice: int, n: int = 3) -> bytes:
    """Axial slices around ``center_slice`` (canonical index): brain window, mask outline, heatmap."""
    plt = pyplot()
    # views, not copies: three slices are drawn (a thin-slice scan's float copies would take ~1 GB)
    hu = ct.canonical_view()
    lab = ct.canonical_view(labels)
    hm = ct.canonical_view(heat) if heat is not None else None
    nz = hu.shape[0]
    center = center_slice if 0 <= center_slice < nz else nz // 2
    step = max(1, int(round(5.0 / ct.canonical_spacing()[0])))
    ks = [min(nz - 1, max(0, center + d * step)) for d in range(-(n // 2), n // 2 + 1)]
    fig, axes = plt.subplots(1, len(ks), figsize=(4 * len(ks), 4.2))
    aspect = ct.canonical_spacing()[1] / ct.canonical_spacing()[2]
    for ax, k in zip(np.atleast_1d(axes), ks):
        draw_axial_slice(ax, hu[k], lab[k], aspect, f"axial slice {k}" + (" (max area)" if k == center else ""),
                         heat=None if hm is None else hm[k])
    fig.tight_layout()
    return png_bytes(fig, dpi=80)


def _row(name: str, value: Any) -> str:
    return f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"


def report_rows(prediction: Prediction, result: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) rows of the case report, shared by the HTML and PDF reports."""
    m = prediction.measurements
    rows = [
        ("Hematoma volume (IPH + IVH)", f"{m.volume_ml:.1f} mL"),
        ("Intraparenchymal (IPH)", f"{m.iph_volume_ml:.1f} mL"),
        ("Intraventricular (IVH)", f"{m.ivh_volume_ml:.1f} mL"),
        ("ABC/2 estimate (IPH)", f"{m.abc2_ml:.1f} mL  (A {m.abc2_a_mm:.0f} mm, B {m.abc2_b_mm:.0f} mm, C {m.abc2_c_mm:.0f} mm)"),
        ("Mask source", prediction.mask_source),
    ]
    if prediction.model is not None:
        mo = prediction.model
        rows += [
            ("Expansion probability", f"{mo.probability:.1%} ({mo.risk_band} risk)"),
            ("Expansion definition", mo.definition),
            ("Model", f"{mo.model_id} v{mo.model_version}" + (f" ({mo.feature_version})" if mo.feature_version else "")),
        ]
        rows += [(name, text) for name, text, _unit in describe_scores(mo.scores)]
    packages = (result.get("software") or {}).get("packages") or {}
    if packages:
        rows.append(("Software", ", ".join(f"{k} {v or 'not installed'}" for k, v in packages.items())))
    return rows


def html_report(ct: CTImage, prediction: Prediction, result: dict[str, Any]) -> str:
    m = prediction.measurements
    heat = prediction.model.gradcam if prediction.model is not None else None
    png = base64.b64encode(overlay_png(ct, prediction.mask, heat, m.max_area_slice)).decode()
    rows = [_row(name, value) for name, value in report_rows(prediction, result)]
    model_html = "<p>No expansion model was run.</p>"
    if prediction.model is not None:
        mo = prediction.model
        feats = "".join(
            f"<tr><td>{html.escape(c.name)}</td><td>{c.value:.4g}</td><td>{c.contribution:+.3f}</td></tr>"
            for c in mo.contributions
        )
        model_html = (
            "<h2>Features that drove the prediction</h2><table><tr><th>feature</th><th>value</th>"
            f"<th>log-odds contribution</th></tr>{feats}</table>"
        )
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in result.get("timings_s", {}).items())
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in prediction.warnings)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Hematoma expansion report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.note{{color:#a33}}</style></head><body>
<h1>Hematoma expansion report</h1>
<p>Scan: {html.escape(prediction.source or "")}<br>Created: {html.escape(result.get("created", ""))}</p>
<table>{''.join(rows)}</table>
{model_html}
<h2>Slices</h2><p>Red: intraparenchymal, cyan: intraventricular{", heat: Grad-CAM" if heat is not None else ""}.</p>
<img alt="axial slices with hematoma outline" src="data:image/png;base64,{png}" style="max-width:100%">
<p>Timings: {html.escape(timings)}</p>
{f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""}
<p class="note">{html.escape(DISCLAIMER)}</p>
</body></html>"""
