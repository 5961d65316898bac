"""The batch summary page: counts, plots, thumbnails, links and escaping, on generated cases."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib.core.ct_image import CTImage
from HematomaExpansionLib.io.ct_files import write_labels
from HematomaExpansionLib.outputs.batch_summary import (
    THUMB_PX,
    case_thumbnail,
    numeric_values,
    status_counts,
    thumbnail_rgb,
    write_batch_summary,
)
from HematomaExpansionLib.simulation.sample import make_sample_case

COLUMNS = ["case_id", "status", "volume_ml", "he_probability", "error"]
SCRIPT_ERROR = "<script>alert('x')</script> could not read & parse"


def _case(root, cases, case_id, ct, labels, status, volume, prob, report=True, mask=True):
    ct_path = root / "inputs" / f"{case_id}.nii.gz"
    ct_path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(ct.to_sitk(), str(ct_path))
    case_dir = cases / case_id
    case_dir.mkdir(parents=True)
    if mask:
        write_labels(ct, labels, case_dir / "mask.nii.gz")
    if report:
        (case_dir / "report.html").write_text("<html>report</html>")
    return {"case_id": case_id, "input": str(ct_path), "status": status, "error": "", "volume_ml": volume,
            "he_probability": prob}


@pytest.fixture(scope="module")
def batch(tmp_path_factory, small_sample_case):
    ct, labels, info = small_sample_case
    root = tmp_path_factory.mktemp("batch")
    cases = root / "out" / "cases"
    small = np.zeros_like(labels)
    small[10, 60:62, 60:62] = 1  # a few voxels: too small to score, still outlined
    rows = [
        _case(root, cases, "a&1", ct, labels, "ok", info["volume_ml"], 0.31),
        _case(root, cases, "b", ct, labels, "ok", 12.5, 0.72),
        _case(root, cases, "normal", ct, np.zeros_like(labels), "no_hemorrhage", 0.0, None),
        _case(root, cases, "tiny", ct, small, "too_small", 0.1, ""),
        _case(root, cases, "nomask", ct, labels, "ok", 20.0, 0.5, report=False, mask=False),
        {"case_id": "broken", "input": str(root / "inputs" / "missing.nii.gz"), "status": "error",
         "error": SCRIPT_ERROR, "volume_ml": None, "he_probability": None},
        {"case_id": "broken2", "input": "", "status": "error", "error": "x\n" * 300, "volume_ml": "", "he_probability": ""},
    ]
    html_path = write_batch_summary(rows, cases, root / "out" / "summary.html", COLUMNS)
    return rows, cases, html_path, html_path.read_text(encoding="utf-8")


def test_page_is_self_contained(batch):
    _, _, html_path, page = batch
    assert html_path.name == "summary.html" and page.startswith("<!doctype html>")
    assert not re.search(r'src="(?!data:)', page), "every image must be inline"
    assert "<link" not in page and "<script src" not in page


def test_status_counts_in_header(batch):
    rows, _, _, page = batch
    assert status_counts(rows) == {"ok": 3, "no_hemorrhage": 1, "too_small": 1, "error": 2}
    header = page.split('class="counts">')[1].split("</p>")[0]
    for status, n in (("ok", 3), ("no_hemorrhage", 1), ("too_small", 1), ("error", 2)):
        assert re.search(rf">{status}</span> {n}</span>", header)
    assert "7 case(s)" in page


def test_plots_and_one_thumbnail_per_good_case(batch):
    _, _, _, page = batch
    plots = page.split('<div class="plots">')[1].split("</div>")[0]
    assert plots.count("data:image/png") == 2
    assert 'alt="Hematoma volume (mL) histogram"' in plots and 'alt="Probability of expansion histogram"' in plots
    # a, b, normal, tiny have CT + mask; nomask (no mask file) and the errors have none
    assert page.count('alt="thumbnail of') == 4
    assert page.count("data:image/png") == 2 + 4
    for case_id in ("b", "normal", "tiny"):
        assert f'alt="thumbnail of {case_id}"' in page
    assert 'alt="thumbnail of a&amp;1"' in page
    for case_id in ("nomask", "broken", "broken2"):
        assert f'alt="thumbnail of {case_id}"' not in page


def test_thumbnails_are_small_pngs(batch):
    _, _, _, page = batch
    from PIL import Image

    for b64 in re.findall(r'alt="thumbnail of [^"]*" src="data:image/png;base64,([^"]+)"', page):
        img = Image.open(io.BytesIO(base64.b64decode(b64)))
        assert img.format == "PNG" and max(img.size) == THUMB_PX


def test_links_to_existing_reports_only(batch):
    _, _, _, page = batch
    assert '<a href="cases/b/report.html">b</a>' in page
    assert '<a href="cases/normal/report.html">normal</a>' in page
    assert '<a href="cases/a%261/report.html">a&amp;1</a>' in page  # URL-quoted href, escaped text
    assert "cases/nomask/report.html" not in page and "<td>nomask</td>" in page
    assert "cases/broken/" not in page


def test_error_escaped_and_shown_in_full(batch):
    _, _, _, page = batch
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; could not read &amp; parse" in page
    assert "x\n" * 300 in page  # not truncated


def test_missing_values_blank_and_numbers_formatted(batch):
    rows, _, _, page = batch
    assert numeric_values(rows, "he_probability") == [0.31, 0.72, 0.5]
    assert len(numeric_values(rows, "volume_ml")) == 5
    assert "<td>None</td>" not in page and "<td>12.5</td>" in page and "<td>0.72</td>" in page


def test_no_values_no_plot_and_no_rows(tmp_path):
    out = write_batch_summary([], tmp_path / "cases", tmp_path / "s.html", COLUMNS)
    page = out.read_text()
    assert "data:image/png" not in page and "no case has a value" in page
    assert "0 case(s)" in page


def test_thumbnail_shows_max_area_slice_outlines(small_sample_case):
    ct, labels, _ = small_sample_case
    rgb = thumbnail_rgb(ct, labels)
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3 and max(rgb.shape[:2]) == THUMB_PX
    red = np.all(rgb == (255, 48, 48), axis=2).sum()
    cyan = np.all(rgb == (48, 220, 255), axis=2).sum()
    assert red > 10
    k = int((ct.to_canonical_array(labels) > 0).sum(axis=(1, 2)).argmax())
    assert (cyan > 0) == bool((ct.to_canonical_array(labels)[k] == 2).any())
    empty = thumbnail_rgb(ct, np.zeros_like(labels))
    assert not np.any((empty[..., 0] != empty[..., 1]) | (empty[..., 1] != empty[..., 2])), "grey only"


def test_thumbnail_respects_physical_aspect(small_sample_case):
    ct, labels, _ = small_sample_case
    wide = ct.like(ct.array)
    wide.spacing = (ct.spacing[0] * 2, ct.spacing[1], ct.spacing[2])  # columns twice as wide
    rgb = thumbnail_rgb(wide, labels)
    assert rgb.shape[1] == THUMB_PX and rgb.shape[0] == THUMB_PX // 2


def test_thumbnail_never_raises(tmp_path, small_sample_case):
    ct, labels, _ = small_sample_case
    assert case_thumbnail(tmp_path / "no.nii.gz", tmp_path / "nomask.nii.gz") is None
    ct_path = tmp_path / "ct.nii.gz"
    ct_path.write_bytes(b"garbage")
    mask = write_labels(ct, labels, tmp_path / "mask.nii.gz")
    assert case_thumbnail(ct_path, mask) is None
    sitk.WriteImage(ct.to_sitk(), str(ct_path))
    cropped = CTImage(ct.array[:-1], ct.spacing, ct.origin, ct.direction)
    wrong = write_labels(cropped, labels[:-1], tmp_path / "wrong.nii.gz")  # mask on another grid
    assert case_thumbnail(ct_path, wrong) is None
    assert case_thumbnail(ct_path, mask) is not None


def test_summary_embeds_the_thumbnail_the_worker_stored_without_reading_the_scan(tmp_path):
    from HematomaExpansionLib.outputs.batch_summary import write_case_thumbnail

    ct, labels, _ = make_sample_case(1, shape=(20, 128, 128), spacing=(8.0, 1.8, 1.8), hematoma_ml=25.0)
    case_dir = tmp_path / "cases" / "c1"
    case_dir.mkdir(parents=True)
    write_case_thumbnail(ct, labels, case_dir)
    rows = [{"case_id": "c1", "input": str(tmp_path / "scan-moved-away.nii.gz"), "status": "ok", "volume_ml": 25.0}]
    page = write_batch_summary(rows, tmp_path / "cases", tmp_path / "results.html", ["case_id", "status", "volume_ml"])
    assert 'alt="thumbnail of c1"' in page.read_text()
