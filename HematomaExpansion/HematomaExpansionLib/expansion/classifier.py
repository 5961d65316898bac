"""Fusion classifier: impute → scale → select (K-best | LASSO | sequential forward) → linear SVM or
logistic regression → calibrated probability. Saved as plain JSON parameters (no pickle).

Everything that prediction needs is a small set of arrays, so the fitted scikit-learn objects are
reduced to them and prediction is re-implemented with numpy (and tested to match scikit-learn):

    x  → median-impute (training medians) → z = (x − mean) / scale → z_sel = z[selected]
    f  = w · z_sel + b                       (linear SVM or logistic regression, both linear)
    p  = 1 / (1 + exp(−(A·f + B)))           (Platt / sigmoid calibration)   or
    p  = interp(f, iso_x, iso_y)             (isotonic calibration)

Calibration is fitted on out-of-fold decision values (selection and model refitted in each of
``calibration_folds`` stratified folds of the training data), then the selection and the model are
refitted on all training data. Contributions: ``A · w_i · z_i`` is feature i's signed share of the
log-odds relative to the training-set average case (exact for sigmoid calibration; for isotonic
calibration the Platt fit is kept for explanation only).

Risk bands (cut-offs on the calibrated probability; the literature's HE prevalence is ≈ 1/3):
  low < 0.15 ≤ intermediate < 0.40 ≤ high.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

FORMAT = "hematoma-expansion/fusion-classifier/1"
SELECTIONS = ("kbest", "lasso", "sfs", "none")
MODELS = ("svm", "logistic")
CALIBRATIONS = ("sigmoid", "isotonic")
RISK_BANDS = (("low", 0.0, 0.15), ("intermediate", 0.15, 0.40), ("high", 0.40, 1.0001))


def risk_band(p: float) -> str:
    for name, lo, hi in RISK_BANDS:
        if lo <= p < hi:
            return name
    return "high"


def _select(z: np.ndarray, y: np.ndarray, method: str, k: int, random_state: int) -> np.ndarray:
    n_feat = z.shape[1]
    k = max(1, min(k, n_feat))
    if method == "none":
        return np.arange(n_feat)
    from sklearn.feature_selection import f_classif

    with np.errstate(all="ignore"):
        f, _ = f_classif(z, y)
    f = np.nan_to_num(f, nan=0.0)
    order = np.argsort(-f, kind="stable")
    if method == "kbest":
        return np.sort(order[:k])
    if method == "lasso":
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LassoCV

        with warnings.catch_warnings():
            # the path's smallest alphas often stop short of the tolerance on collinear radiomics;
            # selection only uses the coefficients at the cross-validated alpha
            warnings.simplefilter("ignore", ConvergenceWarning)
            las = LassoCV(cv=5, random_state=random_state, alphas=40, max_iter=5000).fit(z, y.astype(float))
        coef = np.abs(las.coef_)
        nz = np.flatnonzero(coef > 1e-10)
        if len(nz) == 0:
            return np.sort(order[:k])
        if len(nz) > k:
            nz = nz[np.argsort(-coef[nz], kind="stable")[:k]]
        return np.sort(nz)
    if method == "sfs":
        from sklearn.feature_selection import SequentialFeatureSelector
        from sklearn.linear_model import LogisticRegression

        pre = order[: min(n_feat, max(2 * k, 12))]  # pre-filter by F-score for speed (documented)
        if k >= len(pre):
            return np.sort(pre)
        sfs = SequentialFeatureSelector(
            LogisticRegression(C=0.5, solver="liblinear", max_iter=500), n_features_to_select=k, direction="forward",
            scoring="roc_auc", cv=3,
        ).fit(z[:, pre], y)
        return np.sort(pre[sfs.get_support()])
    raise ValueError(f"unknown selection {method!r}; choose one of {', '.join(SELECTIONS)}")


def _fit_linear(z: np.ndarray, y: np.ndarray, model: str, C: float, random_state: int) -> tuple[np.ndarray, float]:
    if model == "svm":
        from sklearn.svm import SVC

        m = SVC(kernel="linear", C=C, class_weight="balanced", random_state=random_state).fit(z, y)
        return m.coef_.ravel().astype(float), float(m.intercept_[0])
    if model == "logistic":
        from sklearn.linear_model import LogisticRegression

        m = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(z, y)
        return m.coef_.ravel().astype(float), float(m.intercept_[0])
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")


def fit_standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training medians (missing values), mean and scale of ``X``, and ``X`` imputed and standardised."""
    med = np.nanmedian(X, axis=0)
    med = np.where(np.isfinite(med), med, 0.0)
    Xi = np.where(np.isfinite(X), X, med)
    mean = Xi.mean(0)
    scale = Xi.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    return med, mean, scale, (Xi - mean) / scale


