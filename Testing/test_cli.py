"""The CLI contract: commands, outputs, exit codes and one-line errors for user mistakes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib.cli.main import main
from HematomaExpansionLib.core.errors import HematomaExpansionError
from HematomaExpansionLib.features.clinical import parse_clinical


@pytest.fixture(scope="module")
def sample_ct_file(tmp_path_factory, small_sample_case):
    ct, labels, info = small_sample_case
    d = tmp_path_factory.mktemp("cli")
    path = d / "ct.nii.gz"
    sitk.WriteImage(ct.to_sitk(ct.array.astype(np.int16)), str(path))
    return path, info


def test_help_lists_the_whole_surface(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("segment", "predict", "batch", "label", "train", "evaluate", "demo"):
        assert command in out


def test_segment_writes_mask_on_ct_grid(sample_ct_file, tmp_path, capsys):
    path, info = sample_ct_file
    out = tmp_path / "m.nii.gz"
    assert main(["segment", str(path), "--output", str(out), "--method", "classic"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["volume_ml"] == pytest.approx(info["volume_ml"], rel=0.15)
    assert summary["density_calibration"] == {} and summary["warnings"] == []  # classic: no network input
    mask, ct = sitk.ReadImage(str(out)), sitk.ReadImage(str(path))
    assert mask.GetSize() == ct.GetSize()
    assert np.allclose(mask.GetSpacing(), ct.GetSpacing()) and np.allclose(mask.GetOrigin(), ct.GetOrigin())
    assert set(np.unique(sitk.GetArrayFromImage(mask))) <= {0, 1, 2}


def _missing(d):
    return d / "missing.nii.gz"


def _text_file(d):
    (d / "t.nii.gz").write_text("text")
    return d / "t.nii.gz"


def _empty_folder(d):
    (d / "empty").mkdir()
    return d / "empty"


@pytest.mark.parametrize(
    "make_input, message",
    [(_missing, "no such file"), (_text_file, "not a readable image"), (_empty_folder, "folder is empty")],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, make_input, message):
    rc = main(["segment", str(make_input(tmp_path)), "--output", str(tmp_path / "o.nii.gz")])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_mr_like_and_4d_inputs(tmp_path, capsys, rng):
    mr = tmp_path / "mr.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray((rng.random((20, 64, 64)) * 900).astype(np.int16)), str(mr))
    four = tmp_path / "4d.nii.gz"
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(np.zeros((10, 32, 32), np.int16))] * 2), str(four))
    flat = tmp_path / "2d.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((32, 32), np.int16)), str(flat))
    for path, message in ((mr, "MR"), (four, "4D"), (flat, "2D")):
        assert main(["predict", str(path), "--output-dir", str(tmp_path / "o")]) == 2
        assert message in capsys.readouterr().err


def test_clinical_parsing():
    assert parse_clinical(["onset_to_ct_hours=2.5", "anticoagulation=warfarin", "recurrent_ich=no"]) == {
        "onset_to_ct_hours": 2.5, "anticoagulation": "warfarin", "recurrent_ich": False}
    with pytest.raises(HematomaExpansionError, match="KEY=VALUE"):
        parse_clinical(["onset"])


def test_console_script_is_installed(tmp_path):
    # the venv's bin folder, whether or not the venv is activated (make test runs .venv/bin/python directly)
    exe = shutil.which("hematoma-expansion", path=str(Path(sys.executable).parent))
    assert exe, f"no hematoma-expansion console script beside {sys.executable} (pip install -e . provides it)"
    proc = subprocess.run([exe, "segment", str(tmp_path / "nope.nii.gz"), "-o", str(tmp_path / "x.nii.gz")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error:")
