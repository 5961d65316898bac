"""The expansion model: baseline CT + hemorrhage labels (+ clinical inputs) → calibrated HE probability.

Features of one case (``case_features``), all computed on the baseline scan:
- volumes: IPH / IVH volume (mL), log IPH volume, IVH present;
- NCCT signs (``features.signs.measure_signs``, tabled in docs/ncct_signs.md): hypodensity, black
  hole, swirl, blend, satellites, islands, irregularity, heterogeneity;
- radiomics of the IPH (``features.radiomics``, pyradiomics names, committed parameter file); only
  the ones a classifier weighs are computed (``radiomics_features``);
- deep features: the penultimate layer of the 2.5D CNN (``features.deep``), when the model has one;
- clinical (only when given): onset-to-CT hours (and its log), anticoagulation, warfarin, recurrent ICH.

Re-scoring the same CT with an edited mask reuses the CT's mask-independent work
(``features.ct_cache``: keyed by voxel content and geometry); the results are those of a fresh
computation (Testing/test_rescore_cache.py).

A bundled model file holds two fitted fusion classifiers: ``full`` (image + clinical) and
``image_only``. Prediction uses ``full`` when every clinical input it weighs is given, otherwise
``image_only`` — a missing clinical value is never imputed; which variant ran is reported in
``scores["model_variant"]``.

Models are found through ``models/manifest.json`` (``{"models": {id: {"file", "sha256", "version",
"kind": "expansion", "definition", ...}}}``); every file is checked against its sha256 before use.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core import config
from ..core.ct_image import CTImage
from ..core.errors import ModelError, SegmentationError
from ..core.model_registry import read_manifest, verify_file
from ..core.results import Contribution, ModelOutput
from ..features import ct_cache
from ..features.case_features import FEATURE_VERSION, image_features
from ..features.clinical import CLINICAL_FEATURES, clinical_features, unused_clinical_inputs
from ..features.deep import DeepFeatureExtractor
from ..features.density import calibrated, density_report
from ..features.radiomics import radiomics_names
from .classifier import risk_band
from .clinical_scores import scores as clinical_scores
from .growth_classifier import classifier_from_dict
from .labels import DEFAULT_DEFINITION, check_definition

MODEL_FORMAT = "hematoma-expansion/expansion-model/1"
N_TOP_CONTRIBUTIONS = 8


class ExpansionPredictor:
    def __init__(self, model: dict[str, Any], model_id: str, version: str, definition: str,
                 model_dir: Path | None = None, entry: dict[str, Any] | None = None):
        if model.get("format") != MODEL_FORMAT:
            raise ModelError(f"model {model_id}: unsupported format {model.get('format')!r} (expected {MODEL_FORMAT})")
        self.model_id = model_id
        self.version = version
        self.definition = definition
        self.entry = entry or {}
        self.filters = tuple(model.get("radiomics_filters", ["Original"]))
        try:
            self.variants = {k: classifier_from_dict(v) for k, v in model["variants"].items()}
        except (KeyError, ValueError) as exc:
            raise ModelError(f"model {model_id}: bad classifier parameters ({exc})") from None
        if "image_only" not in self.variants:
            raise ModelError(f"model {model_id} has no image_only classifier")
        # the pyradiomics features some classifier weighs: the only ones computed (~12 of ~100)
        self.radiomics_features = radiomics_names(n for v in self.variants.values() for n in v.selected_names)
        self.cnn = None
        if model.get("cnn"):
            cnn = model["cnn"]
            path = Path(model_dir or ".") / cnn["file"]
            verify_file(path, cnn.get("sha256"), f"model {model_id} CNN weights")
            self.cnn = DeepFeatureExtractor.load(path, cnn.get("config", {}))
        self.model = model

    @classmethod
    def from_file(cls, path: str | Path, model_id: str | None = None) -> "ExpansionPredictor":
        p = Path(path)
        try:
            model = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"cannot read expansion model {p}: {exc}") from None
        return cls(model, model_id or model.get("model_id", p.stem), model.get("version", "?"),
                   model.get("definition", "conventional"), p.parent)

    @classmethod
    def load(cls, models_dir: str | Path | None = None, definition: str | None = None,
             model_id: str | None = None) -> "ExpansionPredictor":
        mdir = Path(models_dir) if models_dir is not None else config.models_dir()
        manifest = read_manifest(mdir)
        entries = {k: v for k, v in manifest.get("models", {}).items() if v.get("kind") == "expansion"}
        if not entries:
            raise ModelError(f"the manifest in {mdir} lists no expansion model")
        if model_id is not None:
            if model_id not in entries:
                raise ModelError(f"no expansion model {model_id!r} in {mdir}; available: {', '.join(sorted(entries))}")
            chosen = model_id
        else:
            want = check_definition(definition) if definition else DEFAULT_DEFINITION
            matching = sorted(k for k, v in entries.items() if v.get("definition") == want)
            if not matching:
                have = sorted({v.get("definition") for v in entries.values()})
                raise ModelError(
                    f"no bundled expansion model for definition {want!r} (available: {', '.join(map(str, have))}); "
                    f"train one with `hematoma-expansion train COHORT.csv --definition {want}`"
                )
            chosen = matching[0]
        entry = entries[chosen]
        path = mdir / entry["file"]
        verify_file(path, entry.get("sha256"), f"expansion model {chosen}")
        for extra in entry.get("extra_files", []):
            verify_file(mdir / extra["file"], extra.get("sha256"), f"expansion model {chosen}")
        try:
            model = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ModelError(f"expansion model {path} is not valid JSON: {exc}") from None
        return cls(model, chosen, str(entry.get("version", model.get("version", "?"))),
                   entry.get("definition", model.get("definition")), mdir, entry)

    # --- features + prediction ----------------------------------------------------------------
    def case_features(self, ct: CTImage, labels: np.ndarray, want_gradcam: bool = False):
        """(features, Grad-CAM or None, timings), measured on the density-calibrated scan (``features.density``).
        The mask-independent work on ``ct`` is kept in ``features.ct_cache`` for the next call on the same
        CT (re-scoring an edited mask)."""
        t0 = time.perf_counter()
        cache = ct_cache.lookup(ct)
        cache_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = density_report(ct, cache)
        timings = {"ct_cache": cache_s, "density_calibration": time.perf_counter() - t0}
        gradcam = None
        with calibrated(ct, report) as read:
            feats, feature_timings = image_features(read, labels, self.filters, self.radiomics_features, cache)
            timings.update(feature_timings)
            if self.cnn is not None:
                t0 = time.perf_counter()
                deep, gradcam = self.cnn.features(read, labels, gradcam=want_gradcam)
                feats.update(deep)
                timings["deep_features"] = time.perf_counter() - t0
        return feats, gradcam, timings

    def choose_variant(self, clin: dict[str, float]) -> tuple[str, list[str]]:
        full = self.variants.get("full")
        if full is None:
            return "image_only", []
        # only the clinical inputs the fitted model actually weighs are required; a missing input it
        # does not use (not selected, or a zero weight) would be median-imputed with no effect
        weighs = full.weighted_names()
        needed = [n for n in full.feature_names if n in CLINICAL_FEATURES and n in weighs]
        missing = [n for n in needed if n not in clin]
        return ("full", []) if not missing else ("image_only", missing)

    def predict(self, ct: CTImage, labels: np.ndarray, clinical: dict[str, Any] | None = None) -> ModelOutput:
        t_start = time.perf_counter()
        labels = np.asarray(labels)
        if labels.shape != ct.shape:
            raise SegmentationError(f"mask grid {labels.shape} does not match the CT grid {ct.shape}")
        clin = clinical_features(clinical)
        feats, gradcam, timings = self.case_features(ct, labels, want_gradcam=True)
        feats.update(clin)
        variant, missing = self.choose_variant(clin)
        clf = self.variants[variant]
        t0 = time.perf_counter()
        p = float(clf.predict_proba(feats)[0])
        contribs = [Contribution(n, v, c) for n, v, c in clf.contributions(feats)[:N_TOP_CONTRIBUTIONS]]
        timings["classifier"] = time.perf_counter() - t0
        sc = clinical_scores(feats, feats["volume_iph_ml"], feats["volume_ivh_ml"], clinical)
        sc["model_variant"] = {
            "variant": variant,
            "missing_clinical": sorted({m.replace("log_", "") for m in missing}),
            "note": ("image + clinical model" if variant == "full" else
                     "image-only model (clinical inputs " + (", ".join(sorted({m.replace('log_', '') for m in missing})) or "none")
                     + " not given; not imputed)") if self.variants.get("full") else "image-only model",
        }
        sc["model_variant"]["unused_clinical_inputs"] = unused_clinical_inputs(clinical)
        if gradcam is not None:
            gradcam = np.asarray(gradcam, np.float32)  # the CNN's own new map: clipped in place (315 MB on a thin scan)
            np.clip(gradcam, 0.0, 1.0, out=gradcam)
        timings["total_model"] = time.perf_counter() - t_start
        used = set(clf.selected_names)
        return ModelOutput(
            probability=p,
            risk_band=risk_band(p),
            definition=self.definition,
            model_id=self.model_id,
            model_version=self.version,
            feature_version=FEATURE_VERSION,
            contributions=contribs,
            features={k: float(v) for k, v in feats.items() if k in used or k.startswith(("volume_", "sign_")) or k in clin},
            scores=sc,
            gradcam=gradcam,
            timings=timings,
        )