def feature_matrix(feature_names: Sequence[str], x: dict[str, float] | np.ndarray) -> np.ndarray:
    """(n, n_features) from one case's feature dict (missing → NaN) or an array of rows."""
    if isinstance(x, dict):
        return np.array([[float(x.get(n, np.nan)) if x.get(n) is not None else np.nan for n in feature_names]])
    x = np.asarray(x, float)
    return x.reshape(1, -1) if x.ndim == 1 else x


def linear_decision(X: np.ndarray, med, mean, scale, sel, w, b) -> np.ndarray:
    """``w · z_sel + b`` on ``X`` imputed with the training medians and standardised."""
    Xi = np.where(np.isfinite(X), X, med)
    return ((Xi - mean) / scale)[:, sel] @ w + b


def platt_scaling(f: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, max_iter=5000).fit(f.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


@dataclass
class FusionClassifier:
    selection: str = "kbest"
    k: int = 20
    model: str = "svm"
    C: float = 0.1
    calibration: str = "sigmoid"
    calibration_folds: int = 5
    random_state: int = 0
    # fitted parameters
    feature_names: list[str] = field(default_factory=list)
    medians: np.ndarray | None = None
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    selected: np.ndarray | None = None
    coef: np.ndarray | None = None
    intercept: float = 0.0
    platt_a: float = 1.0
    platt_b: float = 0.0
    iso_x: np.ndarray | None = None
    iso_y: np.ndarray | None = None
    threshold: float = 0.5
    info: dict[str, Any] = field(default_factory=dict)

    # --- fitting ------------------------------------------------------------------------------
    def _check(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {self.selection!r}; choose one of {', '.join(SELECTIONS)}")
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"unknown calibration {self.calibration!r}; choose one of {', '.join(CALIBRATIONS)}")

    def _core_fit(self, X: np.ndarray, y: np.ndarray):
        med, mean, scale, z = fit_standardiser(X)
        sel = _select(z, y, self.selection, self.k, self.random_state)
        w, b = _fit_linear(z[:, sel], y, self.model, self.C, self.random_state)
        return med, mean, scale, sel, w, b

    def fit(self, X: np.ndarray, y: np.ndarray, feature_names: Sequence[str]) -> "FusionClassifier":
        from sklearn.model_selection import StratifiedKFold

        self._check()
        X = np.asarray(X, float)
        y = np.asarray(y).astype(int)
        if X.ndim != 2 or X.shape[0] != len(y) or X.shape[1] != len(feature_names):
            raise ValueError("X must be (n_cases, n_features) matching y and feature_names")
        if len(np.unique(y)) < 2:
            raise ValueError("training needs both expanding and non-expanding cases")
        self.feature_names = list(feature_names)
        n_min = int(min(np.bincount(y)))
        folds = max(2, min(self.calibration_folds, n_min))
        oof = np.zeros(len(y))
        skf = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        for tr, te in skf.split(X, y):
            params = self._core_fit(X[tr], y[tr])
            oof[te] = linear_decision(X[te], *params)
        self.platt_a, self.platt_b = platt_scaling(oof, y)
        if self.calibration == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(oof, y)
            self.iso_x = np.asarray(iso.X_thresholds_, float)
            self.iso_y = np.asarray(iso.y_thresholds_, float)
        self.medians, self.mean, self.scale, self.selected, self.coef, self.intercept = self._core_fit(X, y)
        self.info.update(n_train=int(len(y)), n_positive=int(y.sum()), calibration_folds=folds)
        return self

    # --- prediction ---------------------------------------------------------------------------
    def _vector(self, x: dict[str, float] | np.ndarray) -> np.ndarray:
        return feature_matrix(self.feature_names, x)

    def decision_function(self, X) -> np.ndarray:
        X = self._vector(X)
        return linear_decision(X, self.medians, self.mean, self.scale, self.selected, self.coef, self.intercept)

    def predict_proba(self, X) -> np.ndarray:
        f = self.decision_function(X)
        if self.calibration == "isotonic" and self.iso_x is not None:
            return np.clip(np.interp(f, self.iso_x, self.iso_y), 0.0, 1.0)
        return 1.0 / (1.0 + np.exp(-(self.platt_a * f + self.platt_b)))

    def contributions(self, x: dict[str, float] | np.ndarray) -> list[tuple[str, float, float]]:
        """(feature, value, signed log-odds contribution) for the selected features, largest |effect| first."""
        X = self._vector(x)[:1]
        Xi = np.where(np.isfinite(X), X, self.medians)
        z = ((Xi - self.mean) / self.scale)[0]
        out = []
        for j, w in zip(self.selected, self.coef):
            out.append((self.feature_names[j], float(Xi[0, j]), float(self.platt_a * w * z[j])))
        out.sort(key=lambda t: -abs(t[2]))
        return out

    @property
    def selected_names(self) -> list[str]:
        return [self.feature_names[j] for j in self.selected]

    def weighted_names(self) -> set[str]:
        """The features a prediction actually weighs (selected, with a non-zero coefficient)."""
        return {n for n, w in zip(self.selected_names, np.ravel(self.coef)) if w != 0.0}

    # --- persistence (JSON, no pickle) --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def arr(a):
            return None if a is None else [float(v) for v in np.asarray(a).ravel()]

        return {
            "format": FORMAT,
            "selection": self.selection, "k": self.k, "model": self.model, "C": self.C,
            "calibration": self.calibration, "calibration_folds": self.calibration_folds,
            "random_state": self.random_state,
            "feature_names": self.feature_names,
            "medians": arr(self.medians), "mean": arr(self.mean), "scale": arr(self.scale),
            "selected": [int(i) for i in self.selected] if self.selected is not None else None,
            "selected_names": self.selected_names if self.selected is not None else None,
            "coef": arr(self.coef), "intercept": float(self.intercept),
            "platt_a": float(self.platt_a), "platt_b": float(self.platt_b),
            "iso_x": arr(self.iso_x), "iso_y": arr(self.iso_y),
            "threshold": float(self.threshold),
            "risk_bands": [list(b) for b in RISK_BANDS],
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FusionClassifier":
        if d.get("format") != FORMAT:
            raise ValueError(f"not a fusion-classifier parameter set (format {d.get('format')!r}, expected {FORMAT})")

        def arr(v):
            return None if v is None else np.asarray(v, float)

        c = cls(selection=d["selection"], k=int(d["k"]), model=d["model"], C=float(d["C"]),
                calibration=d["calibration"], calibration_folds=int(d["calibration_folds"]),
                random_state=int(d["random_state"]))
        c.feature_names = list(d["feature_names"])
        c.medians, c.mean, c.scale = arr(d["medians"]), arr(d["mean"]), arr(d["scale"])
        c.selected = np.asarray(d["selected"], int)
        c.coef = arr(d["coef"])
        c.intercept = float(d["intercept"])
        c.platt_a, c.platt_b = float(d["platt_a"]), float(d["platt_b"])
        c.iso_x, c.iso_y = arr(d.get("iso_x")), arr(d.get("iso_y"))
        c.threshold = float(d.get("threshold", 0.5))
        c.info = dict(d.get("info", {}))
        n = len(c.feature_names)
        if any(a is None or len(a) != n for a in (c.medians, c.mean, c.scale)) or len(c.coef) != len(c.selected):
            raise ValueError("inconsistent classifier parameters (array lengths differ)")
        return c

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "FusionClassifier":
        return cls.from_dict(json.loads(Path(path).read_text()))


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Operating point maximising F1 on (out-of-fold) probabilities; reported with the model."""
    best, best_f1 = 0.5, -1.0
    for t in np.unique(np.round(p, 3)):
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        fp = float(np.sum(pred & (y == 0)))
        fn = float(np.sum(~pred & (y == 1)))
        f1 = 2 * tp / max(1e-9, 2 * tp + fp + fn)
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(t), f1
    return best if math.isfinite(best) else 0.5
