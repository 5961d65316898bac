"""Train and cross-validate the expansion model from a cohort table.

Cohort CSV (paths relative to the CSV's folder or absolute):
- ``baseline_ct`` (required): baseline NCCT (NIfTI/NRRD; aliases ``ct``, ``image``);
- ``baseline_mask`` (optional; alias ``mask``): labels 1 = IPH, 2 = IVH; segmented automatically when absent;
- ``followup_mask`` (alias ``mask1``) **or** ``label`` (0/1 under the chosen definition; aliases ``he``, ``expansion``):
  with follow-up masks the label is computed for the chosen definition by ``expansion_labels``;
- ``patient_id`` (optional; default ``case_id``/row): cross-validation never splits a patient;
- clinical columns (optional): ``onset_to_ct_h``, ``anticoagulation``, ``warfarin``, ``recurrent_ich``
  (aliases in ``ncct_signs.CLINICAL_ALIASES``). Other columns are ignored.

Per-case image features are cached in ``config.cache_dir()/features`` keyed by the sha256 of the
CT and mask files, the feature version, the radiomics filters and the parameter file, so re-runs
only recompute what changed.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import config
from .errors import CohortError, HematomaExpansionError

CT_COLS = ("baseline_ct", "ct", "image")
MASK_COLS = ("baseline_mask", "mask")
FU_COLS = ("followup_mask", "mask1", "follow_up_mask")
LABEL_COLS = ("label", "he", "expansion")


@dataclass
class Case:
    case_id: str
    patient_id: str
    ct: Path
    mask: Path | None
    followup: Path | None
    label: int | None
    clinical: dict[str, Any] = field(default_factory=dict)
    # True: image features come from the bundled segmenter's mask even when a baseline mask is
    # given (the given mask then only defines the expansion label), as in the one-button pipeline
    segment_baseline: bool = False

    @property
    def feature_mask(self) -> Path | None:
        """The baseline mask image features are measured on (None = auto-segmentation)."""
        return None if self.segment_baseline else self.mask


def _pick(row: dict[str, str], names) -> str | None:
    for n in names:
        v = row.get(n)
        if v is not None and str(v).strip() != "":
            return str(v).strip()
    return None


MASK_SOURCES = ("given", "auto")


def read_cohort(path: str | Path, mask_source: str = "given") -> list[Case]:
    """Cases of a cohort table. ``mask_source`` picks the mask image features are measured on:
    ``given`` = the baseline_mask column (auto-segmentation where it is empty), ``auto`` = always
    the bundled segmenter's mask (the baseline_mask column then only defines the label)."""
    from .ncct_signs import CLINICAL_ALIASES

    if mask_source not in MASK_SOURCES:
        raise CohortError(f"mask source must be one of {', '.join(MASK_SOURCES)}, got {mask_source!r}")

    p = Path(path)
    if not p.exists():
        raise CohortError(f"cohort table not found: {p}")
    try:
        with open(p, newline="") as f:
            rows = [{(k or "").strip().lower(): (v or "") for k, v in r.items()} for r in csv.DictReader(f)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CohortError(f"cannot read cohort table {p} as CSV: {exc}") from None
    if not rows:
        raise CohortError(f"cohort table {p} has no rows")
    cols = set(rows[0])
    if not cols & set(CT_COLS):
        raise CohortError(f"cohort table {p} needs a 'baseline_ct' column (found: {', '.join(sorted(cols))})")
    if not cols & (set(FU_COLS) | set(LABEL_COLS)):
        raise CohortError(f"cohort table {p} needs a 'followup_mask' or a 'label' column")
    clin_names = {a for al in CLINICAL_ALIASES.values() for a in al}
    cases = []
    for i, r in enumerate(rows, start=2):
        def res(v):
            if v is None:
                return None
            q = Path(v)
            return q if q.is_absolute() else (p.parent / q)

        ct = res(_pick(r, CT_COLS))
        if ct is None:
            raise CohortError(f"{p}, line {i}: empty baseline_ct")
        if not ct.exists():
            raise CohortError(f"{p}, line {i}: baseline CT not found: {ct}")
        mask = res(_pick(r, MASK_COLS))
        if mask is not None and not mask.exists():
            raise CohortError(f"{p}, line {i}: baseline mask not found: {mask}")
        fu = res(_pick(r, FU_COLS))
        if fu is not None and not fu.exists():
            raise CohortError(f"{p}, line {i}: follow-up mask not found: {fu}")
        lab = _pick(r, LABEL_COLS)
        label = None
        if lab is not None:
            if lab.lower() in ("1", "true", "yes"):
                label = 1
            elif lab.lower() in ("0", "false", "no"):
                label = 0
            else:
                raise CohortError(f"{p}, line {i}: label must be 0/1, got {lab!r}")
        if fu is None and label is None:
            raise CohortError(f"{p}, line {i}: neither a follow-up mask nor a label")
        cid = _pick(r, ("case_id", "id")) or f"row{i}"
        pid = _pick(r, ("patient_id", "patient")) or cid
        clinical = {k: v for k, v in r.items() if k in clin_names and str(v).strip() != ""}
        cases.append(Case(cid, pid, ct, mask, fu, label, clinical, segment_baseline=mask_source == "auto"))
    return cases


def case_label(case: Case, definition: str) -> int:
    from .expansion_labels import label_from_files

    if case.followup is not None and case.mask is not None:
        return int(label_from_files(case.mask, case.followup).label(definition))
    if case.label is not None:
        return int(case.label)
    raise CohortError(f"case {case.case_id}: a follow-up mask needs a baseline mask to compute the label")


# --- feature cache ---------------------------------------------------------------------------
def _file_hash(path: Path, memo: dict[str, str] = {}) -> str:  # noqa: B006 (process-wide memo)
    from .expansion_model import sha256_file

    st = path.stat()
    key = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    if key not in memo:
        memo[key] = sha256_file(path)
    return memo[key]


def auto_segmentation_identity() -> str:
    """What segments cases without a mask: method, model version, threshold and weights' sha256
    (so cached features are recomputed when the bundled segmentation model changes)."""
    from .segmentation import describe_method, resolve_method

    ident = f"auto-segmentation: {describe_method('auto')}"
    if resolve_method("auto") == "net":
        from .segmentation_net import POSTPROCESS_VERSION, _manifest_entry

        entry = _manifest_entry()
        ident += f" sha256 {entry[1].get('sha256', '') if entry else ''} {POSTPROCESS_VERSION}"
    return ident


def feature_cache_key(case: Case, filters) -> str:
    from .expansion_model import FEATURE_VERSION
    from .radiomics_features import PARAMS_FILE

    parts = {
        "ct": _file_hash(case.ct),
        "mask": _file_hash(case.feature_mask) if case.feature_mask else auto_segmentation_identity(),
        "version": FEATURE_VERSION, "filters": list(filters), "params": _file_hash(PARAMS_FILE),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def load_case(case: Case):
    """The case's CT and the labels its image features are measured on (``Case.feature_mask``)."""
    from .ct_io import read_ct
    from .ct_image import CTImage

    try:
        ct = read_ct(str(case.ct))
    except HematomaExpansionError as exc:
        raise CohortError(f"case {case.case_id}: {exc}") from None
    if case.feature_mask is not None:
        import SimpleITK as sitk

        m = sitk.ReadImage(str(case.feature_mask))
        labels = sitk.GetArrayFromImage(m).astype(np.uint8)
        if labels.shape != ct.shape:
            raise CohortError(f"case {case.case_id}: baseline mask grid {labels.shape} differs from the CT grid {ct.shape}")
        labels[(labels > 2)] = 1
    else:
        labels = _auto_segmentation(case, ct)
    assert isinstance(ct, CTImage)
    return ct, labels


def _auto_segmentation(case: Case, ct) -> np.ndarray:
    """The bundled segmenter's labels for an unmasked case, cached per CT and segmentation model
    (features and the CNN both need them; a rerun of train/evaluate reuses them)."""
    from .segmentation import segment

    key = hashlib.sha256(f"{_file_hash(case.ct)}|{auto_segmentation_identity()}".encode()).hexdigest()
    path = config.cache_dir() / "masks" / f"{key}.npz"
    if path.exists():
        try:
            labels = np.load(path)["labels"]
            if labels.shape == ct.shape:
                return labels
        except (OSError, ValueError, KeyError):
            pass
    labels = segment(ct, method="auto")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    np.savez_compressed(tmp, labels=labels)
    tmp.replace(path)
    return labels


def case_image_features(case: Case, filters=("Original",), use_cache: bool = True) -> dict[str, float]:
    from .expansion_model import image_features

    cdir = config.cache_dir() / "features"
    key = feature_cache_key(case, filters)
    cpath = cdir / f"{key}.json"
    if use_cache and cpath.exists():
        try:
            return json.loads(cpath.read_text())["features"]
        except (json.JSONDecodeError, KeyError):
            pass
    ct, labels = load_case(case)
    if not np.any(labels > 0):
        raise CohortError(f"case {case.case_id}: the baseline mask is empty (no hemorrhage to score)")
    feats, _ = image_features(ct, labels, filters)
    if use_cache:
        cdir.mkdir(parents=True, exist_ok=True)
        tmp = cpath.with_suffix(".tmp")
        tmp.write_text(json.dumps({"case_id": case.case_id, "features": feats}))
        tmp.replace(cpath)
    return feats


def _single_threaded_worker() -> None:
    import SimpleITK as sitk

    # the worker processes already use every core; threads inside each one only add contention
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:  # the segmenter (cases without a mask) runs torch in the worker
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def extract_features(cases: list[Case], filters=("Original",), progress: bool = True, use_cache: bool = True,
                     desc: str = "features", workers: int = 1) -> list[dict[str, float]]:
    """Image features of every case, in cohort order; ``workers`` > 1 extracts in parallel processes."""
    from tqdm import tqdm

    if workers <= 1 or len(cases) < 2:
        return [case_image_features(c, filters, use_cache) for c in tqdm(cases, desc=desc, disable=not progress)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    job = partial(case_image_features, filters=tuple(filters), use_cache=use_cache)
    # spawn, not fork: by now this process may have started torch's thread pool (a model was
    # loaded), and forked children that segment with torch then wait forever on its locks
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, initializer=_single_threaded_worker, mp_context=ctx) as pool:
        return list(tqdm(pool.map(job, cases), total=len(cases), desc=desc, disable=not progress))


def assemble(feats: list[dict[str, float]], cases: list[Case], with_clinical: bool,
             names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    from .expansion_model import clinical_features

    rows = []
    for f, c in zip(feats, cases):
        r = dict(f)
        if with_clinical:
            r.update(clinical_features(c.clinical))
        rows.append(r)
    if names is None:
        keys = set(rows[0])
        for r in rows[1:]:
            keys &= set(r)
        names = sorted(keys)
    X = np.array([[float(r.get(n, np.nan)) for n in names] for r in rows], float)
    return X, names


def bat_values(feats: list[dict[str, float]], cases: list[Case]) -> np.ndarray:
    from .ncct_signs import bat_score, normalize_clinical

    out = []
    for f, c in zip(feats, cases):
        b = bat_score(f, normalize_clinical(c.clinical))["value"]
        out.append(np.nan if b is None else float(b))
    return np.array(out)


# --- cross-validation ------------------------------------------------------------------------
def patient_folds(patients: list[str], y: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold over patients: all rows of one patient land in the same fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(y).astype(int)
    n_pos_patients = len({p for p, t in zip(patients, y) if t == 1})
    n_neg_patients = len({p for p, t in zip(patients, y) if t == 0})
    k = max(2, min(k, n_pos_patients, n_neg_patients))
    if min(n_pos_patients, n_neg_patients) < 2:
        raise CohortError("cross-validation needs at least 2 expanding and 2 non-expanding patients")
    sgk = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in sgk.split(np.zeros(len(y)), y, groups=np.asarray(patients))]


def _logistic_1d(x_tr, y_tr):
    from sklearn.linear_model import LogisticRegression

    x_tr = np.asarray(x_tr, float).reshape(-1, 1)
    return LogisticRegression(C=1e4, max_iter=5000).fit(x_tr, y_tr)


def cross_validate(cases: list[Case], feats: list[dict[str, float]], y: np.ndarray, clf_params: dict[str, Any],
                   k: int = 5, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Out-of-fold probabilities of the fusion model and of the volume-only and BAT baselines."""
    from tqdm import tqdm

    from .classifier import FusionClassifier

    with_clin = all(_has_clinical(c) for c in cases)
    X, names = assemble(feats, cases, with_clin)
    vol = np.array([math.log1p(f["volume_iph_ml"]) for f in feats])
    bat = bat_values(feats, cases)
    folds = patient_folds([c.patient_id for c in cases], y, k, seed)
    oof = np.full(len(y), np.nan)
    oof_vol = np.full(len(y), np.nan)
    oof_bat = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1)
    for i, (tr, te) in enumerate(tqdm(folds, desc="cross-validation", disable=not progress)):
        clf = FusionClassifier(**clf_params).fit(X[tr], y[tr], names)
        oof[te] = clf.predict_proba(X[te])
        oof_vol[te] = _logistic_1d(vol[tr], y[tr]).predict_proba(vol[te].reshape(-1, 1))[:, 1]
        ok = np.isfinite(bat[tr])
        if ok.sum() > 5 and len(np.unique(y[tr][ok])) == 2 and np.isfinite(bat[te]).all():
            oof_bat[te] = _logistic_1d(bat[tr][ok], y[tr][ok]).predict_proba(bat[te].reshape(-1, 1))[:, 1]
        fold_of[te] = i
    return {"oof": oof, "oof_volume": oof_vol, "oof_bat": oof_bat, "bat": bat, "folds": fold_of,
            "with_clinical": with_clin, "feature_names": names}


def _has_clinical(c: Case) -> bool:
    from .expansion_model import clinical_features

    f = clinical_features(c.clinical)
    return all(k in f for k in ("onset_to_ct_h", "anticoagulation"))


# --- final model -----------------------------------------------------------------------------
DEFAULT_CLF = {"selection": "lasso", "k": 25, "model": "logistic", "C": 0.3, "calibration": "sigmoid"}


def fit_model(cases: list[Case], feats: list[dict[str, float]], y: np.ndarray, clf_params: dict[str, Any],
              definition: str, model_id: str, version: str, filters=("Original",), threshold: float | None = None,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from .classifier import FusionClassifier
    from .expansion_model import CLINICAL_FEATURES, MODEL_FORMAT

    variants = {}
    Xi, names_i = assemble(feats, cases, with_clinical=False)
    names_i = [n for n in names_i if n not in CLINICAL_FEATURES]
    Xi, names_i = assemble(feats, cases, with_clinical=False, names=names_i)
    variants["image_only"] = FusionClassifier(**clf_params).fit(Xi, y, names_i)
    if all(_has_clinical(c) for c in cases):
        Xf, names_f = assemble(feats, cases, with_clinical=True)
        variants["full"] = FusionClassifier(**clf_params).fit(Xf, y, names_f)
    vol = np.array([math.log1p(f["volume_iph_ml"]) for f in feats])
    lv = _logistic_1d(vol, y)
    bat = bat_values(feats, cases)
    ok = np.isfinite(bat)
    baselines = {"volume_only": {"feature": "log1p(volume_iph_ml)", "coef": float(lv.coef_[0, 0]), "intercept": float(lv.intercept_[0])}}
    if ok.sum() > 5 and len(np.unique(y[ok])) == 2:
        lb = _logistic_1d(bat[ok], y[ok])
        baselines["bat"] = {"feature": "BAT score", "coef": float(lb.coef_[0, 0]), "intercept": float(lb.intercept_[0])}
    if threshold is not None:
        for v in variants.values():
            v.threshold = float(threshold)
    return {
        "format": MODEL_FORMAT, "model_id": model_id, "version": version, "definition": definition,
        "radiomics_filters": list(filters),
        "variants": {k: v.to_dict() for k, v in variants.items()},
        "baselines": baselines,
        "training": {"n_cases": int(len(y)), "n_positive": int(np.sum(y)),
                     "trained": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **(extra or {})},
        "cnn": None,
    }


def write_model(model: dict[str, Any], models_dir: str | Path, metrics: dict[str, Any] | None = None,
                extra_files: list[Path] | None = None) -> Path:
    """Write ``expansion/<model_id>.json`` and add/replace its manifest entry (other entries kept)."""
    from .expansion_model import sha256_file

    mdir = Path(models_dir)
    (mdir / "expansion").mkdir(parents=True, exist_ok=True)
    rel = f"expansion/{model['model_id']}.json"
    path = mdir / rel
    path.write_text(json.dumps(model, indent=1))
    man_path = mdir / "manifest.json"
    manifest = {"models": {}}
    if man_path.exists():
        try:
            manifest = json.loads(man_path.read_text())
        except json.JSONDecodeError as exc:
            raise CohortError(f"existing manifest {man_path} is not valid JSON ({exc}); fix it before writing a model") from None
    manifest.setdefault("models", {})
    entry = {
        "file": rel, "sha256": sha256_file(path), "version": model["version"], "kind": "expansion",
        "definition": model["definition"], "trained": model["training"]["trained"],
        "training_data": model["training"].get("cohort", ""), "metrics": metrics or {},
    }
    if extra_files:
        entry["extra_files"] = [{"file": str(Path(f).relative_to(mdir)), "sha256": sha256_file(f)} for f in extra_files]
    manifest["models"][model["model_id"]] = entry
    tmp = man_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(man_path)
    return path
