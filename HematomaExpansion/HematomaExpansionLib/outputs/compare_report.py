"""Self-contained HTML report of a baseline vs follow-up comparison (``compare_report.html``).

Matched axial slices side by side: the baseline with its hemorrhage outline above, the follow-up
registered onto the baseline grid with its (registered) outline below, a few slices around the
baseline's maximum-area slice. Volumes in the tables are those measured on each scan's own grid.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from ..core.ct_image import CTImage
from ..expansion.labels import DEFINITION_TEXT, DEFINITIONS
from .case_outputs import DISCLAIMER
from .figures import draw_axial_slice, png_base64, pyplot


def centre_slice(ct: CTImage, *masks: np.ndarray) -> int:
    """Canonical axial index of the largest hemorrhage area in the first non-empty mask (middle slice otherwise)."""
    for mask in masks:
        lab = ct.to_canonical_array(np.asarray(mask) > 0)
        areas = lab.reshape(lab.shape[0], -1).sum(axis=1)
        if areas.max() > 0:
            return int(np.argmax(areas))
    perm, _ = ct.canonical_transform()
    return ct.shape[perm[0]] // 2


def slice_indices(ct: CTImage, centre: int, n: int = 5, step_mm: float = 6.0) -> list[int]:
    nz = ct.shape[ct.canonical_transform()[0][0]]
    step = max(1, int(round(step_mm / ct.canonical_spacing()[0])))
    ks = [min(nz - 1, max(0, centre + d * step)) for d in range(-(n // 2), n // 2 + 1)]
    return sorted(set(ks))


def side_by_side_png(ct: CTImage, baseline_labels: np.ndarray, followup_hu_on_baseline: np.ndarray,
                     followup_labels_on_baseline: np.ndarray, n: int = 5) -> str:
    """Base64 PNG: row 1 baseline, row 2 registered follow-up, columns = matched axial slices."""
    plt = pyplot()
    rows = [("baseline", ct.to_canonical_array(), ct.to_canonical_array(np.asarray(baseline_labels))),
            ("follow-up (registered)", ct.to_canonical_array(np.asarray(followup_hu_on_baseline)),
             ct.to_canonical_array(np.asarray(followup_labels_on_baseline)))]
    centre = centre_slice(ct, baseline_labels, followup_labels_on_baseline)
    ks = slice_indices(ct, centre, n)
    sp = ct.canonical_spacing()
    fig, axes = plt.subplots(2, len(ks), figsize=(3.2 * len(ks), 7.2), squeeze=False)
    for r, (name, hu, lab) in enumerate(rows):
        for c, k in enumerate(ks):
            draw_axial_slice(axes[r][c], hu[k], lab[k], sp[1] / sp[2],
                             f"{name}, slice {k}" + (" (max area)" if k == centre else ""), fontsize=8)
    fig.tight_layout()
    return png_base64(fig, dpi=80)


def _row(name: str, *values: Any) -> str:
    cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in values)
    return f"<tr><th>{html.escape(name)}</th>{cells}</tr>"


def _ml(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f} mL"


def compare_html(doc: dict[str, Any], png_b64: str) -> str:
    """The report page for a ``compare.json`` document and the side-by-side picture."""
    b, f, reg = doc["baseline"], doc["followup"], doc["registration"]
    rel = doc.get("relative_growth")
    volumes = "".join([
        "<tr><th></th><th>baseline</th><th>follow-up</th><th>change</th></tr>",
        _row("Intraparenchymal (IPH)", _ml(doc["baseline_iph_ml"]), _ml(doc["followup_iph_ml"]),
             f"{doc['absolute_growth_ml']:+.2f} mL" + ("" if rel is None else f" ({100 * rel:+.1f} %)")),
        _row("Intraventricular (IVH)", _ml(doc["baseline_ivh_ml"]), _ml(doc["followup_ivh_ml"]),
             f"{doc['ivh_growth_ml']:+.2f} mL" + (" (new IVH)" if doc["new_ivh"] else "")),
        _row("Mask source", b["mask_source"], f["mask_source"] + (
            f" ({doc['ivh_relabelled_ml']:.2f} mL labelled IPH inside the baseline's ventricles counted as IVH)"
            if doc.get("ivh_relabelled_ml") else ""), ""),
        _row("Scan", b["ct"], f["ct"], ""),
        _row("Voxel spacing (mm, x y z)", " × ".join(f"{s:.2f}" for s in b["spacing_mm"]),
             " × ".join(f"{s:.2f}" for s in f["spacing_mm"]), ""),
    ])
    labels = "".join(
        f"<tr><td>{html.escape(d)}</td><td>{html.escape(DEFINITION_TEXT[d])}</td>"
        f"<td><b>{'expansion' if doc['labels'][d] else 'no expansion'}</b></td></tr>" for d in DEFINITIONS)
    reg_rows = "".join([
        _row("Method", reg["method"]),
        _row("Metric (final value)", f"{reg['metric']} ({reg['final_metric']:.4f})"),
        _row("Brain Dice after registration", f"{reg['brain_dice']:.3f}"),
        _row("Rotation", f"{reg['rotation_deg']:.2f}°"),
        _row("Translation", f"{reg['translation_norm_mm']:.2f} mm ({', '.join(f'{t:+.2f}' for t in reg['translation_mm'])})"),
        _row("Hematoma Dice (follow-up registered onto baseline)", f"{doc['overlap']['iph_dice']:.3f}"),
    ])
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in doc.get("warnings", []))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Hematoma growth: baseline vs follow-up</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}table{{border-collapse:collapse;margin-bottom:1em}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.note{{color:#a33}}</style></head><body>
<h1>Hematoma growth: baseline vs follow-up</h1>
<p>Created: {html.escape(doc.get("created", ""))}</p>
<h2>Volumes (each measured on its own scan's grid)</h2><table>{volumes}</table>
<h2>Expansion under every definition</h2><table><tr><th>definition</th><th>criterion</th><th>label</th></tr>{labels}</table>
<h2>Registration (follow-up onto baseline, rigid)</h2><table>{reg_rows}</table>
<h2>Matched axial slices</h2><p>Top: baseline; bottom: follow-up registered onto the baseline grid (for viewing only).
Red: intraparenchymal, cyan: intraventricular.</p>
<img alt="matched axial slices, baseline and registered follow-up" src="data:image/png;base64,{png_b64}" style="max-width:100%">
{f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""}
<p class="note">{html.escape(DISCLAIMER)}</p>
</body></html>"""
