"""A hemorrhage that reaches the scan's first/last slice or the field-of-view edge is flagged in
every output: it may extend beyond the scan, so its volume and prediction may be too low."""

from __future__ import annotations

import json

import numpy as np

from HematomaExpansionLib.core.ct_image import CTImage
from HematomaExpansionLib.features.measurement import scan_edge_warnings
from HematomaExpansionLib.pipeline.run_case import run_pipeline


def _cropped_to_the_hematoma_top(ct, labels):
    """The scan cut just below the hematoma's highest slice, so the blood reaches the top slice."""
    ks = np.nonzero((labels > 0).any(axis=(1, 2)))[0]
    top = int(ks[len(ks) // 2]) + 1
    # slices are removed above the cut only, so the grid origin is unchanged
    return CTImage(ct.array[:top], ct.spacing, ct.origin, ct.direction), labels[:top]


def test_hemorrhage_inside_the_scan_gives_no_warning(small_sample_case):
    ct, labels, _ = small_sample_case
    assert scan_edge_warnings(ct, labels) == []


def test_hemorrhage_reaching_the_last_slice_is_warned(small_sample_case):
    ct, labels = _cropped_to_the_hematoma_top(*small_sample_case[:2])
    (warning,) = scan_edge_warnings(ct, labels)
    assert "slice of the scan" in warning and "underestimated" in warning


def test_hemorrhage_reaching_the_field_of_view_edge_is_warned(small_sample_case):
    ct, labels, _ = small_sample_case
    cols = np.nonzero((labels > 0).any(axis=(0, 1)))[0]
    cut = int(cols[len(cols) // 2])
    origin = ct.ijk_to_lps() @ np.array([cut, 0, 0, 1.0])  # voxel (i=cut, j=0, k=0) becomes the corner
    edge_ct = CTImage(ct.array[:, :, cut:], ct.spacing, tuple(origin[:3]), ct.direction)
    warnings = scan_edge_warnings(edge_ct, labels[:, :, cut:])
    assert any("field of view" in w for w in warnings)


def test_the_warning_reaches_result_json_and_the_report(small_sample_case, tmp_path):
    from HematomaExpansionLib.outputs.case_outputs import write_case_outputs

    ct, labels = _cropped_to_the_hematoma_top(*small_sample_case[:2])
    prediction = run_pipeline(ct, mask=labels)
    assert any("slice of the scan" in w for w in prediction.warnings)
    paths = write_case_outputs(ct, prediction, tmp_path)
    doc = json.loads(paths["result"].read_text())
    assert any("slice of the scan" in w for w in doc["warnings"])
    assert "slice of the scan" in paths["report"].read_text()
