"""predict and batch end to end on generated scans, with the bundled models."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk

from HematomaExpansionLib.cli.main import main
from HematomaExpansionLib.core import config
from HematomaExpansionLib.pipeline.batch import BatchOptions, run_batch
from HematomaExpansionLib.pipeline.batch_inputs import collect_inputs
from HematomaExpansionLib.simulation.sample import make_sample_case


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    d = tmp_path_factory.mktemp("scans")
    paths = []
    for seed in (1, 2):
        ct, _, _ = make_sample_case(seed, shape=(20, 128, 128), spacing=(8.0, 1.8, 1.8), hematoma_ml=20.0 + 10 * seed)
        p = d / f"case{seed}.nii.gz"
        sitk.WriteImage(ct.to_sitk(ct.array.astype(np.int16)), str(p))
        paths.append(p)
    bad = d / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    ct, _, _ = make_sample_case(9, shape=(20, 128, 128), spacing=(8.0, 1.8, 1.8), with_hemorrhage=False)
    clean = d / "nobleed.nii.gz"
    sitk.WriteImage(ct.to_sitk(ct.array.astype(np.int16)), str(clean))
    return d, paths, bad, clean


def test_predict_writes_contract_outputs(scans, tmp_path, capsys):
    _, paths, _, _ = scans
    out = tmp_path / "pred"
    rc = main(["predict", str(paths[0]), "--output-dir", str(out), "--method", "classic",
               "--clinical", "onset_to_ct_hours=1.5", "anticoagulation=none"])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    summary = json.loads(printed.out.strip().splitlines()[0])
    result = json.loads((out / "result.json").read_text())
    assert summary["model_version"] == result["model_version"]
    assert summary["model_variant"] == result["scores"]["model_variant"]["note"]  # which classifier ran
    for key in ("volume_ml", "ivh_volume_ml", "abc2_ml", "he_probability", "risk_band", "definition",
                "model_id", "model_version", "feature_version", "features_used", "timings_s"):
        assert key in result, key
    assert 0.0 <= result["he_probability"] <= 1.0
    assert result["mask_source"] == "classic"
    assert result["definition"] in ("conventional", "large", "revised")
    assert (out / "mask.nii.gz").exists() and (out / "report.html").exists()
    assert (out / "gradcam.nii.gz").exists()
    heat = sitk.ReadImage(str(out / "gradcam.nii.gz"))
    ct = sitk.ReadImage(str(paths[0]))
    assert heat.GetSize() == ct.GetSize() and np.allclose(heat.GetOrigin(), ct.GetOrigin())
    h = sitk.GetArrayFromImage(heat)
    assert h.min() >= 0 and h.max() <= 1 and h.max() > 0
    report = (out / "report.html").read_text()
    assert "data:image/png;base64," in report
    assert "BAT score" in report and " of 5, " in report and "{&#x27;value" not in report  # readable, not a repr
    assert "not computable: missing recurrent_ich" in report
    assert f"v{result['model_version']} ({result['feature_version']})" in report


def test_predict_is_deterministic(scans, tmp_path):
    _, paths, _, _ = scans
    results = []
    for run in range(2):
        assert main(["predict", str(paths[1]), "--output-dir", str(tmp_path / f"r{run}"), "--method", "classic"]) == 0
        results.append(json.loads((tmp_path / f"r{run}" / "result.json").read_text()))
    assert results[0]["he_probability"] == results[1]["he_probability"]
    assert results[0]["features"] == results[1]["features"]


def test_predict_without_hemorrhage_is_a_clear_error(scans, tmp_path, capsys):
    _, _, _, clean = scans
    assert main(["predict", str(clean), "--output-dir", str(tmp_path / "o"), "--method", "classic"]) == 2
    assert "no hemorrhage" in capsys.readouterr().err


def test_batch_survives_bad_cases_and_resumes(scans, tmp_path):
    d, paths, bad, clean = scans
    inputs = collect_inputs([str(d)])
    assert set(inputs) == {*paths, bad, clean}
    out = tmp_path / "results.csv"
    options = BatchOptions(seg_method="classic")
    rows = run_batch(inputs, out, options, progress=False)
    by_input = {r["input"]: r for r in rows}
    assert by_input[str(bad)]["status"] == "error" and "not a readable image" in by_input[str(bad)]["error"]
    # a scan without hemorrhage is an answer: volume 0, no probability, its outputs written
    normal = by_input[str(clean)]
    assert normal["status"] == "no_hemorrhage" and normal["volume_ml"] == 0 and normal["he_probability"] is None
    normal_dir = out.with_name("results_cases") / normal["case_id"]
    assert (normal_dir / "mask.nii.gz").exists() and (normal_dir / "report.html").exists()
    assert (normal_dir / "thumbnail.png").exists()  # made by the worker, embedded by results.html
    assert all(by_input[str(p)]["status"] == "ok" for p in paths)
    table = list(csv.DictReader(out.open()))
    assert len(table) == 4 and {r["status"] for r in table} == {"ok", "no_hemorrhage", "error"}
    assert [r["he_probability"] for r in table if r["status"] == "no_hemorrhage"] == [""]
    assert out.with_suffix(".json").exists() and out.with_suffix(".html").exists()
    # Re-run with nothing changed: no case is redone, failures included (0 s recorded).
    again = run_batch(inputs, out, options, progress=False)
    assert all(r["seconds"] == 0.0 for r in again)
    assert [(r["status"], r["error"]) for r in again] == [(r["status"], r["error"]) for r in rows]
    assert [r.get("he_probability") for r in again] == [r.get("he_probability") for r in rows]
    # --retry-failed redoes only the failures
    error_file = out.with_name("results_cases") / by_input[str(bad)]["case_id"] / "error.json"
    stamp = error_file.stat().st_mtime_ns
    retried = {r["input"]: r for r in run_batch(inputs, out, options, progress=False, retry_failed=True)}
    assert error_file.stat().st_mtime_ns != stamp and retried[str(bad)]["status"] == "error"
    assert all(retried[str(p)]["seconds"] == 0.0 for p in paths)


def test_batch_cli_exit_status_reports_failures(scans, tmp_path):
    d, paths, bad, clean = scans
    lst = tmp_path / "list.txt"
    lst.write_text(f"# scans\n{paths[0]}\n{bad}\n")
    rc = main(["batch", str(lst), "--output", str(tmp_path / "r.csv"), "--method", "classic", "--no-progress"])
    assert rc == 3
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "error"]
    # normal scans are not failures: the exit status is 0
    lst.write_text(f"{paths[0]}\n{clean}\n")
    assert main(["batch", str(lst), "--output", str(tmp_path / "n.csv"), "--method", "classic", "--no-progress"]) == 0


def test_demo_end_to_end(tmp_path, capsys):
    rc = main(["demo", "--output-dir", str(tmp_path / "demo")])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    assert summary["volume_error_percent"] < 10
    assert 0 <= summary["he_probability"] <= 1
    # the mask source names the segmentation model, its version, its post-processing and the blood threshold
    from HematomaExpansionLib.segmentation import net

    version = json.loads((config.models_dir() / "manifest.json").read_text())["models"][net.MODEL_ID]["version"]
    assert summary["mask_source"] == f"net (seg-attn-unet25d {version} {net.POSTPROCESS_VERSION}, P(blood) >= {net.blood_threshold()})"


def test_clinical_inputs_choose_the_model_and_unused_names_are_reported(small_sample_case):
    from HematomaExpansionLib.expansion.predictor import ExpansionPredictor
    from HematomaExpansionLib.pipeline.run_case import run_pipeline

    ct, labels, _ = small_sample_case
    predictor = ExpansionPredictor.load()
    full = run_pipeline(ct, mask=labels, predictor=predictor, clinical={
        "onset_to_ct_hours": 1.5, "anticoagulation": "warfarin", "recurrent_ich": False, "age": 70.0})
    assert full.model.scores["model_variant"]["variant"] == "full"
    assert full.model.scores["model_variant"]["unused_clinical_inputs"] == ["age"]
    assert any("not used" in w and "age" in w for w in full.warnings)
    # only the clinical inputs the full model weighs are required: given exactly those, it runs;
    # without one of them, the image-only model runs and names what was missing
    from HematomaExpansionLib.features.clinical import CLINICAL_FEATURES

    clf = predictor.variants["full"]
    weighed = sorted({n.replace("log_", "") for n in clf.weighted_names() if n in CLINICAL_FEATURES})
    assert weighed, "the bundled full model weighs no clinical input"
    given = {"onset_to_ct_h": 1.5, "anticoagulation": True, "warfarin": True, "recurrent_ich": False}
    only_weighed = run_pipeline(ct, mask=labels, predictor=predictor, clinical={k: given[k] for k in weighed})
    assert only_weighed.model.scores["model_variant"]["variant"] == "full"
    # warfarin = yes implies anticoagulation, so leave out an input no other one implies
    missing = next(k for k in weighed if k != "anticoagulation" or "warfarin" not in weighed)
    partial = run_pipeline(ct, mask=labels, predictor=predictor,
                           clinical={k: given[k] for k in weighed if k != missing})
    variant = partial.model.scores["model_variant"]
    assert variant["variant"] == "image_only" and missing in variant["missing_clinical"]
    # nothing about clinical inputs (the sample's brain reads 32 HU: only the density calibration is noted)
    assert [w for w in partial.warnings if "models were trained on" not in w] == []


BUNDLED_DEFINITIONS = ("conventional", "large", "revised1", "revised2")


@pytest.mark.parametrize("definition", BUNDLED_DEFINITIONS)
def test_one_bundled_model_per_definition(definition):
    from HematomaExpansionLib.expansion.predictor import ExpansionPredictor

    pred = ExpansionPredictor.load(definition=definition)  # sha256-checked against the manifest
    assert pred.definition == definition and pred.model_id == f"expansion-{definition}"
    assert pred.cnn is not None, "every bundled model carries its CNN (deep features and Grad-CAM)"
    assert set(pred.variants) == {"full", "image_only"}


def test_predict_definition_selects_that_model(scans, tmp_path, capsys):
    _, paths, _, _ = scans
    out = tmp_path / "pred-large"
    rc = main(["predict", str(paths[0]), "--output-dir", str(out), "--method", "classic", "--definition", "revised2"])
    assert rc == 0
    result = json.loads((out / "result.json").read_text())
    assert result["definition"] == "revised2" and result["model_id"] == "expansion-revised2"
    assert 0.0 <= result["he_probability"] <= 1.0
