"""Batch at archive scale: per-case inputs from a case table, resume keyed on the models, and the
same results on a real Dask LocalCluster as on this machine."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib.core import config
from HematomaExpansionLib.io.ct_files import write_labels
from HematomaExpansionLib.pipeline.batch import BatchOptions, run_batch
from HematomaExpansionLib.pipeline.batch_inputs import collect_cases
from HematomaExpansionLib.simulation.sample import make_sample_case

SMALL = {"shape": (20, 128, 128), "spacing": (8.0, 1.8, 1.8)}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("archive")
    for seed in (1, 2, 3):
        ct, labels, _ = make_sample_case(seed, hematoma_ml=15.0 + 8 * seed, **SMALL)
        sitk.WriteImage(ct.to_sitk(ct.array.astype(np.int16)), str(d / f"ich{seed}.nii.gz"))
        write_labels(ct, labels, d / f"ich{seed}_mask.nii.gz")
    ct, _, _ = make_sample_case(7, with_hemorrhage=False, **SMALL)
    sitk.WriteImage(ct.to_sitk(ct.array.astype(np.int16)), str(d / "normal.nii.gz"))
    (d / "notes.nii.gz").write_text("this is a text file")
    return d


def _table(archive, rows):
    path = archive / "cases.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ct", "mask", "patient_id", "onset_to_ct_h", "anticoagulation", "recurrent_ich", "age"])
        writer.writerows(rows)
    return path


def test_case_table_gives_each_scan_its_mask_patient_and_clinical_values(archive, tmp_path):
    table = _table(archive, [
        ["ich1.nii.gz", "ich1_mask.nii.gz", "P1", "1.5", "warfarin", "no", "71"],
        ["ich2.nii.gz", "", "P2", "", "", "", ""],
        ["normal.nii.gz", "", "P3", "4", "no", "no", "66"],
    ])
    cases = collect_cases([str(table)])
    assert [c.path.name for c in cases] == ["ich1.nii.gz", "ich2.nii.gz", "normal.nii.gz"]
    assert cases[0].mask == archive / "ich1_mask.nii.gz" and cases[1].mask is None
    assert cases[0].clinical == {"onset_to_ct_h": 1.5, "anticoagulation": "warfarin", "recurrent_ich": False, "age": 71.0}
    assert cases[1].clinical == {}  # empty cells are "not given", never imputed
    rows = run_batch(cases, tmp_path / "r.csv", BatchOptions(seg_method="classic"), progress=False)
    first = json.loads((tmp_path / "r_cases" / rows[0]["case_id"] / "result.json").read_text())
    assert first["mask_source"] == "user"  # the table's mask, not a segmentation
    assert first["scores"]["model_variant"]["variant"] == "full"  # every clinical input the model weighs given
    assert "age" in first["scores"]["model_variant"]["unused_clinical_inputs"]
    second = json.loads((tmp_path / "r_cases" / rows[1]["case_id"] / "result.json").read_text())
    assert second["scores"]["model_variant"]["variant"] == "image_only"
    table_rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [r["patient_id"] for r in table_rows] == ["P1", "P2", "P3"]  # carried through
    assert [r["anticoagulation"] for r in table_rows] == ["warfarin", "", "no"]
    assert [r["status"] for r in table_rows] == ["ok", "ok", "no_hemorrhage"]


def test_a_changed_model_redoes_every_case(archive, tmp_path, monkeypatch):
    models = tmp_path / "models"
    shutil.copytree(config.models_dir(), models)
    cases = collect_cases([str(archive / "ich1.nii.gz"), str(archive / "notes.nii.gz")])
    options = BatchOptions(seg_method="classic", models_dir=str(models))
    first = run_batch(cases, tmp_path / "r.csv", options, progress=False)
    assert all(r["seconds"] == 0.0 for r in run_batch(cases, tmp_path / "r.csv", options, progress=False))
    error_file = tmp_path / "r_cases" / first[1]["case_id"] / "error.json"
    before = json.loads(error_file.read_text())["fingerprint"]
    manifest = json.loads((models / "manifest.json").read_text())
    entry = next(e for e in manifest["models"].values() if e.get("kind") == "expansion")
    with open(models / entry["file"], "a") as f:
        f.write("\n")  # the same model with one more byte: a new sha256
    entry["sha256"] = __import__("hashlib").sha256((models / entry["file"]).read_bytes()).hexdigest()
    (models / "manifest.json").write_text(json.dumps(manifest))
    rerun = run_batch(cases, tmp_path / "r.csv", options, progress=False)
    assert rerun[0]["seconds"] > 0 and rerun[0]["status"] == "ok"
    assert json.loads(error_file.read_text())["fingerprint"] != before  # the failure is redone too


def test_dask_local_cluster_gives_the_same_results_as_the_local_executor(archive, tmp_path):
    pytest.importorskip("distributed")
    cases = collect_cases([str(archive / f"ich{s}.nii.gz") for s in (1, 2)] + [str(archive / "normal.nii.gz"),
                                                                            str(archive / "notes.nii.gz")])
    options = BatchOptions(seg_method="classic")
    local = run_batch(cases, tmp_path / "local.csv", options, progress=False)
    dask = run_batch(cases, tmp_path / "dask.csv", options, progress=False, workers=2, executor="dask")
    keys = ("status", "error", "volume_ml", "iph_volume_ml", "ivh_volume_ml", "abc2_ml", "he_probability",
            "risk_band", "model_id", "model_version", "mask_source")
    assert [[r.get(k) for k in keys] for r in dask] == [[r.get(k) for k in keys] for r in local]
    assert {r["status"] for r in dask} == {"ok", "no_hemorrhage", "error"}
