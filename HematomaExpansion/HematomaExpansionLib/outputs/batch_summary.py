"""One self-contained HTML page summarising a batch run: counts per status, the distributions of
hematoma volume and expansion probability, and a table with one row (and a thumbnail) per case.

Everything is inline (CSS, base64 PNG data URLs), so the page can be mailed or archived alone; the
only links are to each case's own ``report.html``, relative to the page's folder. Thumbnails cost one
CT read per case and are capped at ``THUMB_PX`` pixels; a case whose files are missing or unreadable
simply gets no thumbnail: writing the summary never fails because of one case.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..core.ct_image import CTImage
from ..io.ct_files import read_ct
from .case_outputs import DISCLAIMER
from .figures import BRAIN_WINDOW_HU, png_base64, pyplot

log = logging.getLogger(__name__)

STATUSES = ("ok", "no_hemorrhage", "too_small", "error")
THUMB_PX = 128  # longest side of a thumbnail
THUMBNAIL_FILE = "thumbnail.png"
OUTLINE_RGB = {1: (255, 48, 48), 2: (48, 220, 255)}  # IPH red, IVH cyan (as in the case report)
STATUS_COLOURS = {"ok": "#2a7d2a", "no_hemorrhage": "#2a5d9d", "too_small": "#9d7a2a", "error": "#b02a2a"}


def write_batch_summary(rows: list[dict], cases_dir: Path, html_path: Path, columns: list[str]) -> Path:
    """Write the summary page to ``html_path`` and return it.

    ``rows``: one dict per case (``case_id``, ``input``, ``status``, ``error``, ``volume_ml``,
    ``he_probability``, ...; missing values are None or ""). ``cases_dir/<case_id>/`` holds each case's
    ``mask.nii.gz`` and ``report.html``. ``columns``: the row keys shown in the table, in order.
    """
    html_path = Path(html_path)
    cases_dir = Path(cases_dir)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(columns)
    if "error" not in columns and any(_text(r.get("error")) for r in rows):
        columns.append("error")  # errors are always shown
    plots = [
        _histogram(numeric_values(rows, "volume_ml"), "Hematoma volume (mL)", None),
        _histogram(numeric_values(rows, "he_probability"), "Probability of expansion", (0.0, 1.0)),
    ]
    body_rows = "\n".join(_table_row(r, cases_dir, html_path.parent, columns) for r in rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Hematoma expansion batch summary</title>
<style>
body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;font-size:90%}}
th{{background:#f2f2f2;position:sticky;top:0}}td.thumb{{padding:1px;width:{THUMB_PX}px}}
.status{{color:#fff;border-radius:3px;padding:1px 5px;white-space:nowrap}}
.err{{white-space:pre-wrap;color:#a00;max-width:40em}}.counts span{{margin-right:1.2em}}
.plots img{{margin-right:1em}}.note{{color:#a33}}
</style></head><body>
<h1>Hematoma expansion batch summary</h1>
<p>{len(rows)} case(s); created {html.escape(created)}.</p>
<p class="counts">{_counts_html(status_counts(rows))}</p>
<div class="plots">{"".join(plots)}</div>
<table><thead><tr><th>slice</th>{head}</tr></thead><tbody>
{body_rows}
</tbody></table>
<p>Thumbnails: axial slice of maximal hematoma area (middle slice when there is none), brain window
{BRAIN_WINDOW_HU[0]:.0f}–{BRAIN_WINDOW_HU[1]:.0f} HU; red outline intraparenchymal, cyan intraventricular.</p>
<p class="note">{html.escape(DISCLAIMER)}</p>
</body></html>
"""
    html_path.write_text(page, encoding="utf-8")
    return html_path


# --- header and plots ---------------------------------------------------------------------------
def status_counts(rows: list[dict]) -> dict[str, int]:
    """Cases per status: the four known ones always (possibly 0), then any other status seen."""
    counts = {s: 0 for s in STATUSES}
    for r in rows:
        s = _text(r.get("status")) or "unknown"
        counts[s] = counts.get(s, 0) + 1
    return counts


def _counts_html(counts: dict[str, int]) -> str:
    return "".join(
        f'<span><span class="status" style="background:{STATUS_COLOURS.get(s, "#666")}">{html.escape(s)}</span> {n}</span>'
        for s, n in counts.items()
    )


def numeric_values(rows: list[dict], key: str) -> list[float]:
    """The finite numeric values of ``key`` over the rows (None, "", text and NaN are skipped)."""
    out = []
    for r in rows:
        v = r.get(key)
        if v is None or isinstance(v, bool) or (isinstance(v, str) and not v.strip()):
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def _histogram(values: list[float], label: str, value_range: tuple[float, float] | None) -> str:
    if not values:
        return f"<p>{html.escape(label)}: no case has a value.</p>"
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 2.8))
    bins = int(min(30, max(5, round(math.sqrt(len(values)) * 2))))
    ax.hist(values, bins=bins, range=value_range, color="#4a7ab0", edgecolor="white")
    ax.set_xlabel(label)
    ax.set_ylabel("cases")
    ax.set_title(f"{label}, n = {len(values)}", fontsize=10)
    fig.tight_layout()
    return f'<img alt="{html.escape(label)} histogram" src="data:image/png;base64,{png_base64(fig, dpi=80)}">'


