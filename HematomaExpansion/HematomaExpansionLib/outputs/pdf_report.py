"""The case report as a one-page PDF (A4), drawn with matplotlib's PDF backend (already a dependency:
no extra PDF library). Same rows as the HTML report (``case_outputs.report_rows``), three axial
slices around the largest hematoma cross-section, the top features and the disclaimer."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from ..core.ct_image import CTImage
from ..core.results import Prediction
from .case_outputs import DISCLAIMER, report_rows
from .figures import draw_axial_slice, pyplot

A4_INCHES = (8.27, 11.69)
N_FEATURES = 8


def _slices(ct: CTImage, center: int, n: int = 3) -> list[int]:
    nz = ct.canonical_view().shape[0]
    center = center if 0 <= center < nz else nz // 2
    step = max(1, int(round(5.0 / ct.canonical_spacing()[0])))
    return [min(nz - 1, max(0, center + d * step)) for d in range(-(n // 2), n // 2 + 1)]


def write_pdf_report(ct: CTImage, prediction: Prediction, result: dict[str, Any], path: str | Path) -> Path:
    """Write the report to ``path`` (a .pdf); returns the path."""
    from matplotlib.backends.backend_pdf import PdfPages

    plt = pyplot()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig = plt.figure(figsize=A4_INCHES)
    fig.text(0.06, 0.965, "Hematoma expansion report", fontsize=16, weight="bold", va="top")
    fig.text(0.06, 0.935, f"Scan: {prediction.source or ''}    Created: {result.get('created', '')}", fontsize=8, va="top")
    y = 0.905
    for name, value in report_rows(prediction, result):
        lines = textwrap.wrap(str(value), 78) or [""]
        fig.text(0.06, y, name, fontsize=8, weight="bold", va="top")
        fig.text(0.36, y, "\n".join(lines), fontsize=8, va="top")
        y -= 0.017 * len(lines)
    if prediction.model is not None and prediction.model.contributions:
        y -= 0.01
        fig.text(0.06, y, "Features that drove the prediction (log-odds contribution)", fontsize=9, weight="bold", va="top")
        y -= 0.02
        top = sorted(prediction.model.contributions, key=lambda c: abs(c.contribution), reverse=True)[:N_FEATURES]
        for c in top:
            fig.text(0.08, y, f"{c.name} = {c.value:.4g}: {c.contribution:+.3f}", fontsize=8, va="top")
            y -= 0.016
    hu = ct.canonical_view()
    labels = ct.canonical_view(prediction.mask)
    heat = prediction.model.gradcam if prediction.model is not None else None
    hm = ct.canonical_view(heat) if heat is not None else None
    aspect = ct.canonical_spacing()[1] / ct.canonical_spacing()[2]
    ks = _slices(ct, prediction.measurements.max_area_slice)
    bottom = max(0.08, min(0.30, y - 0.26))
    for i, k in enumerate(ks):
        ax = fig.add_axes((0.05 + i * 0.31, bottom, 0.29, 0.22))
        draw_axial_slice(ax, hu[k], labels[k], aspect, f"axial slice {k}", heat=None if hm is None else hm[k], fontsize=8)
    fig.text(0.06, bottom - 0.02, "Red: intraparenchymal, cyan: intraventricular" + (", heat: Grad-CAM" if hm is not None else ""),
             fontsize=7, va="top")
    fig.text(0.06, 0.04, "\n".join(textwrap.wrap(DISCLAIMER, 110)), fontsize=7, color="#a33", va="bottom")
    with PdfPages(out) as pdf:
        info = pdf.infodict()
        info["Title"] = "Hematoma expansion report"
        info["Creator"] = "hematoma-expansion"
        pdf.savefig(fig)
    plt.close(fig)
    return out