# --- table --------------------------------------------------------------------------------------
def _table_row(row: dict, cases_dir: Path, page_dir: Path, columns: list[str]) -> str:
    case_id = _text(row.get("case_id"))
    status = _text(row.get("status"))
    case_dir = cases_dir / case_id if case_id else None
    thumb = ""
    if case_dir is not None and status != "error" and _text(row.get("input")):
        stored = case_dir / THUMBNAIL_FILE  # written by the worker that ran the case
        png = (base64.b64encode(stored.read_bytes()).decode("ascii") if stored.is_file()
               else case_thumbnail(Path(_text(row.get("input"))), case_dir / "mask.nii.gz"))
        if png is not None:
            thumb = f'<img alt="thumbnail of {html.escape(case_id)}" src="data:image/png;base64,{png}">'
    cells = [f'<td class="thumb">{thumb}</td>']
    for col in columns:
        value = row.get(col)
        if col == "case_id" and case_dir is not None and (case_dir / "report.html").is_file():
            href = quote(Path(os.path.relpath(case_dir / "report.html", page_dir)).as_posix())
            cells.append(f'<td><a href="{href}">{html.escape(case_id)}</a></td>')
        elif col == "status" and status:
            colour = STATUS_COLOURS.get(status, "#666")
            cells.append(f'<td><span class="status" style="background:{colour}">{html.escape(status)}</span></td>')
        elif col == "error":
            cells.append(f'<td class="err">{html.escape(_text(value))}</td>')
        else:
            cells.append(f"<td>{html.escape(_format(value))}</td>")
    return f"<tr>{''.join(cells)}</tr>"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _format(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return "" if math.isnan(f) else f"{f:.4g}" if abs(f) < 1e4 else f"{f:.0f}"
    return _text(value)


# --- thumbnails ---------------------------------------------------------------------------------
def case_thumbnail(ct_path: Path, mask_path: Path, size: int = THUMB_PX) -> str | None:
    """A base64 PNG thumbnail of the case, or None when the CT or mask is missing or unreadable."""
    try:
        if not Path(mask_path).is_file() or not Path(ct_path).exists():
            return None
        labels = sitk.GetArrayFromImage(sitk.ReadImage(str(mask_path)))
        ct = read_ct(ct_path, validate=False)
        if labels.shape != ct.shape:
            log.debug("%s: mask shape %s differs from the CT's %s; no thumbnail", mask_path, labels.shape, ct.shape)
            return None
        return png_rgb_base64(thumbnail_rgb(ct, labels, size))
    except Exception as exc:  # a thumbnail is decoration: never fail the summary for it
        log.debug("no thumbnail for %s: %s", mask_path, exc)
        return None


def thumbnail_rgb(ct: CTImage, labels: np.ndarray, size: int = THUMB_PX) -> np.ndarray:
    """(h, w, 3) uint8: the axial slice of maximal hematoma area (the middle one when the mask is
    empty), brain window, physical aspect ratio, longest side ``size``, label outlines coloured."""
    hu = ct.canonical_view()
    lab = ct.canonical_view(np.asarray(labels))
    area = (lab > 0).sum(axis=(1, 2))
    k = int(area.argmax()) if area.any() else hu.shape[0] // 2
    image, mask = hu[k].astype(np.float32), lab[k]
    _, sy, sx = ct.canonical_spacing()
    scale = size / max(image.shape[0] * sy, image.shape[1] * sx)
    out_shape = (max(1, round(image.shape[0] * sy * scale)), max(1, round(image.shape[1] * sx * scale)))
    zoom = (out_shape[0] / image.shape[0], out_shape[1] / image.shape[1])
    if min(zoom) < 1:  # anti-alias before shrinking
        image = ndimage.gaussian_filter(image, [max(0.0, 0.5 / z - 0.5) for z in zoom])
    grey = _resize(image, out_shape, order=1)
    lo, hi = BRAIN_WINDOW_HU
    rgb = np.repeat((np.clip((grey - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
    for value, colour in OUTLINE_RGB.items():
        region = mask == value
        if not region.any():
            continue
        if min(zoom) < 1:  # max-pool so that a small lesion never vanishes when shrunk
            region = ndimage.maximum_filter(region, size=[max(1, math.ceil(1 / z)) for z in zoom])
        small = _resize(region.astype(np.uint8), out_shape, order=0).astype(bool)
        outline = small & ~ndimage.binary_erosion(small)
        rgb[outline] = colour
    return rgb


def _resize(array: np.ndarray, shape: tuple[int, int], order: int) -> np.ndarray:
    zoom = (shape[0] / array.shape[0], shape[1] / array.shape[1])
    out = ndimage.zoom(array, zoom, order=order, grid_mode=True, mode="nearest")
    return out[: shape[0], : shape[1]]


def png_rgb_bytes(rgb: np.ndarray) -> bytes:
    """An (h, w, 3) uint8 image as PNG bytes, pixel for pixel."""
    buf = io.BytesIO()
    pyplot().imsave(buf, np.ascontiguousarray(rgb), format="png")
    return buf.getvalue()


def png_rgb_base64(rgb: np.ndarray) -> str:
    """An (h, w, 3) uint8 image as base64 PNG text, pixel for pixel."""
    return base64.b64encode(png_rgb_bytes(rgb)).decode("ascii")


def write_case_thumbnail(ct: CTImage, labels: np.ndarray, case_dir: Path, size: int = THUMB_PX) -> Path:
    """The case's thumbnail as ``case_dir/thumbnail.png`` (made where the case ran, while its CT is
    in memory, so the summary never re-reads every scan)."""
    path = Path(case_dir) / THUMBNAIL_FILE
    path.write_bytes(png_rgb_bytes(thumbnail_rgb(ct, labels, size)))
    return path
